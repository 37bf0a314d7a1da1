"""MAE (He et al. 2022): masked autoencoders with token dropping.

Each image (one random-resized-crop + flip view) loses ``mask_ratio`` of its patch tokens, drawn
per sample; the ViT encoder runs on the visible tokens only (``keep``); a light decoder
(:class:`selfsup.encoders.vit.TokenPredictor`: the visible tokens plus a mask token at each masked
position, its own positional embedding, a few narrow blocks) predicts the masked patches' pixels;
the loss is the mean squared error on the masked patches only, against per-patch normalised pixels
(``norm_pix_loss``). The representation is the encoder's pooled features of the whole image; the
decoder is discarded. (``masked-ae`` is the CNN variant that zeroes patches instead of dropping them.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, MultiView
from selfsup.augment.token_masks import random_token_mask
from selfsup.config import Checked, bounded
from selfsup.encoders.vit import TokenPredictor
from selfsup.errors import UserError
from selfsup.functional.masked_image import masked_patch_mse, normalize_patches, patchify
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.two_view import image_views
from selfsup.modules.rng import DeviceGenerator


@dataclass
class MAEConfig(Checked):
    """MAE hyperparameters.

    Attributes:
        mask_ratio: fraction of the patch tokens of each image dropped (and reconstructed).
        norm_pix_loss: targets are each patch's pixels normalised by the patch's mean and std.
        decoder_dim: the decoder's width. The paper's decoder (512-d, 8 blocks for ViT-L's 1024-d, 24
            blocks) is half the encoder's width and a third of its depth; the defaults keep those
            ratios for ViT-Tiny (96-d, 4 blocks, 32-d heads).
        decoder_depth: the decoder's blocks.
        decoder_heads: the decoder's attention heads.
    """

    mask_ratio: float = bounded(0.75, gt=0, lt=1)
    norm_pix_loss: bool = True
    decoder_dim: int = bounded(96, ge=1)
    decoder_depth: int = bounded(4, ge=1)
    decoder_heads: int = bounded(3, ge=1)


def require_vit(encoder: nn.Module, method: str) -> None:
    """A UserError unless ``encoder`` can drop tokens (a ViT's ``forward_tokens`` / ``keep``)."""
    if not hasattr(encoder, "forward_tokens") or not hasattr(encoder, "num_patches"):
        name = getattr(encoder, "registry_name", type(encoder).__name__)
        raise UserError(f"{method} drops patch tokens, which needs a ViT encoder; got '{name}'",
                        hint="use --encoder vit-tiny or vit-small (the default of this method)")


class MAE(nn.Module):
    """ViT encoder on the visible tokens + token decoder + masked-patch MSE.

    Args:
        encoder: a ViT (:class:`selfsup.encoders.vit.ViT`).
        views: one view pipeline (crop + flip, normalised).
        cfg: the config (validated here).
        in_channels: channels of the images (the decoder predicts ``patch * patch * C`` values per token).
        seed: seed of the masks.
    """

    def __init__(self, encoder: nn.Module, views: MultiView, cfg: MAEConfig, in_channels: int, seed: int = 0) -> None:
        super().__init__()
        cfg.validate()
        require_vit(encoder, "mae")
        self.cfg, self.encoder, self.views = cfg, encoder, views
        self.decoder = TokenPredictor(encoder.out_dim, cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_heads,
                                      encoder.num_patches, encoder.patch * encoder.patch * in_channels)
        self.masks = DeviceGenerator(seed + 1)  # carried by checkpoints

    @classmethod
    def build(cls, cfg: MAEConfig, encoder: nn.Module, info: DataInfo, *, aug: ImageAugConfig | None = None,
              seed: int = 0) -> MAE:
        """The :class:`MethodSpec` ``build``: one view pipeline of ``aug`` seeded ``seed``."""
        return cls(encoder, image_views(info, aug, seed, n=1), cfg, info.input_shape[0], seed)

    def loss_with_masks(self, x: Tensor, keep: Tensor, masked: Tensor) -> Tensor:
        """The loss of normalised images (B, C, H, W) with (B, K) visible and (B, M) masked token indices."""
        h = self.encoder.forward_tokens(x, keep)[:, 1:]  # (B, K, D): the visible tokens' states
        pred = self.decoder(h, keep, masked)  # (B, M, p*p*C)
        target = patchify(x, self.encoder.patch)  # (B, N, p*p*C)
        if self.cfg.norm_pix_loss:
            target = normalize_patches(target)
        return masked_patch_mse(pred, target, masked)

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = batch_inputs(batch)  # (B, C, H, W) uint8
        with torch.no_grad():
            (v,) = self.views(x)  # (B, C, S, S)
            n = self.encoder.grid_of(v)
            keep, masked = random_token_mask(v.shape[0], n[0] * n[1], self.cfg.mask_ratio,
                                             self.masks.get(v.device))
        loss = self.loss_with_masks(v, keep, masked)
        return StepOutput(loss, {"loss": float(loss.detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """MAE keeps no state between steps."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Encoder features (B, D) of raw (uint8) images, every token visible, without augmentation."""
        return self.encoder(self.views.pipelines[0].plain(x))


register_method(
    MethodSpec(
        name="mae",
        family="context",
        modality="image",
        config_cls=MAEConfig,
        build=MAE.build,
        description="MAE: ViT on 25% of the patch tokens, light decoder rebuilds the dropped patches (He et al. 2022)",
        presets={"paper": {
            # the paper's recipe where it fits a ViT-Tiny on 28-32 px images: 75% masking, normalised-pixel
            # targets, AdamW (0.9, 0.95), weight decay 0.05, base lr 1.5e-4 for batch 256 (lr = 1.5e-4 * B / 256:
            # scale it with --set lr=... for another batch), crop (0.2, 1) + flip only
            "mask_ratio": 0.75, "norm_pix_loss": True,
            "optim.optimizer": "adamw", "optim.lr": 1.5e-4, "optim.beta2": 0.95, "optim.weight_decay": 0.05,
            "augment.crop_scale_min": 0.2, "augment.jitter_p": 0.0, "augment.gray_p": 0.0,
        }},
        aug_defaults={"crop_scale_min": 0.2, "jitter_p": 0.0, "gray_p": 0.0, "blur_p": 0.0, "solarize_p": 0.0},
        optim_defaults={"optimizer": "adamw", "lr": 1e-3, "beta2": 0.95, "weight_decay": 0.05},
        default_encoder="vit-tiny",
        encoder_options={"pool": "mean"},
    )
)
