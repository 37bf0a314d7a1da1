"""NT-Xent with negatives from all processes (SimCLR across GPUs).

Each process holds its local ``(2n, D)`` embeddings (rows i and i + n are two views) and the
``(world * 2n, D)`` concatenation of every process's local block, rank by rank (e.g. from
:func:`selfsup.modules.distributed.gather_with_grad`). The local rows are the queries; all
other global rows are candidates. With ``world = 1`` this equals :func:`nt_xent`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


@float32_loss
def nt_xent_gathered(z_local: Tensor, z_all: Tensor, rank: int, temperature: float = 0.5) -> Tensor:
    """Mean NT-Xent over the local rows, against all gathered rows (pure function)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    m = z_local.shape[0]
    if z_local.dim() != 2 or m % 2 != 0 or m < 2 or z_all.shape[0] % m != 0:
        raise ValueError(f"bad shapes {tuple(z_local.shape)}, {tuple(z_all.shape)}")
    n = m // 2
    q = F.normalize(z_local.float(), dim=1)
    k = F.normalize(z_all.float(), dim=1)
    logits = q @ k.t() / temperature  # (2n, world*2n)
    offset = rank * m
    local = torch.arange(m, device=q.device)
    logits[local, offset + local] = float("-inf")
    target = offset + (local + n) % m
    return F.cross_entropy(logits, target)
