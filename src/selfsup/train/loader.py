"""A stateful loader over in-memory tensors: random permutations, batched indexing,
sharded across processes, and a state (epoch, position) that checkpoints restore."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from selfsup.errors import UserError


class BatchLoader:
    """Yield ``(x[idx], idx)`` batches from an in-memory tensor.

    The order of epoch ``e`` is ``randperm(N)`` from a generator seeded with
    ``seed + e``; process ``rank`` of ``world`` takes every ``world``-th index.
    ``position_state`` records the epoch and the number of batches already taken, so
    a restored loader continues exactly where it stopped. (Deliberately not named
    ``state_dict``: Lightning would then save and restore the loader itself, at its
    prefetched position, one batch ahead of the last completed step.)

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
        self.epoch = 0
        self.position = 0  # batches already yielded in the current epoch
        self._resume = False

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
        if not self._resume:
            self.position = 0
        self._resume = False
        idx = self._indices(self.epoch)
        n_batches = len(self)
        while self.position < n_batches:
            b = idx[self.position * self.batch_size : (self.position + 1) * self.batch_size]
            self.position += 1
            yield self.x[b], b
        self.epoch += 1
        self.position = 0

    def position_state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_position_state(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._resume = True
