"""What a training regime other than the dataset's mini-batches hands the engine (:func:`selfsup.train.run.pretrain`).

The default regime needs none of it: the engine batches the dataset with :class:`selfsup.train.loader.BatchLoader`,
plans the run with :func:`selfsup.train.config.plan_training`, builds the optimiser of ``cfg.optim`` and checkpoints
at epoch ends. A full-batch graph run replaces all of these (one batch an epoch, early stopping, its Adam).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from selfsup.methods.base import DataInfo
from selfsup.train.config import TrainingPlan


@dataclass
class RegimeHooks:
    """The engine's loader, plan, optimiser and callbacks, for a regime that brings its own.

    Attributes:
        loader: a training loader of the engine's interface in place of the dataset's ``BatchLoader`` (a full
            graph as one batch); needs ``plan`` and ``info``, and ``pretrain``'s ``method`` (a resumed run keeps
            the plan stored in run.json).
        plan: the training plan that goes with ``loader``.
        info: what the method knows of its inputs, with ``loader``.
        callbacks: more Lightning callbacks, run before the checkpoint callback (so a checkpoint holds their
            state after its step), e.g. full-batch early stopping.
        make_optimizer: ``method -> optimizer`` in place of the optimiser of ``cfg.optim``.
        checkpoint_epoch_ends: checkpoint at every epoch end (off for one-batch epochs, where
            ``ckpt_every_steps`` / ``ckpt_every_minutes`` and the stop say when).
    """

    loader: Any = None
    plan: TrainingPlan | None = None
    info: DataInfo | None = None
    callbacks: list[Any] = field(default_factory=list)
    make_optimizer: Callable[[torch.nn.Module], torch.optim.Optimizer] | None = None
    checkpoint_epoch_ends: bool = True

    def check(self, method: torch.nn.Module | None) -> None:
        """A ``loader`` comes with its ``plan``, ``info`` and an already built ``method``."""
        if self.loader is not None and (self.plan is None or self.info is None or method is None):
            raise ValueError("RegimeHooks(loader=...) needs plan and info, and pretrain(method=...)")
