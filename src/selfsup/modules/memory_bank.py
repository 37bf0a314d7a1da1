"""MemoryBank: one L2-normalised vector per training sample (Wu et al., 2018).

After each step the entries of the batch's samples are moved towards their new features::

    v_i <- normalize(m * v_i + (1 - m) * f_i)

With ``fill_on_first_visit`` a row that has never been written takes the sample's first
feature as it is (no mixing with its random initial vector), and :meth:`MemoryBank.positives`
answers the sample's own current feature for it: in a short run (one or two epochs, where most
rows are still random in the first epoch) the positive is then never a random target.

The bank is a registered buffer (saved in checkpoints). It doubles as a weighted kNN
classifier (:meth:`MemoryBank.knn_predict`, the paper's evaluation): a query's class scores
are ``sum_{j in top-k} exp(s_j / t) * onehot(y_j)`` over its k most similar bank entries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MemoryBank(nn.Module):
    """``num_samples`` x ``dim`` bank of unit vectors, initialised at random.

    Args:
        num_samples: number of training samples (dataset indices 0..N-1).
        dim: feature dimension.
        momentum: m in the update rule (0 = overwrite with the new feature).
        seed: seed of the random initial vectors.
        fill_on_first_visit: a row's first update overwrites its random initial vector.
    """

    bank: Tensor
    visited: Tensor

    def __init__(self, num_samples: int, dim: int, momentum: float = 0.5, seed: int = 0,
                 fill_on_first_visit: bool = False) -> None:
        super().__init__()
        if num_samples < 1 or dim < 1:
            raise ValueError("num_samples and dim must be >= 1")
        if not 0.0 <= momentum < 1.0:
            raise ValueError("momentum must be in [0, 1)")
        self.momentum = momentum
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("bank", F.normalize(torch.randn(num_samples, dim, generator=g), dim=1))
        self.register_buffer("visited", torch.zeros(num_samples, dtype=torch.bool))
        self.fill_on_first_visit = fill_on_first_visit

    def forward(self, idx: Tensor | None = None) -> Tensor:
        """Entries ``idx`` (or the whole bank), detached."""
        b = self.bank.detach()
        return b if idx is None else b[idx]

    @torch.no_grad()
    def update(self, idx: Tensor, features: Tensor) -> None:
        """Momentum update of rows ``idx`` with ``features`` (n, D); duplicates: the last wins."""
        f = F.normalize(features.detach().to(self.bank.dtype), dim=1)
        new = F.normalize(self.momentum * self.bank[idx] + (1.0 - self.momentum) * f, dim=1)
        if self.fill_on_first_visit:
            new = torch.where(self.visited[idx, None], new, f)
        self.bank[idx] = new
        self.visited[idx] = True

    def positives(self, idx: Tensor, features: Tensor) -> Tensor:
        """Rows ``idx`` as targets for ``features`` (n, D, unit): the bank row, or with
        ``fill_on_first_visit`` the detached feature itself for a row never written yet."""
        rows = self.bank[idx].detach()
        if not self.fill_on_first_visit:
            return rows
        return torch.where(self.visited[idx, None], rows, features.detach().to(rows.dtype))

    @torch.no_grad()
    def knn_predict(
        self, queries: Tensor, labels: Tensor, k: int = 200, temperature: float = 0.07, num_classes: int | None = None
    ) -> Tensor:
        """Weighted kNN labels of ``queries`` (B, D) against the bank whose sample j has ``labels[j]``."""
        num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
        q = F.normalize(queries.to(self.bank.dtype), dim=1)
        sims = q @ self.bank.t()  # (B, N)
        top, ind = sims.topk(min(k, self.bank.shape[0]), dim=1)
        w = (top / temperature).exp()
        scores = torch.zeros(q.shape[0], num_classes, dtype=w.dtype, device=w.device)
        scores.scatter_add_(1, labels.to(w.device)[ind], w)
        return scores.argmax(dim=1)
