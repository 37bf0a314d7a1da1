"""Batched, seeded augmentations for time series (B, C, T) float tensors.

Every function takes a ``torch.Generator`` so the same seed gives the same output, and draws
independent parameters per sample.

Unequal lengths: series padded with NaN (``selfsup.functional.padding``) keep their padding through
``jitter`` and ``scaling`` (NaN stays NaN, real steps never mix with padded ones); ``time_mask``,
``random_crop`` and ``permute_segments`` take the series' ``lengths`` (B,) and stay within them.
"""

from __future__ import annotations

import torch
from torch import Tensor


def jitter(x: Tensor, sigma: float, gen: torch.Generator) -> Tensor:
    """Add N(0, sigma^2) noise (NaN padding stays NaN)."""
    return x + sigma * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def scaling(x: Tensor, sigma: float, gen: torch.Generator) -> Tensor:
    """Multiply each (sample, channel) by a factor ~ N(1, sigma^2) (NaN padding stays NaN)."""
    f = 1 + sigma * torch.randn(x.shape[0], x.shape[1], 1, generator=gen, device=x.device, dtype=x.dtype)
    return x * f


def randint_per_sample(high: Tensor, gen: torch.Generator) -> Tensor:
    """(B,) integers, each uniform in [0, high[b]] (high >= 0)."""
    u = torch.rand(high.shape, generator=gen, device=high.device, dtype=torch.float64)
    return torch.minimum((u * (high + 1).to(u.dtype)).long(), high.long())


def crop_at(x: Tensor, starts: Tensor, length: int) -> Tensor:
    """(B, C, T) -> (B, C, length): the window of each sample that begins at ``starts[b]``."""
    b, c, _ = x.shape
    idx = starts.to(x.device).long()[:, None] + torch.arange(length, device=x.device)[None]  # (B, L)
    return x.gather(2, idx[:, None].expand(b, c, length))


def time_mask(x: Tensor, frac: float, gen: torch.Generator, lengths: Tensor | None = None) -> Tensor:
    """Zero one random contiguous span of ``round(frac * T)`` steps per sample.

    With ``lengths`` (B,), the span is ``round(frac * lengths[b])`` steps inside each series' real steps.
    """
    b, _, t = x.shape
    pos = torch.arange(t, device=x.device).unsqueeze(0)  # (1, T)
    if lengths is None:
        w = int(round(frac * t))
        if w <= 0:
            return x
        start = torch.randint(0, t - w + 1, (b, 1), generator=gen, device=x.device)
        keep = ~((pos >= start) & (pos < start + w))  # (B, T)
    else:
        lengths = lengths.to(x.device).long()
        w = torch.round(frac * lengths.double()).long()  # (B,)
        start = randint_per_sample(lengths - w, gen).unsqueeze(1)  # (B, 1)
        keep = ~((pos >= start) & (pos < start + w.unsqueeze(1)))
    return x * keep.unsqueeze(1).to(x.dtype)


def random_crop(x: Tensor, length: int, gen: torch.Generator,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """A random window of ``length`` steps per sample; returns (crops (B, C, length), starts (B,)).

    With ``lengths`` (B,), each window lies inside the series' real steps (``length <= min(lengths)``).
    """
    b, _, t = x.shape
    limit = t if lengths is None else int(lengths.min())
    if not 1 <= length <= limit:
        raise ValueError(f"crop length must be in [1, {limit}], got {length}")
    if lengths is None:
        start = torch.randint(0, t - length + 1, (b,), generator=gen, device=x.device)
    else:
        start = randint_per_sample(lengths.to(x.device).long() - length, gen)
    return crop_at(x, start, length), start


def permute_segments(x: Tensor, n_segments: int, gen: torch.Generator, lengths: Tensor | None = None) -> Tensor:
    """Split the time axis into ``n_segments`` equal segments and shuffle them per sample.

    With ``lengths`` (B,), each series' real steps are split (segments of ``lengths[b] // n_segments``);
    its remainder and padding stay in place.
    """
    b, c, t = x.shape
    if n_segments <= 1:
        return x
    if lengths is None:
        seg = t // n_segments
        core = x[..., : seg * n_segments].reshape(b, c, n_segments, seg)
        perm = torch.argsort(torch.rand(b, n_segments, generator=gen, device=x.device), dim=1)  # (B, S)
        core = core.gather(2, perm[:, None, :, None].expand(b, c, n_segments, seg))
        return torch.cat([core.reshape(b, c, -1), x[..., seg * n_segments:]], dim=2)
    seg = (lengths.to(x.device).long() // n_segments).clamp_min(1).unsqueeze(1)  # (B, 1)
    perm = torch.argsort(torch.rand(b, n_segments, generator=gen, device=x.device), dim=1)  # (B, S)
    pos = torch.arange(t, device=x.device).unsqueeze(0)  # (1, T)
    j = (pos // seg).clamp_max(n_segments - 1)  # (B, T) segment of each step
    src = perm.gather(1, j) * seg + pos % seg  # (B, T) the step each position takes
    inside = pos < seg * n_segments
    if bool((lengths.to(x.device).long() < n_segments).any()):
        inside = inside & (lengths.to(x.device).long() >= n_segments).unsqueeze(1)
    idx = torch.where(inside, src, pos)
    return x.gather(2, idx[:, None].expand(b, c, t))
