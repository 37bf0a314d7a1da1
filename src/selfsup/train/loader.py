"""A stateful loader over in-memory tensors: random permutations, batched indexing,
sharded across processes, and a state (epoch, position) that checkpoints restore."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from selfsup.errors import UserError


class BatchLoader:
    """Yield ``(x[idx], idx)`` batches from an in-memory tensor.

    The order of epoch ``e`` is ``randperm(N)`` from a generator seeded with
    ``seed + e``; process ``rank`` of ``world`` takes every ``world``-th index.

    The loader is one stream of batches: each ``iter()`` yields the rest of the epoch at its
    cursor (``epoch``, ``position``: the next batch to hand out), and the cursor moves on to
    the next epoch as the epoch's last batch is handed out, not when the consumer asks past
    it (Lightning's fetcher takes exactly ``len(loader)`` batches and never does).
    ``load_position_state`` sets the cursor, so a restored loader continues exactly where
    the last completed step left it. (Deliberately not named ``state_dict``: Lightning would
    then save and restore the loader itself, at the position of the batches it fetched,
    which need not be the batches whose step is done.)

    Args:
        x: (N, ...) inputs (uint8 images stay uint8).
        batch_size: samples per batch (per process).
        seed: base seed of the data order.
        drop_last: drop the last incomplete batch.
    """

    def __init__(self, x: Tensor, batch_size: int, seed: int = 0, drop_last: bool = True) -> None:
        if len(x) < batch_size and drop_last:
            raise UserError(f"batch size {batch_size} is larger than the dataset ({len(x)} samples)",
                            hint=f"pass --batch-size {max(2, len(x))} or smaller, or use more data")
        self.x = x
        self.batch_size = batch_size
        self.seed = seed
        self.drop_last = drop_last
        self.rank, self.world = 0, 1
        self.epoch = 0  # the cursor: epoch and batch of the next batch to hand out
        self.position = 0

    def set_distributed(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    def _indices(self, epoch: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed + epoch)
        perm = torch.randperm(len(self.x), generator=gen)
        n = len(perm) // self.world * self.world  # equal shards
        return perm[:n][self.rank :: self.world]

    def __len__(self) -> int:
        n = len(self.x) // self.world
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        # the body runs at the first next(), so the cursor is read when the batches are taken
        n_batches = len(self)
        epoch, start = self.epoch, self.position
        idx = self._indices(epoch)
        for pos in range(start, n_batches):
            b = idx[pos * self.batch_size : (pos + 1) * self.batch_size]
            # move the cursor before handing the batch out: after the last one it is already the
            # next epoch's start, whether or not the consumer asks for more
            self.epoch, self.position = (epoch + 1, 0) if pos + 1 == n_batches else (epoch, pos + 1)
            yield self.x[b], b

    def position_state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_position_state(self, state: dict[str, int]) -> None:
        """Set the cursor (a position at the end of an epoch is the next epoch's start)."""
        epoch, position = int(state["epoch"]), int(state["position"])
        n_batches = len(self)
        if position < 0 or position > n_batches:
            raise ValueError(f"data position {position} is outside an epoch of {n_batches} batches")
        self.epoch, self.position = (epoch + 1, 0) if position == n_batches else (epoch, position)


def batch_len(batch: Any) -> int:
    """Samples in a batch: ``len(x)`` of an ``(x, idx)`` batch, the nodes of a full graph (``num_nodes``)."""
    n = getattr(batch, "num_nodes", None)
    return int(n) if n is not None else len(batch[0])
