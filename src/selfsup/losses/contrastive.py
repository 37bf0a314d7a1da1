"""Module wrappers for the contrastive losses in :mod:`selfsup.functional`."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.functional import info_nce, nt_xent


class NTXentLoss(nn.Module):
    """SimCLR's NT-Xent; see :func:`selfsup.functional.nt_xent`."""

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z: Tensor) -> Tensor:
        return nt_xent(z, self.temperature)


class InfoNCELoss(nn.Module):
    """InfoNCE with explicit negatives; see :func:`selfsup.functional.info_nce`."""

    def __init__(self, temperature: float = 0.1, normalize: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.normalize = normalize

    def forward(self, query: Tensor, positive: Tensor, negatives: Tensor) -> Tensor:
        return info_nce(query, positive, negatives, self.temperature, normalize=self.normalize)
