"""The frame shared by the series methods (cpc, temporal-contrast, ts2vec): an encoder of
(B, C, T) series (NaN right-padding marks unequal lengths), the seeded view generator, no state
between steps, ``embed`` = the encoder on the whole series (pooled over its real steps).

Each method keeps its own pretext task and heads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.augment.sequence import jitter, scaling
from selfsup.functional.padding import trim_padding
from selfsup.methods.base import DataInfo


def scale_then_jitter(x: Tensor, scale_std: float, noise_std: float, gen: torch.Generator) -> Tensor:
    """Per-channel scaling (std ``scale_std``) then additive noise (std ``noise_std``); a zero std skips its step."""
    if scale_std > 0:
        x = scaling(x, scale_std, gen)
    if noise_std > 0:
        x = jitter(x, noise_std, gen)
    return x


class SeriesMethod(nn.Module):
    """Series encoder + the view generator seeded ``cfg.seed`` + validated ``cfg``.

    Subclasses add their heads and define ``training_step``.
    """

    def __init__(self, encoder: nn.Module, cfg) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.gen = torch.Generator().manual_seed(cfg.seed)

    @classmethod
    def build(cls, cfg, encoder: nn.Module, info: DataInfo, *, aug: Any = None, seed: int = 0) -> SeriesMethod:
        """The :class:`MethodSpec` ``build``: the view generator seeded by the run's ``seed`` (``aug`` is
        unused: series methods make their own views)."""
        cfg.seed = seed
        return cls(encoder, cfg)

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """(B, C, T) -> (B, D): the encoder's representation of the whole series, pooled over its real steps."""
        return self.encoder(trim_padding(x.float()))
