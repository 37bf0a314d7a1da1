"""Thin loss modules over :mod:`selfsup.functional.noncontrastive`."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.functional.noncontrastive import (
    barlow_twins_loss,
    negative_cosine,
    vicreg_loss,
)


class NegativeCosineLoss(nn.Module):
    """Symmetric ``(-cos(p1, sg(z2)) - cos(p2, sg(z1))) / 2`` (SimSiam; BYOL up to an affine map)."""

    def forward(self, p1: Tensor, z1: Tensor, p2: Tensor, z2: Tensor) -> Tensor:
        return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))


class BarlowTwinsLoss(nn.Module):
    def __init__(self, lambd: float = 5e-3) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return barlow_twins_loss(z1, z2, self.lambd)


class VICRegLoss(nn.Module):
    def __init__(self, sim_weight: float = 25.0, var_weight: float = 25.0, cov_weight: float = 1.0) -> None:
        super().__init__()
        self.w = (sim_weight, var_weight, cov_weight)

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return vicreg_loss(z1, z2, *self.w)
