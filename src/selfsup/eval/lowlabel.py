"""The low-label protocol: class-balanced subsets of the training labels."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def parse_fraction(label: str) -> float:
    """'1%' -> 0.01, '0.1' -> 0.1, '100%' -> 1.0."""
    s = label.strip()
    v = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    if not 0 < v <= 1:
        raise ValueError(f"label fraction must be in (0, 100%], got {label}")
    return v


def balanced_subset(y: Tensor, fraction: float, seed: int, min_per_class: int = 1) -> Tensor:
    """Indices of a class-balanced subset holding ``fraction`` of the labels.

    Every class gets ``max(min_per_class, round(fraction * N / C))`` samples (or all
    it has); ``fraction == 1`` returns every index. The indices live on ``y``'s device.
    """
    n = len(y)
    if fraction >= 1.0:
        return torch.arange(n, device=y.device)
    y_np = y.cpu().numpy()
    classes = np.unique(y_np)
    per_class = max(min_per_class, int(round(fraction * n / len(classes))))
    rng = np.random.default_rng(seed)
    picked = []
    for c in classes:
        idx = np.flatnonzero(y_np == c)
        picked.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return torch.from_numpy(np.sort(np.concatenate(picked))).to(y.device)


def mean_std(values: list[float]) -> dict[str, float | list[float]]:
    """{"mean", "std", "values"} of per-seed accuracies (std with ddof=0 when one value)."""
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "values": [float(v) for v in arr]}
