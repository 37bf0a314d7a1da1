"""TS2Vec's hierarchical contrastive loss (Yue et al., 2022, "TS2Vec: Towards Universal
Representation of Time Series").

Two views z1, z2 (B, T, D) of the same timestamps. At every scale:

* instance contrast: at each t, z1[b, t] and z2[b, t] are positives; the other series at the
  same t (both views) are negatives;
* temporal contrast: for each series, the two views at the same t are positives; the other
  timestamps of the same series (both views) are negatives.

The scales are made by max-pooling over time by 2 until one step is left (instance loss only).
Dot-product logits, cross-entropy with the positive index (never exp-then-log).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


def _pair_contrast(z1: Tensor, z2: Tensor) -> Tensor:
    """Contrast along dim 1: z1, z2 (G, N, D) -> mean loss; positive of row i is row i of the other view."""
    g, n, _ = z1.shape
    if n < 2:
        return z1.new_zeros(())
    z = torch.cat([z1, z2], dim=1)  # (G, 2N, D)
    sim = z @ z.transpose(1, 2)  # (G, 2N, 2N)
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))  # never contrast a vector with itself
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # (2N,)
    return F.cross_entropy(sim.reshape(g * 2 * n, 2 * n), target.repeat(g))


def instance_contrast(z1: Tensor, z2: Tensor) -> Tensor:
    """(B, T, D) x2: negatives are other series at the same timestamp."""
    return _pair_contrast(z1.transpose(0, 1).float(), z2.transpose(0, 1).float())


def temporal_contrast(z1: Tensor, z2: Tensor) -> Tensor:
    """(B, T, D) x2: negatives are other timestamps of the same series."""
    return _pair_contrast(z1.float(), z2.float())


@float32_loss
def hierarchical_contrast(z1: Tensor, z2: Tensor, alpha: float = 0.5) -> Tensor:
    """Mean over scales of ``alpha * instance + (1 - alpha) * temporal`` (TS2Vec's loss)."""
    total, d = z1.new_zeros((), dtype=torch.float32), 0
    while z1.shape[1] > 1:
        total = total + alpha * instance_contrast(z1, z2) + (1 - alpha) * temporal_contrast(z1, z2)
        d += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)
    if z1.shape[1] == 1:
        total = total + alpha * instance_contrast(z1, z2)
        d += 1
    return total / d
