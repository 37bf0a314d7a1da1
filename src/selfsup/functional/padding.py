"""Series of unequal lengths in one (B, C, T) tensor: NaN right-padding as the carrier of the mask.

A step is padding when it is NaN in every channel; the padding is on the right (the series loaders
never leave NaN inside a series), so a series is described by its length, the index of its last real
step + 1. These helpers turn the NaN carrier into (zero-filled values, lengths) and back, and pool
per-step features over the real steps only.
"""

from __future__ import annotations

import torch
from torch import Tensor


def series_lengths(x: Tensor) -> Tensor:
    """(B, C, T) NaN-padded -> (B,) long lengths (T for a series without padding)."""
    step = ~torch.isnan(x).all(1)  # (B, T) True where some channel has data
    t = x.shape[-1]
    last = t - step.flip(1).int().argmax(1)  # index of the last real step + 1
    return torch.where(step.any(1), last, torch.zeros_like(last)).long()


def split_padding(x: Tensor) -> tuple[Tensor, Tensor | None]:
    """(B, C, T) -> (x with NaN replaced by 0, lengths (B,)), or (x, None) when ``x`` has no NaN."""
    nan = torch.isnan(x)
    if not bool(nan.any()):
        return x, None
    lengths = series_lengths(x)
    return torch.where(nan, torch.zeros((), dtype=x.dtype, device=x.device), x), lengths


def steps_mask(lengths: Tensor, t: int) -> Tensor:
    """(B,) lengths -> (B, t) bool, True on the first ``lengths[b]`` steps."""
    return torch.arange(t, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def pad_beyond(x: Tensor, lengths: Tensor) -> Tensor:
    """(B, C, T) -> the same with NaN on every step at or after ``lengths[b]`` (the carrier again)."""
    keep = steps_mask(lengths.to(x.device), x.shape[-1]).unsqueeze(1)  # (B, 1, T)
    return torch.where(keep, x, torch.full((), float("nan"), dtype=x.dtype, device=x.device))


def trim_padding(x: Tensor) -> Tensor:
    """(B, C, T) -> (B, C, T') cut after the longest series of the batch (steps that are padding everywhere)."""
    if not bool(torch.isnan(x).any()):
        return x
    return x[..., : max(1, int(series_lengths(x).max()))]


def masked_mean(h: Tensor, valid: Tensor | None) -> Tensor:
    """(B, T, D) -> (B, D): mean over the steps where ``valid`` (B, T) is True (all steps if None)."""
    if valid is None:
        return h.mean(dim=1)
    m = valid.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1)


def masked_max(h: Tensor, valid: Tensor | None) -> Tensor:
    """(B, T, D) -> (B, D): max over the steps where ``valid`` (B, T) is True (all steps if None)."""
    if valid is None:
        return h.amax(dim=1)
    return h.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(dim=1)
