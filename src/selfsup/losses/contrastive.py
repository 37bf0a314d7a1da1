"""Module wrappers for the contrastive losses in :mod:`selfsup.functional`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.functional import info_nce, nce_log_z, nce_loss, nt_xent


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


class NCELoss(nn.Module):
    """Wu et al.'s NCE loss; see :func:`selfsup.functional.nce_loss`.

    Holds the partition-function estimate ``log Z`` as a registered buffer (``log_z``, NaN until
    estimated), so it is saved in ``state_dict`` / checkpoints and a resumed run keeps it. The
    estimate is an explicit call, made once on the first batch (:meth:`estimate`); :meth:`forward`
    never changes it.

    Args:
        temperature: t > 0.
        num_samples: n, the number of bank rows (the noise probability is 1 / n).
    """

    log_z: Tensor

    def __init__(self, temperature: float, num_samples: int) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.temperature = temperature
        self.num_samples = num_samples
        self.register_buffer("log_z", torch.tensor(float("nan"), dtype=torch.float64))

    @property
    def has_estimate(self) -> bool:
        return bool(torch.isfinite(self.log_z))

    @torch.no_grad()
    def estimate(self, neg: Tensor) -> None:
        """Set ``log Z`` from sampled similarities ``neg`` (any shape; see :func:`selfsup.functional.nce_log_z`)."""
        self.log_z.fill_(float(nce_log_z(neg, self.temperature, self.num_samples)))

    def forward(self, pos: Tensor, neg: Tensor) -> Tensor:
        if not self.has_estimate:
            raise RuntimeError("NCELoss: log Z has not been estimated yet (call .estimate(neg) on the first batch)")
        return nce_loss(pos, neg, self.temperature, self.log_z.to(pos.device), self.num_samples)
