"""Temporal contrast on time series: windows close in time are positives, windows far away in the
same series and windows of other series are negatives (the "adjacent frames are similar, distant
frames are not" idea of time-contrastive learning, Sermanet et al. 2018, applied to series).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment.sequence import jitter, scaling
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.modules import projection_head


@dataclass
class TemporalContrastConfig:
    """Hyperparameters.

    Attributes:
        window: window length as a fraction of the series length.
        max_shift: largest offset of the positive window, as a fraction of the series length.
        temperature: InfoNCE temperature.
        jitter: std of additive noise per view.
        scaling: std of per-channel scaling per view.
        proj_dim: output width of the projection head.
        seed: seed of the view generator.
    """

    window: float = 0.6
    max_shift: float = 0.1
    temperature: float = 0.2
    jitter: float = 0.03
    scaling: float = 0.1
    proj_dim: int = 64
    seed: int = 0

    def validate(self) -> None:
        if not 0 < self.window <= 1:
            raise UserError(f"window must be in (0, 1], got {self.window}")
        if not 0 <= self.max_shift < 1:
            raise UserError(f"max_shift must be in [0, 1), got {self.max_shift}")
        if self.temperature <= 0:
            raise UserError("temperature must be > 0")


class TemporalContrast(nn.Module):
    """Anchor window, a nearby positive window and a distant negative window per series."""

    def __init__(self, encoder: nn.Module, cfg: TemporalContrastConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.head = projection_head("mlp", encoder.out_dim, encoder.out_dim, cfg.proj_dim)
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def _windows(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, c, t = x.shape
        w = max(2, int(round(self.cfg.window * t)))
        w = min(w, t)
        span = t - w
        g = self.gen
        a = torch.randint(0, span + 1, (b,), generator=g)
        shift = max(1, int(round(self.cfg.max_shift * t)))
        d = torch.randint(-shift, shift + 1, (b,), generator=g)
        p = (a + d).clamp(0, span)
        far = (a + span // 2 + torch.randint(0, max(1, span // 2 + 1), (b,), generator=g)) % (span + 1)
        ar = torch.arange(w)
        views = []
        for s in (a, p, far):
            idx = (s[:, None] + ar[None]).to(x.device)  # (B, W)
            v = x.gather(2, idx[:, None].expand(b, c, w))
            if self.cfg.scaling > 0:
                v = scaling(v, self.cfg.scaling, g)
            if self.cfg.jitter > 0:
                v = jitter(v, self.cfg.jitter, g)
            views.append(v)
        return views[0], views[1], views[2]

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = (batch[0] if isinstance(batch, (tuple, list)) else batch).float()  # (B, C, T)
        b = x.shape[0]
        with torch.no_grad():
            va, vp, vf = self._windows(x)
        h = self.head(self.encoder(torch.cat([va, vp, vf])))  # (3B, P): all windows in one call
        za, zp, zf = F.normalize(h, dim=1).split(b)
        # each anchor: its near window is the positive; other series' near windows and its own far window are negatives
        logits = torch.cat([za @ zp.t(), (za * zf).sum(1, keepdim=True)], dim=1) / self.cfg.temperature  # (B, B + 1)
        target = torch.arange(b, device=x.device)
        loss = F.cross_entropy(logits, target)
        return StepOutput(loss, {"loss": float(loss.detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Encoder features (B, D) of the whole series."""
        return self.encoder(x.float())


def build_temporal_contrast(cfg: TemporalContrastConfig, encoder: nn.Module, info: DataInfo, seed: int) -> TemporalContrast:
    cfg.seed = seed
    return TemporalContrast(encoder, cfg)


register_method(
    MethodSpec(
        name="temporal-contrast",
        family="temporal",
        modality="series",
        config_cls=TemporalContrastConfig,
        build=build_temporal_contrast,
        description="temporal contrast: near windows positive, far windows and other series negative",
    )
)
