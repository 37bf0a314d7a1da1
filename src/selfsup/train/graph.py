"""Full-batch training of node-level graph methods through the Lightning engine.

The graph is a loader of one batch (:class:`GraphLoader`): one optimizer step per epoch, the whole
graph each step, so a graph run gets the engine's checkpoints, exact resume, NaN guard, SIGTERM /
Ctrl-C at a step boundary, progress bar and ``max_minutes``. The optimiser is the one the first
full-batch loop used (Adam over every parameter with its coupled L2 ``weight_decay``, a constant lr).

Early stopping (:class:`EarlyStopping`) watches the training loss with a patience, but it is *armed*
only after ``min_epochs`` epochs **and** once the loss has left its starting plateau (fallen at least
``warmup_drop`` below the first epoch's loss). DGI's loss often sits at log 2 for the first epochs on
sparse high-dimensional graphs (CiteSeer); a bare patience of 20 then ends training at epoch ~23 with
a useless encoder. The reason for stopping is always recorded. With ``restore_best`` the callback keeps
the weights of the lowest-loss epoch and loads them when training ends; its whole state (the best
weights included) travels in the engine's checkpoints, so a resumed run stops where an uninterrupted
one stops and restores the same weights.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from selfsup.config import Checked, bounded
from selfsup.errors import UserError


@dataclass
class GraphTrainConfig(Checked):
    """Settings of full-batch graph training (a method's defaults override these via ``optim_defaults``).

    Attributes:
        epochs: maximum epochs (one full-batch Adam step each).
        lr: Adam learning rate.
        weight_decay: Adam weight decay (coupled L2, on every parameter).
        patience: stop after this many epochs without a training loss lower than the best by
            ``min_delta``; 0 switches early stopping off.
        min_epochs: early stopping is never armed before this epoch.
        warmup_drop: ... nor before the loss has fallen this much below the first epoch's loss.
        min_delta: an improvement smaller than this does not reset the patience counter.
        restore_best: at the end, load the weights of the epoch with the lowest training loss.
        max_minutes: wall-clock budget (0 = none).
        seed: initialisation and view/corruption seed.
        log_every: print the loss every this many epochs (0 = quiet).
    """

    epochs: int = bounded(300, ge=1)
    lr: float = bounded(0.001, gt=0)
    weight_decay: float = 0.0
    patience: int = bounded(20, ge=0)
    min_epochs: int = bounded(50, ge=0)
    warmup_drop: float = 0.05
    min_delta: float = 0.0
    restore_best: bool = True
    max_minutes: float = 0.0
    seed: int = 0
    log_every: int = 0


class GraphLoader:
    """A loader of one batch: the whole graph, once per epoch (the engine's loader interface:
    ``len``, ``iter``, a position state and ``set_distributed``)."""

    batch_size = 1

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.x = graph  # what a method's ``prepare`` would read (node methods have none)
        self.epoch = 0

    def set_distributed(self, rank: int, world: int) -> None:
        if world > 1:
            raise UserError("full-batch graph training runs in one process (the whole graph is one batch)",
                            hint="drop --set devices=... / strategy=... for graph methods")

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Any]:
        self.epoch += 1  # the cursor moves as the batch is handed out (as BatchLoader's does)
        yield self.graph

    def position_state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": 0}

    def load_position_state(self, state: dict[str, int]) -> None:
        """Every epoch is the same batch: only the count of epochs handed out is kept."""
        self.epoch = int(state["epoch"]) + (1 if int(state["position"]) >= 1 else 0)


def full_batch_adam(lr: float, weight_decay: float):
    """The optimiser of the first full-batch loop: ``Adam(method.parameters(), lr, weight_decay)``."""

    def make(method: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(method.parameters(), lr=lr, weight_decay=weight_decay)

    return make


@dataclass
class StoppingRule:
    """The early-stopping rule on the training loss, one :meth:`update` per epoch (pure bookkeeping)."""

    cfg: GraphTrainConfig
    best: float = math.inf
    best_epoch: int = 0
    wait: int = 0
    armed: bool = False
    epoch: int = 0
    losses: list[float] = field(default_factory=list)
    reason: str = ""
    stopped_early: bool = False

    def update(self, loss: float) -> tuple[bool, bool]:
        """Record epoch ``self.epoch + 1``'s loss; returns (a new best, stop now)."""
        c = self.cfg
        self.epoch += 1
        self.losses.append(loss)
        improved = loss < self.best - c.min_delta
        if improved:
            self.best, self.best_epoch, self.wait = loss, self.epoch, 0
        else:
            self.wait += 1
        if not self.armed and self.epoch >= c.min_epochs and self.best <= self.losses[0] - c.warmup_drop:
            self.armed, self.wait = True, 0  # patience counts from here: a plateau before this never stops training
        stop = bool(c.patience and self.armed and self.wait >= c.patience)
        if stop:
            self.stopped_early = True
            self.reason = (f"early stop at epoch {self.epoch}: no lower training loss for {c.patience} epochs "
                           f"(best {self.best:.4f} at epoch {self.best_epoch})")
        return improved, stop

    def stop_reason(self) -> str:
        """Why training ended (for run.json): the early stop, the budget, or the full run and whether the rule
        ever armed."""
        if self.stopped_early:
            return self.reason
        c = self.cfg
        if self.epoch < c.epochs:  # a finished run that is short of its epochs: the clock stopped it
            return (f"stopped at epoch {self.epoch}: the {c.max_minutes} minute budget ran out" if c.max_minutes
                    else f"stopped at epoch {self.epoch}")
        reason = f"ran the full {c.epochs} epochs"
        if c.patience and not self.armed and self.losses:
            reason += (f"; the loss never fell {c.warmup_drop} below its start ({self.losses[0]:.4f} -> best "
                       f"{self.best:.4f}), so early stopping was never armed: the encoder may not have learned")
        return reason

    STATE = ("best", "best_epoch", "wait", "armed", "epoch", "losses", "reason", "stopped_early")

    def state_dict(self) -> dict[str, Any]:
        return {k: copy.copy(getattr(self, k)) for k in self.STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self.STATE:
            setattr(self, k, copy.copy(state[k]))


class EarlyStopping(Callback):
    """The engine callback of :class:`StoppingRule`, and ``restore_best``: it keeps the best epoch's
    weights of ``method`` and loads them when training ends. Its state (the best weights included) is
    saved in every checkpoint. Must come before the checkpoint callback, so the checkpoint of a step
    holds the rule's state after that step."""

    def __init__(self, method: nn.Module, cfg: GraphTrainConfig) -> None:
        self.method = method
        self.cfg = cfg
        self.rule = StoppingRule(cfg)
        self.best_state: dict[str, torch.Tensor] | None = (
            _cpu_copy(method.state_dict()) if cfg.restore_best else None)

    @property
    def state_key(self) -> str:
        return "graph-early-stopping"

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = float(pl_module.last_loss)
        improved, stop = self.rule.update(loss)
        if improved and self.cfg.restore_best:
            self.best_state = _cpu_copy(self.method.state_dict())
        if self.cfg.log_every and self.rule.epoch % self.cfg.log_every == 0:
            print(f"epoch {self.rule.epoch:4d}  loss {loss:.4f}")
        if stop:
            trainer.should_stop = True

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.restore()

    def restore(self) -> None:
        """Load the best epoch's weights (``restore_best``; after at least one epoch)."""
        if self.cfg.restore_best and self.best_state is not None and self.rule.best_epoch:
            self.method.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict(), "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rule.load_state_dict(state_dict["rule"])
        self.best_state = state_dict.get("best_state")

    def record(self, seconds: float) -> dict[str, Any]:
        """The fit record of the first loop: epochs, best epoch and loss, stop reason, timings, losses."""
        r = self.rule
        return {"epochs": r.epoch, "best_epoch": r.best_epoch, "best_loss": r.best, "stop_reason": r.stop_reason(),
                "stopped_early": r.stopped_early or r.epoch < self.cfg.epochs, "train_seconds": round(seconds, 3),
                "seconds_per_epoch": seconds / max(r.epoch, 1), "losses": list(r.losses)}


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
