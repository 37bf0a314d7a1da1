"""Deep Graph Infomax discriminator scores and loss (Velickovic et al., ICLR 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bilinear_scores(h: Tensor, summary: Tensor, weight: Tensor) -> Tensor:
    """D(h_i, s) = h_i^T W s for every node.

    Args:
        h: (N, D) patch representations.
        summary: (D,) graph summary.
        weight: (D, D) bilinear weight.

    Returns:
        (N,) logits.
    """
    return h @ (weight @ summary)  # (N,)


def dgi_loss(pos_logits: Tensor, neg_logits: Tensor) -> Tensor:
    """Binary cross-entropy of the discriminator, averaged over all 2N pairs.

    Positives are (real patch, summary) pairs with label 1, negatives are (corrupted patch,
    summary) with label 0: ``-(sum log sigma(pos) + sum log(1 - sigma(neg))) / (N + M)``.
    """
    logits = torch.cat([pos_logits, neg_logits])
    target = torch.cat([torch.ones_like(pos_logits), torch.zeros_like(neg_logits)])
    return F.binary_cross_entropy_with_logits(logits, target)
