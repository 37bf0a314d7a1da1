"""Temporal contrast on time series: windows close in time are positives, windows far away in the
same series and windows of other series are negatives (the "adjacent frames are similar, distant
frames are not" idea of time-contrastive learning, Sermanet et al. 2018, applied to series).

Unequal lengths (NaN-padded batches): each series' windows are drawn inside its own real steps, with
the window length and shifts as fractions of its own length; windows shorter than the batch's longest
are NaN-padded, which the encoder masks and its pooling skips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment.sequence import randint_per_sample
from selfsup.config import Checked, bounded
from selfsup.functional.padding import pad_beyond, split_padding, trim_padding
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.series_method import SeriesMethod, scale_then_jitter
from selfsup.modules import projection_head


@dataclass
class TemporalContrastConfig(Checked):
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

    window: float = bounded(0.6, gt=0, le=1)
    max_shift: float = bounded(0.1, ge=0, lt=1)
    temperature: float = bounded(0.2, gt=0)
    jitter: float = 0.03
    scaling: float = 0.1
    proj_dim: int = 64
    seed: int = 0


class TemporalContrast(SeriesMethod):
    """Anchor window, a nearby positive window and a distant negative window per series."""

    def __init__(self, encoder: nn.Module, cfg: TemporalContrastConfig) -> None:
        super().__init__(encoder, cfg)
        self.head = projection_head("mlp", encoder.out_dim, encoder.out_dim, cfg.proj_dim)

    def _windows(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, lengths = split_padding(trim_padding(x))
        if lengths is not None:
            return self._ragged_windows(x, lengths)
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
            v = scale_then_jitter(v, self.cfg.scaling, self.cfg.jitter, g)
            views.append(v)
        return views[0], views[1], views[2]

    def _ragged_windows(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Windows of NaN-padded series (padding zeroed in ``x``, real lengths (B,)): each series' windows
        lie in its real steps; (B, C, W) NaN-padded past each window's length, W the longest window."""
        b, c, t = x.shape
        lengths = lengths.cpu()
        w = torch.round(self.cfg.window * lengths.double()).long().clamp_min(2).minimum(lengths)  # (B,)
        span = lengths - w
        g = self.gen
        a = randint_per_sample(span, g)
        shift = torch.round(self.cfg.max_shift * lengths.double()).long().clamp_min(1)
        d = randint_per_sample(2 * shift, g) - shift
        p = torch.minimum((a + d).clamp_min(0), span)
        far = (a + span // 2 + randint_per_sample((span // 2 + 1).clamp_min(1) - 1, g)) % (span + 1)
        width = int(w.max())
        ar = torch.arange(width)
        views = []
        for s in (a, p, far):
            idx = (s[:, None] + ar[None]).clamp_max(t - 1).to(x.device)  # (B, W)
            v = pad_beyond(x.gather(2, idx[:, None].expand(b, c, width)), w)  # NaN past each window
            v = scale_then_jitter(v, self.cfg.scaling, self.cfg.jitter, g)
            views.append(v)
        return views[0], views[1], views[2]

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = batch_inputs(batch).float()  # (B, C, T)
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


register_method(
    MethodSpec(
        name="temporal-contrast",
        family="temporal",
        modality="series",
        config_cls=TemporalContrastConfig,
        build=TemporalContrast.build,
        description="temporal contrast: near windows positive, far windows and other series negative",
    )
)
