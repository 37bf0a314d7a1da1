"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR
(Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", eq. 1).

The batch holds 2N embeddings: row i and row i + N are two views of the same
sample (the positive pair). Every other one of the 2N - 2 rows is a negative.
For each row ``i`` with positive ``j``::

    l(i, j) = -log exp(sim(z_i, z_j)/t) / sum_{k != i} exp(sim(z_i, z_k)/t)

and the loss is the mean of ``l`` over all 2N rows (both directions).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


@float32_loss
def nt_xent(z: Tensor, temperature: float = 0.5, *, reduction: str = "mean") -> Tensor:
    """NT-Xent loss over a batch of paired views.

    Args:
        z: (2N, D) embeddings; rows i and i + N are the two views of sample i.
        temperature: softmax temperature t > 0.
        reduction: "mean", "sum" or "none" (per-row losses, shape (2N,)).

    Returns:
        The loss (scalar, or (2N,) with ``reduction="none"``).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if z.dim() != 2 or z.shape[0] % 2 != 0 or z.shape[0] < 2:
        raise ValueError(f"z must be (2N, D) with N >= 1, got {tuple(z.shape)}")
    n = z.shape[0] // 2
    z = F.normalize(z.float(), dim=1)
    logits = (z @ z.t()) / temperature  # (2N, 2N)
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    idx = torch.arange(2 * n, device=z.device)
    target = (idx + n) % (2 * n)  # positive of row i is row i+N (mod 2N)
    return F.cross_entropy(logits, target, reduction=reduction)
