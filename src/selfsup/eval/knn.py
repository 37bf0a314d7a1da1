"""Weighted k-nearest-neighbour classification on frozen features (cosine similarity,
votes weighted by ``exp(sim / t)`` as in Wu et al., 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def knn_predict(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk: int = 1024,
) -> Tensor:
    """Predict test labels by a weighted vote of the k most cosine-similar training samples.

    Args:
        train_x: (N, D) training features.
        train_y: (N,) training labels.
        test_x: (M, D) test features.
        k: neighbours (clipped to N).
        temperature: vote weight ``exp(sim / temperature)``.
        num_classes: number of classes (default: max label + 1).
        chunk: test rows per matrix product.

    Returns:
        (M,) predicted labels, on ``test_x``'s device (every tensor is made there: CUDA features stay on
        the GPU).
    """
    if len(train_x) == 0:
        raise ValueError("kNN needs at least one training sample")
    c = int(num_classes or int(train_y.max()) + 1)
    k = min(k, len(train_x))
    tr = F.normalize(train_x.float(), dim=1)
    ytr = train_y.long()
    preds = []
    for i in range(0, len(test_x), chunk):
        q = F.normalize(test_x[i : i + chunk].float(), dim=1)  # (m, D)
        sim = q @ tr.t()  # (m, N)
        top_sim, top_idx = sim.topk(k, dim=1)  # (m, k)
        w = torch.exp(top_sim / temperature)  # (m, k)
        votes = torch.zeros(len(q), c, dtype=w.dtype, device=w.device)
        votes.scatter_add_(1, ytr[top_idx], w)  # (m, C)
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long, device=test_x.device)


def knn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, k: int = 200,
                 temperature: float = 0.1, num_classes: int | None = None) -> float:
    """Accuracy of :func:`knn_predict` on a labeled test set."""
    if len(test_x) == 0:
        return float("nan")
    pred = knn_predict(train_x, train_y, test_x, k, temperature, num_classes)
    return float((pred == test_y.long()).float().mean())
