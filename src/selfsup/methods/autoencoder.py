"""Autoencoders: the encoder's features must let a decoder rebuild the input.

* ``autoencoder``: reconstruct the input from its code (Hinton & Salakhutdinov, 2006);
* ``denoising-ae``: reconstruct the clean input from a corrupted one, by random masking of
  input positions or additive Gaussian noise (Vincent et al., 2008);
* ``masked-ae``: MAE-style patch masking for small images (He et al., 2022; with a CNN the
  masked patches are zeroed rather than dropped, as in SimMIM): reconstruct the masked
  patches, the loss taken on them only.

The loss is the mean squared error in normalised input units. The representation is the
encoder's feature vector; the decoder (modules/decoders.py) is discarded after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from selfsup.augment.masking import gaussian_noise, patch_mask, pixel_mask
from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.modules.decoders import build_decoder


@dataclass
class AutoencoderConfig(Checked):
    """Plain autoencoder.

    Attributes:
        decoder_width: channels of the decoder's last hidden layer (MLP decoders: 16x this).
        channels_last: run conv encoders in channels_last memory format.
    """

    decoder_width: int = bounded(32, ge=1)
    channels_last: bool = True


@dataclass
class DenoisingAEConfig(Checked):
    """Denoising autoencoder.

    Attributes:
        noise: "mask" (zero each input position with probability ``mask_p``) or "gaussian"
            (add N(0, noise_std^2) in normalised units).
        mask_p: masking probability of "mask".
        noise_std: standard deviation of "gaussian".
        decoder_width: see :class:`AutoencoderConfig`.
        channels_last: see :class:`AutoencoderConfig`.
    """

    noise: Literal["mask", "gaussian"] = "mask"
    mask_p: float = bounded(0.5, ge=0, lt=1)
    noise_std: float = bounded(0.5, ge=0)
    decoder_width: int = bounded(32, ge=1)
    channels_last: bool = True


@dataclass
class MaskedAEConfig(Checked):
    """Masked autoencoder for small images.

    Attributes:
        patch_size: side of the square patches (in pixels).
        mask_ratio: fraction of patches masked in each image.
        loss_on: "masked" (MAE: the loss on masked patches only) or "all" pixels.
        decoder_width: see :class:`AutoencoderConfig`.
        channels_last: see :class:`AutoencoderConfig`.
    """

    patch_size: int = bounded(4, ge=1)
    mask_ratio: float = bounded(0.6, gt=0, lt=1)
    loss_on: Literal["masked", "all"] = "masked"
    decoder_width: int = bounded(32, ge=1)
    channels_last: bool = True


class Autoencoder(nn.Module):
    """Encoder + decoder + an optional input corruption.

    Args:
        encoder: backbone with ``out_dim``.
        info: input shape and the normalisation of uint8 images.
        cfg: one of the three configs above (its type selects the corruption).
        seed: seed of the corruption generator.
    """

    def __init__(self, encoder: nn.Module, info: DataInfo, cfg: Any, seed: int = 0) -> None:
        super().__init__()
        cfg.validate()
        if isinstance(cfg, MaskedAEConfig) and len(info.input_shape) != 3:
            raise UserError(f"masked-ae masks image patches; the data has shape {tuple(info.input_shape)}",
                            hint="use denoising-ae (random position masking) for vectors and series")
        self.cfg = cfg
        self.encoder = encoder
        self.decoder = build_decoder(encoder.out_dim, tuple(info.input_shape), cfg.decoder_width)
        c = info.input_shape[0] if len(info.input_shape) == 3 else 1
        shape = (1, -1, 1, 1) if len(info.input_shape) == 3 else (1, -1)
        self.register_buffer("mean", torch.tensor(info.mean, dtype=torch.float32).expand(c).reshape(shape).clone(),
                             persistent=False)
        self.register_buffer("std", torch.tensor(info.std, dtype=torch.float32).expand(c).reshape(shape).clone(),
                             persistent=False)
        self.seed = seed
        self._gen: torch.Generator | None = None

    def generator(self, device: torch.device) -> torch.Generator:
        if self._gen is None or self._gen.device != device:
            self._gen = torch.Generator(device=device)
            self._gen.manual_seed(self.seed)
        return self._gen

    def normalize(self, x: Tensor) -> Tensor:
        """uint8 images -> (x / 255 - mean) / std (what the evaluation featurizer feeds); floats as given."""
        if x.dtype != torch.uint8:
            return x.float()
        return (x.float() / 255.0 - self.mean) / self.std

    def _features(self, x: Tensor) -> Tensor:
        if self.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder(x)

    def corrupt(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(corrupted input, weights of the loss per position or None for a plain mean)."""
        cfg = self.cfg
        if isinstance(cfg, MaskedAEConfig):
            xm, mask = patch_mask(x, cfg.patch_size, cfg.mask_ratio, self.generator(x.device))
            return xm, (mask if cfg.loss_on == "masked" else None)
        if isinstance(cfg, DenoisingAEConfig):
            gen = self.generator(x.device)
            if cfg.noise == "gaussian":
                return gaussian_noise(x, cfg.noise_std, gen), None
            return pixel_mask(x, cfg.mask_p, gen)[0], None
        return x, None

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = self.normalize(batch[0] if isinstance(batch, (tuple, list)) else batch)  # (B, ...)
        with torch.no_grad():
            x_in, weight = self.corrupt(x)
        recon = self.decoder(self._features(x_in)).float()  # (B, ...) like x
        err = (recon - x) ** 2
        if weight is None:
            loss = err.mean()
        else:  # mean over the masked positions (all channels)
            w = weight.expand_as(err)
            loss = (err * w).sum() / w.sum().clamp_min(1.0)
        return StepOutput(loss, {"loss": float(loss.detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """Autoencoders keep no state between steps."""

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decoder output for (uncorrupted) inputs, in normalised units."""
        return self.decoder(self._features(self.normalize(x)))

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Encoder features (B, D) of raw inputs."""
        return self._features(self.normalize(x))


def build_autoencoder(cfg: Any, encoder: nn.Module, info: DataInfo, *, aug: Any = None, seed: int = 0) -> Autoencoder:
    return Autoencoder(encoder, info, cfg, seed)


_DOC = "the encoder's features are the representation"
for _name, _cfg, _desc, _presets in (
    ("autoencoder", AutoencoderConfig, f"autoencoder: encoder + conv/MLP decoder, MSE reconstruction; {_DOC}", {}),
    ("denoising-ae", DenoisingAEConfig,
     "denoising autoencoder: reconstruct clean inputs from masked or noisy ones (Vincent et al. 2008)",
     {"gaussian": {"noise": "gaussian"}, "mask": {"noise": "mask"}}),
    ("masked-ae", MaskedAEConfig, "masked autoencoder: zero random patches, reconstruct them (He et al. 2022)",
     {"paper": {"mask_ratio": 0.75}}),
):
    register_method(MethodSpec(name=_name, family="context", modality="image", config_cls=_cfg,
                               build=build_autoencoder, description=_desc, presets=_presets))
