"""A method's own random stream (masks, pairings, sampled frames) that checkpoints can carry."""

from __future__ import annotations

import torch
from torch import Tensor


class DeviceGenerator:
    """One ``torch.Generator`` per device, seeded with ``seed`` and made on first use.

    ``state_dict``/``load_state_dict`` carry the streams through a checkpoint, so a resumed run
    draws what the uninterrupted run would have drawn; a state loaded before the generator of its
    device exists (a resume loads the checkpoint before the first step) is applied when it is made.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._gens: dict[str, torch.Generator] = {}
        self._pending: dict[str, Tensor] = {}

    def get(self, device: torch.device | str) -> torch.Generator:
        key = str(torch.device(device))
        g = self._gens.get(key)
        if g is None:
            g = torch.Generator(device=key).manual_seed(self.seed)
            if key in self._pending:
                g.set_state(self._pending.pop(key))
            self._gens[key] = g
        return g

    def state_dict(self) -> dict[str, Tensor]:
        return {**self._pending, **{k: g.get_state() for k, g in self._gens.items()}}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for key, s in state.items():
            if key in self._gens:
                self._gens[key].set_state(s)
            else:
                self._pending[key] = s
