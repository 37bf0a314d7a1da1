"""The frame shared by the text methods (mlm, bert, nsp, utterance-order): a text encoder, the
seeded generator of masks / pairs / shuffles (its state is carried by checkpoints, so a resumed
run draws the same ones), no state between steps, ``embed`` = the encoder's pooled output.

Each method keeps its own pretext task and heads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.methods.base import DataInfo
from selfsup.modules.rng import DeviceGenerator

TEXT_OPTIM = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01, "warmup_epochs": 0.5}


class TextMethod(nn.Module):
    """Text encoder + ``rng`` (a :class:`DeviceGenerator` seeded ``cfg.seed``) + validated ``cfg``.

    Subclasses add their heads and define ``training_step`` and ``heldout_sums``.
    """

    def __init__(self, encoder: nn.Module, cfg) -> None:
        super().__init__()
        self.rng = DeviceGenerator(cfg.seed)  # masks / pairs / shuffles: carried by checkpoints
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder

    @classmethod
    def build(cls, cfg, encoder: nn.Module, info: DataInfo | None, *, aug: Any = None, seed: int = 0) -> TextMethod:
        """The :class:`MethodSpec` ``build``: the generator seeded by the run's ``seed``."""
        cfg.seed = seed
        return cls(encoder, cfg)

    def generator(self, device: torch.device) -> torch.Generator:
        """The method's generator on ``device``."""
        return self.rng.get(device)

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps."""

    @torch.no_grad()
    def embed(self, ids: Tensor) -> Tensor:
        return self.encoder(ids)
