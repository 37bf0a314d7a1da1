"""The one Lightning module that drives any method."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from selfsup.errors import UserError
from selfsup.train.loader import BatchLoader
from selfsup.train.optim import OptimConfig, build_optimizer, lr_factor


class TrainingFault(UserError):
    """A training step produced a non-finite loss."""


def _rng_holders(method: nn.Module) -> list[Any]:
    """Objects with a seeded generator the checkpoint must carry (view pipelines)."""
    views = getattr(method, "views", None)
    holders = list(getattr(views, "pipelines", [])) if views is not None else []
    return [h for h in holders if hasattr(h, "state_dict") and hasattr(h, "load_state_dict")]


class SelfSupModule(L.LightningModule):
    """Drive ``method`` (the interface of :mod:`selfsup.methods.base`) with Lightning.

    Args:
        method: the method module.
        optim: optimiser and schedule settings.
        loader: the stateful training loader.
        epochs: planned epochs (for the schedule length).
        max_seconds: wall-clock budget; when ``schedule_by_time`` the schedule follows
            whichever of steps or time is further along, so a budgeted run still anneals.
        schedule_by_time: see ``max_seconds``.
    """

    def __init__(
        self,
        method: nn.Module,
        optim: OptimConfig,
        loader: BatchLoader,
        epochs: float,
        max_seconds: float = 0.0,
        schedule_by_time: bool = False,
    ) -> None:
        super().__init__()
        self.method = method
        self.optim_cfg = optim
        self.loader = loader
        self.epochs = epochs
        self.max_seconds = max_seconds
        self.schedule_by_time = schedule_by_time
        self.elapsed_before = 0.0  # training seconds of earlier (resumed) segments
        self._t0 = time.monotonic()
        self._pending_loader_state: dict[str, int] | None = None
        self._data_epoch = 0  # epoch of the data order being consumed
        self._data_pos = 0  # batches of it whose optimizer step is done
        self._resumed_mid_epoch = False
        self.last_loss = float("nan")
        self.stop_requested = False  # set by a SIGTERM handler: stop at the next step boundary

    # -- schedule ---------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def total_steps(self) -> int:
        return max(1, int(math.ceil(self.epochs * self.steps_per_epoch())))

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self._t0)

    def current_lr_factor(self) -> float:
        total = self.total_steps()
        warm = int(round(self.optim_cfg.warmup_epochs * self.steps_per_epoch()))
        step = self.global_step
        if self.schedule_by_time and self.max_seconds > 0:
            frac_time = self.elapsed() / self.max_seconds
            step = max(step, int(frac_time * total))
        return lr_factor(step, total, warm, self.optim_cfg)

    # -- Lightning hooks ---------------------------------------------------------
    def on_fit_start(self) -> None:
        self._t0 = time.monotonic()

    def train_dataloader(self) -> BatchLoader:
        self.loader.set_distributed(self.global_rank, self.trainer.world_size)
        if self._pending_loader_state is not None:
            self.loader.load_position_state(self._pending_loader_state)
            self._pending_loader_state = None
        return self.loader

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return build_optimizer(self.method, self.optim_cfg)

    def on_train_epoch_start(self) -> None:
        if self._resumed_mid_epoch:
            self._resumed_mid_epoch = False
        else:
            self._data_epoch, self._data_pos = self.loader.epoch, 0

    def data_state(self) -> dict[str, int]:
        """Where the data order stands after the last completed step.

        Kept here rather than read off the loader, which Lightning prefetches one batch ahead.
        """
        if self._data_pos >= len(self.loader):
            return {"epoch": self._data_epoch + 1, "position": 0}
        return {"epoch": self._data_epoch, "position": self._data_pos}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt  # handled like Ctrl-C: checkpoint, then a clean stop
        factor = self.current_lr_factor()
        for opt in self.trainer.optimizers:
            for g in opt.param_groups:
                g["lr"] = self.optim_cfg.lr * factor

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        out = self.method.training_step(batch)
        loss = out.loss
        if not torch.isfinite(loss):
            terms = ", ".join(f"{k}={v:.4g}" for k, v in out.logs.items())
            raise TrainingFault(
                f"non-finite loss at step {self.global_step} (epoch {self.current_epoch}): {terms}",
                hint="lower the learning rate, raise the temperature, or train in fp32 (--set precision=32); "
                "the last good checkpoint is kept in the run directory",
            )
        self.last_loss = float(loss.detach())
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, batch_size=len(batch[0]))
        for k, v in out.logs.items():
            if k != "loss":
                self.log(k, v, on_step=True, on_epoch=False, batch_size=len(batch[0]))
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimiser step, then the method's explicit state updates (EMA, queue, bank).

        Done here rather than in ``on_train_batch_end`` so that callbacks (checkpoints)
        that run at the end of the batch already see the updated state.
        """
        super().optimizer_step(*args, **kwargs)
        self._data_pos += 1
        hook = getattr(self.method, "on_after_optimizer_step", None)
        if hook is not None:
            hook(self.global_step)

    # -- checkpoint extras: RNG, data position, elapsed time ----------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["selfsup"] = {
            "loader": self.data_state(),
            "elapsed": self.elapsed(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": torch.from_numpy(np.frombuffer(np.random.get_state()[1].tobytes(), dtype=np.uint8).copy()),
            "python_rng_seed": random.getstate()[1][0],
            "aug_rng": [h.state_dict() for h in _rng_holders(self.method)],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        extra = checkpoint.get("selfsup")
        if not extra:
            return
        self._pending_loader_state = dict(extra["loader"])
        self._data_epoch = int(extra["loader"]["epoch"])
        self._data_pos = int(extra["loader"]["position"])
        self._resumed_mid_epoch = self._data_pos > 0
        self.elapsed_before = float(extra["elapsed"])
        torch.set_rng_state(extra["torch_rng"])
        for holder, state in zip(_rng_holders(self.method), extra.get("aug_rng", [])):
            holder.load_state_dict(state)
