"""Multi-process helpers (torch.distributed only; every function is the identity in one process).

* :func:`gather_with_grad` concatenates a tensor from all processes. Its backward sums the
  incoming gradient over processes (all-reduce) and returns the local slice, so the gradient
  that other processes' losses send to *this* process's rows is not lost. With the usual DDP
  gradient averaging (divide by world size) a per-process mean loss then gives exactly the
  gradient of the mean loss over the concatenated global batch.
* :func:`gather_no_grad`: the same without autograd (keys for queues and banks).
* :func:`all_reduce_sum`: the sum of a tensor over processes, without autograd (DINO's centre:
  the sum and count of the teacher's outputs over the global batch).
* :func:`batch_shuffle` / :func:`batch_unshuffle`: MoCo's shuffle-BN across processes: the
  global batch is permuted (same permutation on every rank, from a shared seed), each rank
  takes its slice, and ``batch_unshuffle`` restores the original rows exactly.
* :func:`grouped_forward`: the single-process equivalent of shuffle-BN. The batch is split
  into ``groups`` chunks that go through the module separately, so BatchNorm statistics are
  computed per chunk; with a random permutation of the key batch (``perm``), query ``i`` and
  key ``i`` are normalised with different sets of samples, which is what shuffle-BN achieves
  across GPUs (He et al. 2020, section 3.3).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


def world_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        rank, world = world_info()
        ctx.rank, ctx.n = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_with_grad(x: Tensor) -> Tensor:
    """All-gather ``x`` (same shape on every rank) along dim 0, keeping gradients (see module doc)."""
    _, world = world_info()
    if world == 1:
        return x
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def gather_no_grad(x: Tensor) -> Tensor:
    """All-gather without autograd (identity in one process)."""
    _, world = world_info()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def all_reduce_sum(x: Tensor) -> Tensor:
    """The element-wise sum of ``x`` over processes, as a new tensor (a copy of ``x`` in one process)."""
    out = x.detach().clone()
    _, world = world_info()
    if world > 1:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


@torch.no_grad()
def batch_shuffle(x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Shuffle the global batch across processes; returns (local shuffled slice, index to unshuffle).

    Every rank draws the same permutation: rank 0's is broadcast so no shared seed is assumed.
    In one process the batch is permuted locally.
    """
    rank, world = world_info()
    n = x.shape[0]
    full = gather_no_grad(x)
    perm = torch.randperm(full.shape[0], generator=generator, device="cpu").to(x.device)
    if world > 1:
        dist.broadcast(perm, src=0)
    unshuffle = torch.argsort(perm)
    local = perm[rank * n : (rank + 1) * n]
    return full[local], unshuffle


@torch.no_grad()
def batch_unshuffle(x: Tensor, unshuffle: Tensor) -> Tensor:
    """Undo :func:`batch_shuffle` on the outputs ``x`` (local rows) -> the local rows in original order."""
    rank, _ = world_info()
    n = x.shape[0]
    full = gather_no_grad(x)
    return full[unshuffle[rank * n : (rank + 1) * n]]


def grouped_forward(module: nn.Module, x: Tensor, groups: int, perm: Tensor | None = None) -> Tensor:
    """Run ``module`` on ``groups`` chunks of ``x`` separately (per-chunk BatchNorm statistics).

    With ``perm`` the rows are permuted before chunking and the outputs put back in the
    original order, so row ``i``'s normalisation group is random. ``groups=1`` and no
    ``perm`` is a plain call.
    """
    if groups <= 1 and perm is None:
        return module(x)
    xs = x[perm] if perm is not None else x
    out = torch.cat([module(c) for c in xs.chunk(max(groups, 1))])
    if perm is not None:
        out = out[torch.argsort(perm)]
    return out
