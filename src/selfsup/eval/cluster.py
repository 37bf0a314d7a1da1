"""The clustering protocol: k-means (k = number of classes) on the test features, scored
against the labels by normalised mutual information (NMI, arithmetic-mean normalisation)
and the adjusted Rand index (ARI, Hubert & Arabie 1985), mean ± std over k-means seeds.

Features are L2-normalised first (``normalize="l2"``, the usual choice for comparing
self-supervised features; "none" keeps them as they are), the same for every column.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from selfsup.eval.lowlabel import mean_std


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(|A|, |B|) counts of samples in cluster i of ``a`` and class j of ``b``."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai, bi), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(pred: np.ndarray, labels: np.ndarray) -> float:
    """I(pred; labels) / ((H(pred) + H(labels)) / 2); 1 when both are one cluster."""
    t = contingency(np.asarray(pred), np.asarray(labels)).astype(np.float64)
    n = t.sum()
    pi, pj = t.sum(1), t.sum(0)
    nz = t > 0
    mi = float((t[nz] / n * np.log(t[nz] * n / np.outer(pi, pj)[nz])).sum())
    h = (_entropy(pi) + _entropy(pj)) / 2
    if h == 0:
        return 1.0
    return max(0.0, mi / h)


def ari(pred: np.ndarray, labels: np.ndarray) -> float:
    """Adjusted Rand index: (RI - E[RI]) / (max RI - E[RI]) over pairs; 1 for identical partitions."""
    t = contingency(np.asarray(pred), np.asarray(labels))

    def pairs(v: np.ndarray) -> float:
        return float((v * (v - 1) // 2).sum())

    n = int(t.sum())
    total = n * (n - 1) / 2
    s_ij, s_a, s_b = pairs(t), pairs(t.sum(1)), pairs(t.sum(0))
    expected = s_a * s_b / total if total else 0.0
    max_index = (s_a + s_b) / 2
    if math.isclose(max_index, expected):
        return 1.0
    return (s_ij - expected) / (max_index - expected)


def kmeans_labels(x: Tensor, k: int, seed: int = 0, n_init: int = 3) -> np.ndarray:
    """Cluster assignments of k-means (k-means++ init, ``n_init`` restarts)."""
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=n_init, random_state=seed).fit_predict(x.detach().double().cpu().numpy())


def cluster_scores(features: Tensor, labels: Tensor, num_classes: int, seeds: tuple[int, ...] = (0, 1, 2),
                   normalize: str = "l2") -> dict[str, dict]:
    """``{"nmi": {"mean","std","values"}, "ari": {...}}`` of k-means with k = ``num_classes``."""
    x = features.float()
    if normalize == "l2":
        x = torch.nn.functional.normalize(x, dim=1)
    elif normalize != "none":
        raise ValueError(f"normalize must be 'l2' or 'none', got {normalize!r}")
    y = labels.cpu().numpy()
    nmis, aris = [], []
    for s in seeds:
        pred = kmeans_labels(x, num_classes, seed=s)
        nmis.append(nmi(pred, y))
        aris.append(ari(pred, y))
    return {"nmi": mean_std(nmis), "ari": mean_std(aris)}
