"""InfoNCE (van den Oord et al., 2018, "Representation Learning with Contrastive
Predictive Coding"; the same loss as MoCo's, He et al., 2020).

For a query ``q`` with one positive key ``k+`` and negatives ``k-_j``::

    L = -log  exp(s(q, k+) / t) / (exp(s(q, k+) / t) + sum_j exp(s(q, k-_j) / t))

with ``s`` the cosine similarity (or the dot product when ``normalize=False``).
It is computed as a cross-entropy over the logits ``[s+, s-_1, ..., s-_K] / t``
with target 0, so it never forms ``exp`` explicitly and stays finite at small
temperatures and in reduced precision (logits are computed in float32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


@float32_loss
def info_nce(
    query: Tensor,
    positive: Tensor,
    negatives: Tensor,
    temperature: float = 0.1,
    *,
    normalize: bool = True,
    reduction: str = "mean",
) -> Tensor:
    """InfoNCE loss of each query against its positive and a set of negatives.

    Args:
        query: (B, D) query embeddings.
        positive: (B, D) the positive key of each query (row i goes with row i).
        negatives: (K, D) negatives shared by all queries (e.g. a MoCo queue), or
            (B, K, D) negatives per query.
        temperature: softmax temperature t > 0.
        normalize: L2-normalise all embeddings first (cosine similarity).
        reduction: "mean", "sum" or "none" (per-query losses, shape (B,)).

    Returns:
        The loss (scalar, or (B,) with ``reduction="none"``).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    dtype = torch.promote_types(query.dtype, torch.float32)  # bf16/fp16 -> fp32; fp64 stays
    q, p, n = query.to(dtype), positive.to(dtype), negatives.to(dtype)
    if normalize:
        q, p, n = F.normalize(q, dim=-1), F.normalize(p, dim=-1), F.normalize(n, dim=-1)
    pos = (q * p).sum(dim=-1, keepdim=True)  # (B, 1)
    if n.dim() == 2:
        neg = q @ n.t()  # (B, K)
    elif n.dim() == 3:
        neg = torch.einsum("bd,bkd->bk", q, n)  # (B, K)
    else:
        raise ValueError(f"negatives must be (K, D) or (B, K, D), got {tuple(n.shape)}")
    logits = torch.cat([pos, neg], dim=1) / temperature  # (B, 1 + K)
    target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target, reduction=reduction)
