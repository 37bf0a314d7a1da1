"""CPC logits (van den Oord et al., 2018, "Representation Learning with Contrastive Predictive Coding").

For prediction step k, the context c_t predicts ``p_{t,k} = W_k c_t``; its positive is the true
future encoding ``z_{t+k}`` of the same sequence, and every other ``z_{s+k}`` in the batch (other
sequences and other time steps) is a negative. The loss is the cross-entropy of these logits with
the positive index (InfoNCE), computed without forming ``exp``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


@float32_loss
def cpc_logits(pred: Tensor, z: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Logits and positive indices for prediction step ``k``.

    Args:
        pred: (B, T, D) predictions ``W_k c_t`` for every t (only t < T - k are used).
        z: (B, T, D) encodings.
        k: prediction step, 1 <= k < T.

    Returns:
        logits (N, N) with N = B * (T - k), row ``b * (T - k) + t`` scoring ``p_{t,k}`` of sequence b
        against every future encoding ``z_{s+k}`` of every sequence; and positives (N,), the column of
        ``z_{t+k}`` of sequence b (which is the row index).
    """
    b, t, d = z.shape
    if not 1 <= k < t:
        raise ValueError(f"k must be in [1, {t - 1}], got {k}")
    q = pred[:, : t - k].reshape(-1, d).float()  # (N, D)
    keys = z[:, k:].reshape(-1, d).float()  # (N, D)
    logits = q @ keys.t()  # (N, N)
    return logits, torch.arange(q.shape[0], device=z.device)


@float32_loss
def cpc_loss(preds: list[Tensor], z: Tensor, valid: Tensor | None = None) -> Tensor:
    """Mean InfoNCE over steps k = 1..len(preds); ``preds[k-1]`` is (B, T, D) for step k.

    ``valid`` (B, T) bool marks the real (non-padding) steps of series of unequal lengths, valid steps
    first: a context c_t predicts z_{t+k} only where z_{t+k} is valid, and only valid z_{s+k} are
    negatives. A step k with no such pair in the batch is left out of the mean.
    """
    losses = []
    for k, p in enumerate(preds, start=1):
        if valid is None:
            logits, pos = cpc_logits(p, z, k)
        else:
            _, t, d = z.shape
            keep = valid[:, k:].reshape(-1)  # (B * (T - k),): pair (b, t) kept iff z_{t+k} of b is real
            if not bool(keep.any()):
                continue
            q = p[:, : t - k].reshape(-1, d)[keep].float()  # (N', D)
            keys = z[:, k:].reshape(-1, d)[keep].float()  # (N', D)
            logits, pos = q @ keys.t(), torch.arange(q.shape[0], device=z.device)
        losses.append(F.cross_entropy(logits, pos))
    if not losses:
        raise ValueError("no (t, t + k) pair of valid steps in the batch")
    return torch.stack(losses).mean()
