"""Few-shot N-way K-shot episodes with prototype (nearest class mean, cosine) classifiers."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def sample_episode(y: np.ndarray, n_way: int, k_shot: int, n_query: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of one episode: (support (N*K,), query (N*Q,), chosen classes (N,)).

    Support and query are disjoint; only classes with at least K + Q samples are used.
    """
    classes, counts = np.unique(y, return_counts=True)
    eligible = classes[counts >= k_shot + n_query]
    if len(eligible) < n_way:
        raise ValueError(f"need {n_way} classes with >= {k_shot + n_query} samples, have {len(eligible)}")
    chosen = rng.choice(eligible, size=n_way, replace=False)
    support, query = [], []
    for c in chosen:
        idx = rng.choice(np.flatnonzero(y == c), size=k_shot + n_query, replace=False)
        support.append(idx[:k_shot])
        query.append(idx[k_shot:])
    return np.concatenate(support), np.concatenate(query), chosen


def fewshot_accuracy(x: Tensor, y: Tensor, n_way: int = 5, k_shot: int = 5, n_query: int = 15,
                     episodes: int = 600, seed: int = 0) -> dict[str, float]:
    """Mean accuracy and 95% confidence interval over prototype-classifier episodes."""
    rng = np.random.default_rng(seed)
    feats = F.normalize(x.float(), dim=1)
    y_np = y.cpu().numpy()
    accs = []
    for _ in range(episodes):
        s, q, chosen = sample_episode(y_np, n_way, k_shot, n_query, rng)
        protos = F.normalize(feats[s].view(n_way, k_shot, -1).mean(1), dim=1)  # (N, D)
        pred = (feats[q] @ protos.t()).argmax(1)  # (N*Q,)
        truth = torch.arange(n_way).repeat_interleave(n_query)
        accs.append(float((pred == truth).float().mean()))
    arr = np.asarray(accs)
    ci = 1.96 * arr.std(ddof=1) / math.sqrt(len(arr)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "ci95": float(ci), "episodes": episodes}
