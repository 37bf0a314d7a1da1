"""Shared scaffolding of the tests that hold a 2-process CPU (gloo) run against one process on the whole
batch: start the ranks, average a step's loss and gradients over them as DDP does, take a plain SGD step,
compare with one tolerance.

Tolerance: atol 1e-5, rtol 1e-4 (float32; only the order of summation differs between the two runs).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

ATOL, RTOL = 1e-5, 1e-4


def _rank_main(rank: int, world: int, init_file: str, out_dir: str, fn: Callable[[int, int], Any]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.save(fn(rank, world), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_ranks(fn: Callable[[int, int], Any], world: int = 2) -> list[Any]:
    """``fn(rank, world)`` in ``world`` gloo processes (one thread each); what each returned, by rank.
    ``fn`` must be a module-level function (it is pickled to the spawned processes)."""
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_rank_main, args=(world, os.path.join(d, "init"), d, fn), nprocs=world, join=True)
        return [torch.load(os.path.join(d, f"rank{r}.pt")) for r in range(world)]


def one_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` at one torch thread, as each rank runs (the thread count restored after)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(n)


def rank_rows(rank: int, world: int, batch: int) -> slice:
    """The rows of a global batch of ``batch`` that rank ``rank`` of ``world`` trains on."""
    n = batch // world
    return slice(rank * n, (rank + 1) * n)


def averaged_step(model: nn.Module, loss: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Backward of ``loss``; the loss and the gradients averaged over the ranks (what DDP does with the
    gradients; the loss averaged to compare it), as detached copies."""
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}
    loss = loss.detach().clone()
    world = dist.get_world_size() if dist.is_initialized() else 1
    if world > 1:
        for t in (loss, *grads.values()):
            dist.all_reduce(t)
            t /= world
    return loss, grads


def sgd_step(model: nn.Module, grads: dict[str, torch.Tensor], lr: float) -> None:
    """One plain gradient step with ``grads`` (the same on every rank), gradients cleared."""
    with torch.no_grad():
        for k, p in model.named_parameters():
            if p.requires_grad:
                p.sub_(lr * grads[k])
                p.grad = None


def assert_close(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL, msg=lambda m: f"{what}: {m}")
