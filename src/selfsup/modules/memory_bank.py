"""MemoryBank: one L2-normalised vector per training sample (Wu et al., 2018).

After each step the entries of the batch's samples are moved towards their new features::

    v_i <- normalize(m * v_i + (1 - m) * f_i)

With ``fill_on_first_visit`` a row that has never been written takes the sample's first
feature as it is (no mixing with its random initial vector), and :meth:`MemoryBank.positives`
answers the sample's own current feature for it: in a short run (one or two epochs, where most
rows are still random in the first epoch) the positive is then never a random target.

Negatives are drawn by :meth:`MemoryBank.sample_negatives`: a sample's own row is never one of
its negatives. K rows ``b_k`` are drawn uniformly from all ``n`` (one draw shared by the batch, as
before); where ``b_k`` is query i's own row, that entry takes ``r_k + [r_k >= own_i]`` instead, with
``r_k`` a second shared draw uniform on ``0..n-2`` (uniform over the rows other than ``own_i``).
Each query's K negatives are thus independent and uniform over its ``n - 1`` other rows, and only
the few hits (about ``B K / n`` a step) need a second look:
:meth:`MemoryBank.negative_similarities` is one (B, K) matmul plus a gather of the hits, never a
(B, K, D) gather. The number of random draws per step is fixed (2K), so processes that share a
seed keep drawing the same rows whatever their local batch holds.

The bank is a registered buffer (saved in checkpoints). It doubles as a weighted kNN
classifier (:meth:`MemoryBank.knn_predict`, the paper's evaluation): a query's class scores
are ``sum_{j in top-k} exp(s_j / t) * onehot(y_j)`` over its k most similar bank entries.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NegativeDraw(NamedTuple):
    """Negatives of a batch of B queries, K each: query i's k-th negative is ``base[k]``, except at the
    hits (``base[k] == own[i]``), listed in ``hit_query`` / ``hit_slot``, whose negative is ``hit_row``.

    Attributes:
        base: (K,) rows drawn uniformly from ``0..n-1``, shared by the batch.
        hit_query: (H,) query index i of each hit.
        hit_slot: (H,) slot k of each hit.
        hit_row: (H,) the replacement row, uniform over the rows other than ``own[i]``.
    """

    base: Tensor
    hit_query: Tensor
    hit_slot: Tensor
    hit_row: Tensor

    def indices(self, num_queries: int) -> Tensor:
        """(B, K) bank rows; row i never holds ``own[i]``."""
        rows = self.base[None, :].expand(num_queries, -1).clone()  # (B, K)
        rows[self.hit_query, self.hit_slot] = self.hit_row
        return rows


def sample_negatives(own: Tensor, num: int, num_rows: int, generator: torch.Generator | None = None) -> NegativeDraw:
    """``num`` negatives per query, independent and uniform over the ``num_rows - 1`` rows other than
    the query's own (see the module docstring for how).

    Args:
        own: (B,) each query's own row (its dataset index).
        num: K, negatives per query (drawn with replacement; K may exceed ``num_rows``).
        num_rows: n >= 2.
        generator: the random stream (a CPU generator; the draws are moved to ``own``'s device).
    """
    if num_rows < 2:
        raise ValueError(f"sampling negatives other than the own row needs >= 2 rows, got {num_rows}")
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    base = torch.randint(0, num_rows, (num,), generator=generator).to(own.device)  # (K,)
    redraw = torch.randint(0, num_rows - 1, (num,), generator=generator).to(own.device)  # (K,)
    cand = torch.isin(base, own).nonzero(as_tuple=True)[0]  # (C,) slots whose row is some query's own row
    hit_query, c = (base[cand][None, :] == own[:, None]).nonzero(as_tuple=True)  # (H,), (H,): a (B, C) test
    hit_slot = cand[c]
    r = redraw[hit_slot]
    return NegativeDraw(base, hit_query, hit_slot, r + (r >= own[hit_query]).long())


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

    def sample_negatives(self, own: Tensor, num: int, generator: torch.Generator | None = None) -> NegativeDraw:
        """``num`` negatives for each query of ``own`` (B,), never its own row; see :func:`sample_negatives`."""
        return sample_negatives(own, num, self.bank.shape[0], generator)

    def negative_similarities(self, features: Tensor, draw: NegativeDraw) -> Tensor:
        """(B, K) dot products of ``features`` (B, D) with each query's own negatives (bank detached)."""
        bank = self.bank.detach().to(features.dtype)
        sims = features @ bank[draw.base].t()  # (B, K): rows base[k]
        if draw.hit_query.numel() == 0:
            return sims
        fixed = (features[draw.hit_query] * bank[draw.hit_row]).sum(1)  # (H,): the redrawn rows
        return sims.index_put((draw.hit_query, draw.hit_slot), fixed)

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
