"""Few-shot N-way K-shot episodes with prototype (nearest class mean, cosine) classifiers."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)


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


def episode_shape(y: np.ndarray, n_way: int, k_shot: int, n_query: int) -> tuple[int, int, int] | None:
    """The largest episode (ways, shots, queries) no larger than asked that ``y`` can fill.

    Ways shrink to the classes with at least 2 samples, then queries and shots to what the
    ``ways``-th largest class holds (queries first, at least 1 of each). None when fewer than 2
    classes have 2 samples (no episode is possible)."""
    counts = np.sort(np.unique(y, return_counts=True)[1])[::-1]
    ways = min(n_way, int((counts >= 2).sum()))
    if ways < 2:
        return None
    per_class = int(counts[ways - 1])  # every one of the `ways` largest classes holds this many
    queries = min(n_query, max(1, per_class - k_shot))
    shots = min(k_shot, per_class - queries)
    return ways, shots, queries


def fewshot_accuracy(x: Tensor, y: Tensor, n_way: int = 5, k_shot: int = 5, n_query: int = 15,
                     episodes: int = 600, seed: int = 0) -> dict[str, Any]:
    """Mean accuracy and 95% confidence interval over prototype-classifier episodes.

    A test set too small for the asked episode (fewer than ``n_way`` classes with ``k_shot +
    n_query`` samples) gets a smaller one (:func:`episode_shape`), said in ``note`` and logged;
    one too small for any episode is skipped: ``mean``/``ci95`` NaN, ``episodes`` 0 and ``skipped``
    saying why. ``n_way``/``k_shot``/``n_query`` in the result are the episode's actual shape."""
    y_np = y.cpu().numpy()
    shape = episode_shape(y_np, n_way, k_shot, n_query)
    asked = f"{n_way}-way {k_shot}-shot {n_query}-query"
    if shape is None:
        why = f"few-shot skipped: the test set has fewer than 2 classes with 2 samples ({asked} asked)"
        log.warning(why)
        return {"mean": float("nan"), "ci95": float("nan"), "episodes": 0, "skipped": why}
    out: dict[str, Any] = {}
    if shape != (n_way, k_shot, n_query):
        out["note"] = (f"test set too small for {asked} episodes: ran {shape[0]}-way {shape[1]}-shot "
                       f"{shape[2]}-query (chance {1 / shape[0]:.3f})")
        log.warning(out["note"])
    n_way, k_shot, n_query = shape
    rng = np.random.default_rng(seed)
    feats = F.normalize(x.float(), dim=1)
    accs = []
    for _ in range(episodes):
        s, q, _ = sample_episode(y_np, n_way, k_shot, n_query, rng)
        s, q = torch.from_numpy(s).to(feats.device), torch.from_numpy(q).to(feats.device)
        protos = F.normalize(feats[s].view(n_way, k_shot, -1).mean(1), dim=1)  # (N, D)
        pred = (feats[q] @ protos.t()).argmax(1)  # (N*Q,)
        truth = torch.arange(n_way, device=pred.device).repeat_interleave(n_query)
        accs.append(float((pred == truth).float().mean()))
    arr = np.asarray(accs)
    ci = 1.96 * arr.std(ddof=1) / math.sqrt(len(arr)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "ci95": float(ci), "episodes": episodes, "n_way": n_way, "k_shot": k_shot,
            "n_query": n_query, **out}
