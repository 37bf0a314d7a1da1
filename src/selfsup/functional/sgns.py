"""Skip-gram negative-sampling loss (Mikolov et al., 2013), as a pure batched function.

The word2vec engine (:mod:`selfsup.word2vec.engine`) applies this loss's gradient in a compiled
Hogwild loop; this function is the batched-tensor form, used by the torch alternative measured
in ``benchmarks/word2vec_engines.py`` and as the reference the engine's update rule follows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sgns_loss(inputs: Tensor, positives: Tensor, negatives: Tensor, reduction: str = "mean") -> Tensor:
    """``-log sigmoid(u_pos . v) - sum_k log sigmoid(-u_k . v)`` per pair.

    Args:
        inputs: (B, D) input vectors ``v`` (skip-gram: the context word's; CBOW: the window mean).
        positives: (B, D) output vectors ``u_pos`` of the true word (the positive).
        negatives: (B, K, D) output vectors ``u_k`` of K sampled words (the negatives).
        reduction: "mean", "sum" or "none" over the B pairs.

    Returns:
        The loss, a scalar or (B,).
    """
    pos = (inputs * positives).sum(-1)  # (B,)
    neg = torch.einsum("bd,bkd->bk", inputs, negatives)  # (B, K)
    loss = -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)  # (B,)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
