"""Split-brain autoencoders / cross-channel prediction (Zhang, Isola & Efros, 2017).

The input's channels (or halves) are split in two parts A and B (encoders/split.py); one
sub-network sees A and predicts B, the other sees B and predicts A. As in the paper the
prediction is classification over quantised bins (default; cross-entropy per target
position) or regression (mean squared error), at 1/``target_stride`` of the input's
resolution. The representation is the concatenation of both sub-networks' features.

Targets are in the split encoder's "units" in [0, 1] (Lab scaled, raw gray/channel values,
or clipped per-series z-scores): every channel is cut into ``bins`` equal bins, except the
ab part of "lab", quantised jointly on an ``ab_bins x ab_bins`` grid (22 x 22 = bins of
width 10 in ab units, the paper's grid, without its restriction to the in-gamut bins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.config import Checked, bounded
from selfsup.encoders.split import SplitEncoder, parse_split
from selfsup.functional.color import quantize_joint, quantize_uniform
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.modules.decoders import build_decoder


@dataclass
class SplitBrainConfig(Checked):
    """Split-brain hyperparameters.

    Attributes:
        split: "lab" (RGB: L <-> ab), "halves" (left <-> right half of the last axis) or
            "channels:0,1,2/3,4,5" (channel groups, e.g. accelerometer <-> gyroscope).
        target: "classification" over quantised bins (the paper's choice) or "regression".
        bins: bins per target channel (classification).
        ab_bins: bins per ab axis of the "lab" split (joint grid of ab_bins^2 classes).
        target_stride: targets are average-pooled by this factor before quantisation.
        decoder_width: width of the decoders that predict the other part.
        channels_last: run conv encoders in channels_last memory format.
    """

    split: str = "halves"
    target: Literal["classification", "regression"] = "classification"
    bins: int = bounded(16, ge=2)
    ab_bins: int = bounded(22, ge=2)
    target_stride: int = bounded(2, ge=1)
    decoder_width: int = bounded(32, ge=1)
    channels_last: bool = True


def pool_targets(u: Tensor, stride: int) -> Tensor:
    """Average-pool (B, C, H, W) or (B, C, T) by ``stride`` (partial windows kept).

    NaN-padded series: the mean of each window's real steps, NaN for a window of padding only.
    """
    if stride == 1:
        return u
    if u.dim() == 4:
        return F.avg_pool2d(u, stride, stride, ceil_mode=True)
    if bool(torch.isnan(u).any()):
        real = (~torch.isnan(u)).to(u.dtype)
        total = F.avg_pool1d(u.nan_to_num(0.0), stride, stride, ceil_mode=True)
        count = F.avg_pool1d(real, stride, stride, ceil_mode=True)
        return torch.where(count > 0, total / count.clamp_min(1e-12), torch.full_like(total, float("nan")))
    return F.avg_pool1d(u, stride, stride, ceil_mode=True)


class SplitBrain(nn.Module):
    """Two sub-networks predicting each other's part.

    Args:
        encoder: a :class:`SplitEncoder` (the kept representation).
        info: input shape and normalisation.
        cfg: hyperparameters.
    """

    def __init__(self, encoder: SplitEncoder, info: DataInfo, cfg: SplitBrainConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.spec = encoder.spec
        shape = tuple(info.input_shape)
        c = shape[0]
        view = (1, -1) + (1,) * (len(shape) - 1)
        self.register_buffer("mean", torch.tensor(info.mean, dtype=torch.float32).expand(c).reshape(view).clone(),
                             persistent=False)
        self.register_buffer("std", torch.tensor(info.std, dtype=torch.float32).expand(c).reshape(view).clone(),
                             persistent=False)
        with torch.no_grad():
            probe = torch.zeros((1, *shape))
            self.target_shapes = [tuple(self.part_target(probe, p).shape[1:]) for p in (0, 1)]
        self.classes = [self.num_classes(p) for p in (0, 1)]
        # decoders[p] reads part p's features and predicts the targets of the other part q = 1 - p
        decs = []
        for p in (0, 1):
            q = 1 - p
            n_q, *spatial = self.target_shapes[q]
            n_idx = 1 if self.joint_ab(q) else n_q  # the joint ab grid is one index per position
            out_ch = n_q if cfg.target == "regression" else self.classes[q] * n_idx
            decs.append(build_decoder(encoder.part_dims[p], (out_ch, *spatial), cfg.decoder_width))
        self.decoders = nn.ModuleList(decs)

    def joint_ab(self, part: int) -> bool:
        return self.spec.kind == "lab" and part == 1 and self.cfg.target == "classification"

    def num_classes(self, part: int) -> int:
        return self.cfg.ab_bins**2 if self.joint_ab(part) else self.cfg.bins

    def part_target(self, u: Tensor, part: int) -> Tensor:
        """Pooled units of ``part`` (B, n, h, w) / (B, n, t)."""
        return pool_targets(self.spec.take(u, part), self.cfg.target_stride)

    def quantize(self, t: Tensor, part: int) -> Tensor:
        """(B, n, ...) units in [0, 1] -> (B, n', ...) class indices (n' = 1 for the joint ab grid)."""
        if self.joint_ab(part):
            return quantize_joint(t, self.cfg.ab_bins)
        return quantize_uniform(t, self.cfg.bins)

    def normalize(self, x: Tensor) -> Tensor:
        """uint8 images -> (x / 255 - mean) / std (what the evaluation featurizer feeds); floats as given."""
        if x.dtype != torch.uint8:
            return x.float()
        x = (x.float() / 255.0 - self.mean) / self.std
        if self.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = self.normalize(batch[0] if isinstance(batch, (tuple, list)) else batch)  # (B, C, ...)
        u, feats = self.encoder.forward_parts(x)  # units (B, C, ...), [(B, D_a), (B, D_b)]
        losses = []
        for p in (0, 1):
            q = 1 - p
            target = self.part_target(u.detach(), q)  # (B, n_q, ...); NaN at the padding of unequal-length series
            out = self.decoders[p](feats[p]).float()  # (B, K_q * n_q', ...) or (B, n_q, ...)
            # NaN-padded series: padded targets are no data and stay out of the loss (images have none)
            pad = torch.isnan(target) if target.dim() == 3 and bool(torch.isnan(target).any()) else None
            if self.cfg.target == "regression":
                losses.append(F.mse_loss(out, target) if pad is None else F.mse_loss(out[~pad], target[~pad]))
            else:
                idx = self.quantize(target if pad is None else target.nan_to_num(0.0), q)  # (B, n_q', ...)
                if pad is not None:
                    idx = idx.masked_fill(pad, -100)  # cross_entropy's ignore_index
                logits = out.reshape(len(out), self.classes[q], *idx.shape[1:])  # (B, K_q, n_q', ...)
                losses.append(F.cross_entropy(logits, idx, ignore_index=-100))
        loss = 0.5 * (losses[0] + losses[1])
        return StepOutput(loss, {"loss": float(loss.detach()), "loss_a_to_b": float(losses[0].detach()),
                                 "loss_b_to_a": float(losses[1].detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """Split-brain keeps no state between steps."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Concatenated features (B, D_a + D_b) of raw inputs."""
        return self.encoder(self.normalize(x))


def build_split_brain(cfg: SplitBrainConfig, encoder: nn.Module, info: DataInfo, *, aug: object = None,
                      seed: int = 0) -> SplitBrain:
    """Wrap ``encoder`` (part A's network; a re-initialised copy becomes part B's) in a
    :class:`SplitEncoder`; ``aug`` and ``seed`` are unused (no augmented views, no sampling)."""
    parse_split(cfg.split, tuple(info.input_shape))  # a clear error before anything is built
    split_enc = SplitEncoder(encoder, cfg.split, tuple(info.input_shape), info.mean, info.std,
                             base_name=getattr(encoder, "registry_name", None))
    return SplitBrain(split_enc, info, cfg)


register_method(
    MethodSpec(
        name="split-brain",
        family="context",
        modality="image", also_modalities=("series",),
        config_cls=SplitBrainConfig,
        build=build_split_brain,
        description="split-brain autoencoder: two halves of a network predict each other's channels "
        "(Zhang et al. 2017); --set split=lab|halves|channels:0,1,2/3,4,5",
        presets={"lab": {"split": "lab"}, "halves": {"split": "halves"}, "regression": {"target": "regression"}},
    )
)
