"""FeatureQueue: MoCo's first-in-first-out dictionary of keys (He et al., 2020).

The queue is a ``(K, D)`` buffer and a write pointer, both registered buffers, so they are
part of ``state_dict`` and of every checkpoint. ``enqueue`` writes the new keys at the pointer
and wraps around explicitly (a batch that crosses the end is split in two writes), so K need
not be a multiple of the batch size. In multi-process training, pass the keys gathered from
all processes so every rank's queue stays identical.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FeatureQueue(nn.Module):
    """A FIFO of ``size`` keys of dimension ``dim``, initialised with random unit vectors.

    Args:
        size: K, the number of keys kept.
        dim: key dimension.
        seed: seed of the random initial keys.
    """

    queue: Tensor
    ptr: Tensor
    filled: Tensor

    def __init__(self, size: int, dim: int, seed: int = 0) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError("size and dim must be >= 1")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("queue", F.normalize(torch.randn(size, dim, generator=g), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.queue.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` (n, D) after the newest entry, overwriting the oldest (wrapping around)."""
        keys = keys.detach().to(self.queue.dtype)
        k = self.size
        if keys.shape[0] > k:  # only the newest K survive
            keys = keys[-k:]
        n = keys.shape[0]
        p = int(self.ptr)
        first = min(n, k - p)
        self.queue[p : p + first] = keys[:first]
        if n > first:  # wrap-around
            self.queue[: n - first] = keys[first:]
        self.ptr.fill_((p + n) % k)
        self.filled.fill_(min(k, int(self.filled) + n))

    def forward(self) -> Tensor:
        """The current keys (K, D), detached (a queue never carries gradients)."""
        return self.queue.detach()
