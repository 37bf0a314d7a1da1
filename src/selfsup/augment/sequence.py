"""Batched, seeded augmentations for time series (B, C, T) float tensors.

Every function takes a ``torch.Generator`` so the same seed gives the same output, and draws
independent parameters per sample.
"""

from __future__ import annotations

import torch
from torch import Tensor


def jitter(x: Tensor, sigma: float, gen: torch.Generator) -> Tensor:
    """Add N(0, sigma^2) noise."""
    return x + sigma * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def scaling(x: Tensor, sigma: float, gen: torch.Generator) -> Tensor:
    """Multiply each (sample, channel) by a factor ~ N(1, sigma^2)."""
    f = 1 + sigma * torch.randn(x.shape[0], x.shape[1], 1, generator=gen, device=x.device, dtype=x.dtype)
    return x * f


def time_mask(x: Tensor, frac: float, gen: torch.Generator) -> Tensor:
    """Zero one random contiguous span of ``round(frac * T)`` steps per sample."""
    b, _, t = x.shape
    w = int(round(frac * t))
    if w <= 0:
        return x
    start = torch.randint(0, t - w + 1, (b, 1), generator=gen, device=x.device)
    pos = torch.arange(t, device=x.device).unsqueeze(0)  # (1, T)
    keep = ~((pos >= start) & (pos < start + w))  # (B, T)
    return x * keep.unsqueeze(1).to(x.dtype)


def random_crop(x: Tensor, length: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """A random window of ``length`` steps per sample; returns (crops (B, C, length), starts (B,))."""
    b, c, t = x.shape
    if not 1 <= length <= t:
        raise ValueError(f"crop length must be in [1, {t}], got {length}")
    start = torch.randint(0, t - length + 1, (b,), generator=gen, device=x.device)
    idx = start[:, None] + torch.arange(length, device=x.device)[None]  # (B, L)
    return x.gather(2, idx[:, None].expand(b, c, length)), start


def permute_segments(x: Tensor, n_segments: int, gen: torch.Generator) -> Tensor:
    """Split the time axis into ``n_segments`` equal segments and shuffle them per sample."""
    b, c, t = x.shape
    if n_segments <= 1:
        return x
    seg = t // n_segments
    core = x[..., : seg * n_segments].reshape(b, c, n_segments, seg)
    perm = torch.argsort(torch.rand(b, n_segments, generator=gen, device=x.device), dim=1)  # (B, S)
    core = core.gather(2, perm[:, None, :, None].expand(b, c, n_segments, seg))
    return torch.cat([core.reshape(b, c, -1), x[..., seg * n_segments:]], dim=2)
