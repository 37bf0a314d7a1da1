"""I-JEPA (Assran et al. 2023): predict the representations of image blocks from a context block.

Per image (one random-resized-crop view), :func:`selfsup.augment.token_masks.block_masks` draws M
target blocks and one large context block with the targets removed from it. The context encoder
(the ViT that is kept) runs on the context tokens only; a narrow predictor
(:class:`selfsup.encoders.vit.TokenPredictor`) takes them with a mask token at each position of one
target block and predicts that block's representations. The targets come from the target encoder,
an EMA copy of the context encoder (no gradient, not optimised) run on the whole image, its token
states layer-normed. Loss: smooth-L1 (the authors' code; ``loss=mse`` the paper's L2) between
predictions and targets, averaged over the M blocks.

The EMA momentum is a per-step function of the training progress ``t`` (the engine hands it over
before each step, ``on_train_progress``): linear from ``momentum`` at t = 0 to ``momentum_end`` at
t = 1, as in the paper. The EMA step itself is :func:`selfsup.modules.ema.ema_update`, called after
the optimizer step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, MultiView
from selfsup.augment.token_masks import BlockMasks, block_masks
from selfsup.config import Checked, bounded
from selfsup.encoders.vit import TokenPredictor, gather_tokens
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.mae import require_vit
from selfsup.methods.two_view import image_views
from selfsup.modules.ema import ema_update, momentum_copy
from selfsup.modules.rng import DeviceGenerator
from selfsup.modules.schedules import linear_warmup


@dataclass
class IJEPAConfig(Checked):
    """I-JEPA hyperparameters.

    Attributes:
        momentum: EMA momentum of the target encoder at the start of training.
        momentum_end: ... at the end (linear in between).
        predictor_dim: the predictor's width (the paper: 384 for ViT-H's 1280, about 0.3 of it; 96 here
            is half of ViT-Tiny's 192, as narrower predictors were no better in the paper's ablation).
        predictor_depth: the predictor's blocks (the paper: 12 for ViT-H/14, 6 for smaller models).
        predictor_heads: the predictor's attention heads.
        n_targets: M target blocks per image.
        target_scale_min: smallest area of a target block, as a fraction of the image.
        target_scale_max: largest.
        target_aspect_min: smallest rows / cols of a target block.
        target_aspect_max: largest.
        context_scale_min: smallest area of the context block (before the targets are removed).
        context_scale_max: largest.
        loss: "smooth_l1" (the authors' code) or "mse" (the paper's L2).
    """

    momentum: float = bounded(0.996, ge=0, le=1)
    momentum_end: float = bounded(1.0, ge=0, le=1)
    predictor_dim: int = bounded(96, ge=1)
    predictor_depth: int = bounded(4, ge=1)
    predictor_heads: int = bounded(3, ge=1)
    n_targets: int = bounded(4, ge=1)
    target_scale_min: float = bounded(0.15, gt=0, le=1)
    target_scale_max: float = bounded(0.2, gt=0, le=1)
    target_aspect_min: float = bounded(0.75, gt=0)
    target_aspect_max: float = bounded(1.5, gt=0)
    context_scale_min: float = bounded(0.85, gt=0, le=1)
    context_scale_max: float = bounded(1.0, gt=0, le=1)
    loss: Literal["smooth_l1", "mse"] = "smooth_l1"

    def validate(self) -> None:
        super().validate()
        for low in ("target_scale_min", "target_aspect_min", "context_scale_min"):
            high = low.replace("_min", "_max")
            if getattr(self, low) > getattr(self, high):
                raise UserError(f"need {low} <= {high}, got {getattr(self, low)}, {getattr(self, high)}")


class IJEPA(nn.Module):
    """Context encoder + predictor + EMA target encoder.

    Args:
        encoder: a ViT (the context encoder; the one kept and evaluated).
        views: one view pipeline (crop, normalised).
        cfg: the config (validated here).
        seed: seed of the block masks.
    """

    def __init__(self, encoder: nn.Module, views: MultiView, cfg: IJEPAConfig, seed: int = 0) -> None:
        super().__init__()
        cfg.validate()
        require_vit(encoder, "ijepa")
        self.cfg, self.encoder, self.views = cfg, encoder, views
        d = encoder.out_dim
        self.predictor = TokenPredictor(d, cfg.predictor_dim, cfg.predictor_depth, cfg.predictor_heads,
                                        encoder.num_patches, d)
        self.target_encoder = momentum_copy(encoder)
        self.masks = DeviceGenerator(seed + 1)  # carried by checkpoints
        self.progress = 0.0  # fraction of training done, set by on_train_progress before each step

    @classmethod
    def build(cls, cfg: IJEPAConfig, encoder: nn.Module, info: DataInfo, *, aug: ImageAugConfig | None = None,
              seed: int = 0) -> IJEPA:
        """The :class:`MethodSpec` ``build``: one view pipeline of ``aug`` seeded ``seed``."""
        return cls(encoder, image_views(info, aug, seed, n=1), cfg, seed)

    def draw_masks(self, x: Tensor) -> BlockMasks:
        """The block masks of a batch of images (B, C, H, W) on the encoder's patch grid."""
        c = self.cfg
        return block_masks(x.shape[0], self.encoder.grid_of(x), self.masks.get(x.device), n_targets=c.n_targets,
                           target_scale=(c.target_scale_min, c.target_scale_max),
                           target_aspect=(c.target_aspect_min, c.target_aspect_max),
                           context_scale=(c.context_scale_min, c.context_scale_max))

    def loss_with_masks(self, x: Tensor, masks: BlockMasks) -> Tensor:
        """The loss of normalised images (B, C, H, W) with their block masks."""
        b, m, kt = masks.targets.shape
        with torch.no_grad():
            h = self.target_encoder.forward_tokens(x)[:, 1:]  # (B, N, D)
            h = F.layer_norm(h, h.shape[-1:])
            target = gather_tokens(h, masks.targets.flatten(1)).view(b * m, kt, -1)  # (B*M, Kt, D)
        z = self.encoder.forward_tokens(x, masks.context)[:, 1:]  # (B, Kc, D)
        pred = self.predictor(z.repeat_interleave(m, dim=0), masks.context.repeat_interleave(m, dim=0),
                              masks.targets.flatten(0, 1))  # (B*M, Kt, D)
        if self.cfg.loss == "mse":
            return F.mse_loss(pred.float(), target.float())
        return F.smooth_l1_loss(pred.float(), target.float())

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = batch_inputs(batch)  # (B, C, H, W) uint8
        with torch.no_grad():
            (v,) = self.views(x)  # (B, C, S, S)
            masks = self.draw_masks(v)
        loss = self.loss_with_masks(v, masks)
        return StepOutput(loss, {"loss": float(loss.detach()), "momentum": self.target_momentum(),
                                 "context_tokens": float(masks.context.shape[1])})

    # -- per-step schedule and the EMA step ------------------------------------------
    def on_train_progress(self, progress: float) -> None:
        """Called by the engine before each step with the fraction of training done."""
        self.progress = float(progress)

    def target_momentum(self) -> float:
        """Linear from ``momentum`` (t = 0) to ``momentum_end`` (t = 1)."""
        return linear_warmup(self.cfg.momentum, self.cfg.momentum_end, self.progress, 1.0)

    @torch.no_grad()
    def on_after_optimizer_step(self, step: int) -> None:
        ema_update(self.target_encoder, self.encoder, self.target_momentum())

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Context-encoder features (B, D) of raw (uint8) images, every token visible, without augmentation."""
        return self.encoder(self.views.pipelines[0].plain(x))


register_method(
    MethodSpec(
        name="ijepa",
        family="context",
        modality="image",
        config_cls=IJEPAConfig,
        build=IJEPA.build,
        description="I-JEPA: predict EMA-target representations of image blocks from a context block "
                    "(Assran et al. 2023)",
        presets={"paper": {
            # the ViT recipe of the paper where it fits a ViT-Tiny on 28-32 px images: 4 targets of 15-20% area,
            # aspect 0.75-1.5, context 85-100%, EMA 0.996 -> 1 linear, AdamW (0.9, 0.95), weight decay 0.04 -> 0.4,
            # lr 1e-3 for batch 2048 scaled linearly to batch 256 (1.25e-4), warm-up 15 of 300 epochs (5%)
            "n_targets": 4, "target_scale_min": 0.15, "target_scale_max": 0.2, "target_aspect_min": 0.75,
            "target_aspect_max": 1.5, "context_scale_min": 0.85, "context_scale_max": 1.0, "momentum": 0.996,
            "momentum_end": 1.0, "loss": "smooth_l1",
            "optim.optimizer": "adamw", "optim.lr": 1.25e-4, "optim.beta2": 0.95, "optim.weight_decay": 0.04,
            "optim.weight_decay_end": 0.4, "augment.crop_scale_min": 0.3,
        }},
        aug_defaults={"crop_scale_min": 0.3, "flip_p": 0.0, "jitter_p": 0.0, "gray_p": 0.0, "blur_p": 0.0,
                      "solarize_p": 0.0},
        optim_defaults={"optimizer": "adamw", "lr": 1e-3, "beta2": 0.95, "weight_decay": 0.04,
                        "weight_decay_end": 0.4},
        default_encoder="vit-tiny",
        encoder_options={"pool": "mean"},
    )
)
