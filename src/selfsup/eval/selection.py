"""Selection on a validation split: every choice of the evaluation is made on labels carved from
the training set, and the test set is read once per reported number.

* :func:`validation_split` carves a stratified, seeded validation split from the training labels;
  the labeled subsets of the low-label protocol are drawn from the rest (the *pool*).
* :func:`knn_select` picks kNN's ``k`` from a grid by validation accuracy (one top-k search at the
  largest ``k`` serves the whole grid), then classifies the test set once with it.
* :func:`linear_select` picks the linear probe's L2 penalty from a grid by validation accuracy;
  the probe fitted with the chosen penalty is the one applied to the test set, once.

A tie keeps the first candidate of the grid, so grids are written simplest (or most regularised) first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.eval.linear import (
    _fit as _fit_linear,  # multinomial logistic regression by full-batch L-BFGS
)


def validation_split(y: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Stratified ``(pool, validation)`` indices of ``y`` (on ``y``'s device).

    Each class with at least two samples gives ``round(fraction * n_c)`` of them (at least one) to
    the validation split; a class of one sample stays in the pool. ``fraction == 0`` gives an empty
    validation split."""
    y_np = y.cpu().numpy()
    rng = np.random.default_rng(seed)
    pool, val = [], []
    for c in np.unique(y_np):
        idx = rng.permutation(np.flatnonzero(y_np == c))
        k = 0 if fraction <= 0 or len(idx) < 2 else min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        val.append(idx[:k])
        pool.append(idx[k:])
    as_t = lambda parts: torch.from_numpy(np.sort(np.concatenate(parts)).astype(np.int64)).to(y.device)
    return as_t(pool), as_t(val)


@torch.no_grad()
def _knn_votes_grid(train_x: Tensor, train_y: Tensor, query: Tensor, ks: Sequence[int], temperature: float,
                    num_classes: int, chunk: int = 1024) -> Tensor:
    """(len(ks), M) predictions of the weighted kNN vote for every ``k`` of ``ks`` (one top-k search)."""
    tr = F.normalize(train_x.float(), dim=1)
    ytr = train_y.long()
    ks = [min(int(k), len(tr)) for k in ks]
    kmax = max(ks)
    out = torch.empty(len(ks), len(query), dtype=torch.long, device=query.device)
    for i in range(0, len(query), chunk):
        q = F.normalize(query[i : i + chunk].float(), dim=1)  # (m, D)
        top_sim, top_idx = (q @ tr.t()).topk(kmax, dim=1)  # (m, kmax), sorted by similarity
        w = torch.exp((top_sim - top_sim[:, :1]) / temperature)  # (m, kmax); shifted: same argmax, no overflow
        labels = ytr[top_idx]  # (m, kmax)
        for j, k in enumerate(ks):
            votes = torch.zeros(len(q), num_classes, dtype=w.dtype, device=w.device)
            votes.scatter_add_(1, labels[:, :k], w[:, :k])  # (m, C)
            out[j, i : i + len(q)] = votes.argmax(1)
    return out


def knn_select(train_x: Tensor, train_y: Tensor, val_x: Tensor, val_y: Tensor, test_x: Tensor, test_y: Tensor,
               ks: Sequence[int], temperature: float, num_classes: int) -> dict[str, float]:
    """Choose ``k`` on the validation split, then score the test set once with it.

    Returns:
        ``{"accuracy": test accuracy, "k": chosen k, "val_accuracy": its validation accuracy}``.
    """
    if len(train_x) == 0:
        raise ValueError("kNN needs at least one training sample")
    ks = list(dict.fromkeys(min(int(k), len(train_x)) for k in ks))
    if len(val_x) and len(ks) > 1:
        preds = _knn_votes_grid(train_x, train_y, val_x, ks, temperature, num_classes)  # (K, M)
        val_acc = (preds == val_y.long().to(preds.device)).float().mean(1)
        best = int(torch.argmax(val_acc))  # first maximum
        k, v = ks[best], float(val_acc[best])
    else:
        k, v = ks[-1], float("nan")
    if len(test_x) == 0:
        return {"accuracy": float("nan"), "k": k, "val_accuracy": v}
    pred = _knn_votes_grid(train_x, train_y, test_x, [k], temperature, num_classes)[0]
    return {"accuracy": float((pred == test_y.long().to(pred.device)).float().mean()), "k": k, "val_accuracy": v}


def linear_select(train_x: Tensor, train_y: Tensor, val_x: Tensor, val_y: Tensor, test_x: Tensor, test_y: Tensor,
                  l2_grid: Sequence[float], num_classes: int, max_iter: int = 100,
                  search_max_samples: int | None = None, seed: int = 0) -> dict[str, float]:
    """Fit the probe for each L2 of ``l2_grid`` on the labeled subset, keep the one with the best
    validation accuracy (first on ties), and score the test set once with it.

    Features are standardised with the labeled subset's statistics. With more than
    ``search_max_samples`` labels, the grid is searched on a stratified sample of that size (the
    penalty, on the mean loss, is then rescaled by sample / all) and the chosen probe refitted on
    all labels: the search would otherwise cost a full fit per candidate.

    Returns:
        ``{"accuracy": test accuracy, "l2": chosen penalty, "val_accuracy": its validation accuracy}``.
    """
    xtr = train_x.float()
    mu = xtr.mean(0, keepdim=True)
    sd = xtr.std(0, keepdim=True).clamp_min(1e-6) if len(xtr) > 1 else torch.ones_like(mu)
    norm = lambda x: (x.float().to(mu.device) - mu) / sd
    xtr, xva, xte = norm(xtr), norm(val_x), norm(test_x)
    ytr, yva = train_y.long().to(mu.device), val_y.long().to(mu.device)
    search = torch.arange(len(ytr), device=ytr.device)
    if search_max_samples is not None and len(ytr) > search_max_samples:
        _, search = validation_split(ytr, search_max_samples / len(ytr), seed)  # a stratified sample
    grid = list(l2_grid) if len(xva) else list(l2_grid)[:1]
    best: tuple[float, float, Tensor, Tensor] | None = None
    for l2 in grid:
        with torch.enable_grad():  # the harness may run under no_grad
            w, b = _fit_linear(xtr[search], ytr[search], num_classes, float(l2), max_iter)
        v = float(((xva @ w + b).argmax(1) == yva).float().mean()) if len(xva) else float("nan")
        if best is None or v > best[0] + 1e-12:
            best = (v, float(l2), w, b)
    assert best is not None
    v, l2, w, b = best
    if len(search) < len(ytr):
        l2 *= len(search) / len(ytr)
        with torch.enable_grad():
            w, b = _fit_linear(xtr, ytr, num_classes, l2, max_iter)
    acc = float(((xte @ w + b).argmax(1) == test_y.long().to(w.device)).float().mean()) if len(xte) else float("nan")
    return {"accuracy": acc, "l2": l2, "val_accuracy": v}
