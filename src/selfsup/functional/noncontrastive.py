"""Losses of the non-contrastive methods (pure functions of tensors).

* :func:`negative_cosine` — BYOL (Grill et al. 2020) and SimSiam (Chen & He 2021):
  ``-cos(p, stopgrad(z))`` (mean over the batch). BYOL's ``2 - 2 cos`` is ``2 + 2 * this``.
* :func:`barlow_twins_loss` — Barlow Twins (Zbontar et al. 2021): batch-standardise both
  embeddings, cross-correlation ``C = z1^T z2 / N``; loss ``sum_i (1 - C_ii)^2 +
  lambda * sum_{i != j} C_ij^2``.
* :func:`vicreg_loss` — VICReg (Bardes et al. 2022): ``sim * MSE(z1, z2) + var * (hinge on
  each dimension's std, per branch) + cov * (squared off-diagonal covariance / D, per branch)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


@float32_loss
def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """Mean of ``-cos(p_i, z_i)``; ``z`` is detached (the stop-gradient)."""
    return -F.cosine_similarity(p.float(), z.detach().float(), dim=-1).mean()


def _off_diagonal(m: Tensor) -> Tensor:
    n = m.shape[0]
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


@float32_loss
def barlow_twins_loss(z1: Tensor, z2: Tensor, lambd: float = 5e-3, eps: float = 1e-5) -> Tensor:
    """Barlow Twins redundancy-reduction loss of two (N, D) embeddings (N >= 2)."""
    if z1.shape != z2.shape or z1.dim() != 2 or z1.shape[0] < 2:
        raise ValueError(f"need two (N, D) embeddings with N >= 2, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    z1, z2 = z1.float(), z2.float()
    n = z1.shape[0]
    a = (z1 - z1.mean(0)) / (z1.std(0, unbiased=False) + eps)
    b = (z2 - z2.mean(0)) / (z2.std(0, unbiased=False) + eps)
    c = a.t() @ b / n  # (D, D)
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = _off_diagonal(c).pow(2).sum()
    return on + lambd * off


@float32_loss
def vicreg_loss(
    z1: Tensor,
    z2: Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
) -> Tensor:
    """VICReg loss of two (N, D) embeddings (N >= 2)."""
    if z1.shape != z2.shape or z1.dim() != 2 or z1.shape[0] < 2:
        raise ValueError(f"need two (N, D) embeddings with N >= 2, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    z1, z2 = z1.float(), z2.float()
    n, d = z1.shape
    inv = F.mse_loss(z1, z2)
    var = 0.0
    cov = 0.0
    for z in (z1, z2):
        z = z - z.mean(0)
        std = torch.sqrt(z.var(0) + eps)
        var = var + F.relu(gamma - std).mean() / 2
        c = (z.t() @ z) / (n - 1)
        cov = cov + _off_diagonal(c).pow(2).sum() / d
    return sim_weight * inv + var_weight * var + cov_weight * cov
