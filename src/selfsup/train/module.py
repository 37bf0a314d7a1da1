"""The one Lightning module that drives any method."""

from __future__ import annotations

import math
import random
import time
import warnings
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from selfsup.errors import UserError
from selfsup.modules.rng import DeviceGenerator
from selfsup.train.loader import BatchLoader, batch_len
from selfsup.train.optim import OptimConfig, build_optimizer, lr_factor, set_schedules


class TrainingFault(UserError):
    """A training step produced a non-finite loss or gradient."""


class ResumeMismatch(UserError):
    """The training loop restored from a checkpoint does not stand where the data order stands."""


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


def _fmt_terms(logs: dict[str, Any]) -> str:
    out = []
    for k, v in logs.items():
        try:
            out.append(f"{k}={float(v):.4g}")
        except (TypeError, ValueError):
            continue
    return ", ".join(out) or "(the method logged no terms)"


def _rng_holders(method: nn.Module) -> list[Any]:
    """Objects with a seeded generator the checkpoint must carry (view pipelines)."""
    views = getattr(method, "views", None)
    holders = list(getattr(views, "pipelines", [])) if views is not None else []
    return [h for h in holders if hasattr(h, "state_dict") and hasattr(h, "load_state_dict")]


def _method_generators(method: nn.Module) -> dict[str, Any]:
    """The random streams a method holds itself (``torch.Generator`` or :class:`DeviceGenerator`
    attributes of its modules: frame samplers, token masks), by ``module.attribute`` name."""
    out: dict[str, Any] = {}
    for name, m in method.named_modules():
        for attr, v in sorted(vars(m).items()):
            if isinstance(v, (torch.Generator, DeviceGenerator)):
                out[f"{name}.{attr}"] = v
    return out


def _generator_state(g: Any) -> Any:
    return g.get_state() if isinstance(g, torch.Generator) else g.state_dict()


def _set_generator_state(g: Any, state: Any) -> None:
    if isinstance(g, torch.Generator):
        g.set_state(state)
    else:
        g.load_state_dict(state)


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
        on_nonfinite: "stop" raises :class:`TrainingFault` at the step whose loss or
            gradient is not finite (before any update); "skip" drops that step's update and
            the method's state update, and records the step in ``skipped_steps``.
        tag: identifies the run in checkpoints (``method``), checked when resuming.
        make_optimizer: ``method -> optimizer`` in place of :func:`build_optimizer` of ``optim``
            (full-batch graphs keep their first loop's Adam); the lr schedule of ``optim`` still applies.
    """

    def __init__(
        self,
        method: nn.Module,
        optim: OptimConfig,
        loader: BatchLoader,
        epochs: float,
        max_seconds: float = 0.0,
        schedule_by_time: bool = False,
        on_nonfinite: str = "stop",
        tag: dict[str, str] | None = None,
        make_optimizer: Any = None,
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
        # batches of the data stream (epoch e, batch b is batch e * len(loader) + b) whose optimizer
        # step is done: counted here, never read off Lightning's epoch hooks or the loader's cursor
        self._batches_done = 0
        self.last_loss = float("nan")
        self.stop_requested = False  # set by a SIGTERM handler: stop at the next step boundary
        self.on_nonfinite = on_nonfinite
        self.tag = dict(tag or {})
        self.make_optimizer = make_optimizer
        self.skipped_steps: list[int] = []
        self._skip_update = False  # this step's loss or gradient was not finite (skip mode)
        self._last_logs: dict[str, Any] = {}
        self._restored = False  # set when Lightning restores a checkpoint (a resumed run)

    # -- schedule ---------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def total_steps(self) -> int:
        return max(1, int(math.ceil(self.epochs * self.steps_per_epoch())))

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self._t0)

    def schedule_step(self) -> int:
        """The step the schedules are at: the optimizer step, or where the clock is when the schedule
        follows a time budget and the clock is further along."""
        step = self.global_step
        if self.schedule_by_time and self.max_seconds > 0:
            step = max(step, int(self.elapsed() / self.max_seconds * self.total_steps()))
        return step

    def current_lr_factor(self) -> float:
        warm = int(round(self.optim_cfg.warmup_epochs * self.steps_per_epoch()))
        return lr_factor(self.schedule_step(), self.total_steps(), warm, self.optim_cfg)

    def progress(self) -> float:
        """The fraction of the planned training done, in [0, 1] (what the per-step schedules of the
        weight decay and of a method, ``on_train_progress``, follow)."""
        return min(1.0, self.schedule_step() / self.total_steps())

    # -- Lightning hooks ---------------------------------------------------------
    def on_fit_start(self) -> None:
        self._t0 = time.monotonic()

    def on_train_start(self) -> None:
        # Here rather than in on_fit_start: Lightning's max_time clock starts in its own on_train_start
        # hook, which runs before this one, so the pass counts against the run's time budget.
        prepare = getattr(self.method, "prepare", None)
        if prepare is not None and not self._restored:  # a resumed run has its state in the checkpoint
            prepare(self.loader.x, self.loader.batch_size)

    def train_dataloader(self) -> BatchLoader:
        self.loader.set_distributed(self.global_rank, self.trainer.world_size)
        if self._pending_loader_state is not None:
            self.loader.load_position_state(self._pending_loader_state)
            self._pending_loader_state = None
        return self.loader

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.make_optimizer is not None:
            return self.make_optimizer(self.method)
        return build_optimizer(self.method, self.optim_cfg)

    def data_state(self) -> dict[str, int]:
        """Where the data order stands after the last completed step: the epoch and batch of the
        next batch to train (a completed epoch is the next epoch's batch 0).

        Counted from the completed steps rather than read off the loader, whose cursor is at the
        batches it handed out (a fetcher may take a batch ahead of the step that trains on it).
        """
        epoch, position = divmod(self._batches_done, len(self.loader))
        return {"epoch": epoch, "position": position}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt  # handled like Ctrl-C: checkpoint, then a clean stop
        expected = self._batches_done % len(self.loader)
        if batch_idx != expected:
            # Lightning's epoch and the data order disagree (a loop state restored at a moment its restart
            # logic does not handle): training on would silently skip or repeat data and end early
            ckpt = getattr(self.trainer, "ckpt_path", None) if self._restored else None
            where = f" restored from {ckpt}" if ckpt else ""
            raise ResumeMismatch(
                f"the training loop{where} is at batch {batch_idx} of its epoch {self.current_epoch}, but the data "
                f"order is at batch {expected} of epoch {self._batches_done // len(self.loader)} "
                f"({self._batches_done} steps done); continuing would not train what an uninterrupted run trains",
                hint=f"the checkpoint's loop counters are of a moment this Lightning ({L.__version__}) does not restart "
                "from exactly: resume from an earlier checkpoint (move the newer ones out of RUN_DIR/checkpoints) or start "
                "the run again, and report it")
        factor, progress = self.current_lr_factor(), self.progress()
        for opt in self.trainer.optimizers:
            set_schedules(opt, self.optim_cfg, factor, progress)
        hook = getattr(self.method, "on_train_progress", None)
        if hook is not None:  # the method's own per-step schedules (DINO: teacher temperature, EMA momentum)
            hook(progress)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        self._skip_update = False
        out = self.method.training_step(batch)
        loss = out.loss
        self._last_logs = {"loss": loss.detach(), **out.logs}
        if not _finite(loss.detach()):
            self._nonfinite("loss")
            return None  # Lightning then runs no backward; the optimiser finds no gradients
        self.last_loss = float(loss.detach())
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, batch_size=batch_len(batch))
        for k, v in out.logs.items():
            if k != "loss":
                self.log(k, v, on_step=True, on_epoch=False, batch_size=batch_len(batch))
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Catch non-finite gradients before they reach the weights (skip mode: drop them)."""
        if not self._skip_update and not self._fp16_scaled():
            grads = [p.grad for p in self.method.parameters() if p.grad is not None]
            if grads and not _finite(torch.stack(torch._foreach_norm(grads))):
                bad = [n for n, p in self.method.named_parameters() if p.grad is not None and not _finite(p.grad)]
                self._nonfinite("gradient", bad)
        if self._skip_update:
            optimizer.zero_grad(set_to_none=True)  # parameters without gradients are not updated

    def _fp16_scaled(self) -> bool:
        # fp16 mixed precision: the gradient scaler skips overflowing steps by design.
        return str(getattr(self.trainer, "precision", "")) == "16-mixed"

    def _nonfinite(self, what: str, params: list[str] | None = None) -> None:
        """Report a non-finite loss or gradient at the current step (raise, or mark for skipping)."""
        step = self.global_step
        where = f"step {step} (epoch {self.current_epoch}, batch {self._batches_done % len(self.loader)} of the epoch)"
        msg = f"non-finite {what} at {where}; loss terms: {_fmt_terms(self._last_logs)}"
        if params:
            msg += f"; non-finite gradients in {len(params)} parameter tensors, e.g. {', '.join(params[:3])}"
        if self.on_nonfinite == "skip":
            self._skip_update = True
            self.skipped_steps.append(step)
            warnings.warn(msg + "; the step's update was skipped (on_nonfinite=skip)", stacklevel=2)
            return
        raise TrainingFault(msg, hint=self._likely_causes())

    def _likely_causes(self) -> str:
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else self.optim_cfg.lr
        cfg = getattr(self.method, "cfg", None)
        temp = getattr(cfg, "temperature", None)
        precision = getattr(self.trainer, "precision", "?")
        causes = [
            f"a temperature too low for the precision (temperature={temp}; try --set temperature=0.2 or higher)"
            if temp is not None else "a temperature or scale too extreme for the precision",
            f"a learning rate too high (lr at this step {lr:.4g}; try --set lr=... lower or a longer warmup)",
            f"reduced precision overflowing (precision {precision}; try --set precision=32)",
        ]
        return ("likely causes: " + "; ".join(causes) + ". The run stopped before updating the weights; the last "
                "good checkpoint is the newest in RUN_DIR/checkpoints. Continue it with changed settings "
                "(selfsup pretrain --resume RUN_DIR --set lr=... / temperature=... / precision=32), or drop "
                "such steps with --set on_nonfinite=skip")

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimiser step, then the method's explicit state updates (EMA, queue, bank).

        Done here rather than in ``on_train_batch_end`` so that callbacks (checkpoints)
        that run at the end of the batch already see the updated state.
        """
        super().optimizer_step(*args, **kwargs)
        self._batches_done += 1
        hook = getattr(self.method, "on_after_optimizer_step", None)
        if hook is not None and not self._skip_update:
            hook(self.global_step)
        self._skip_update = False

    # -- checkpoint extras: RNG, data position, elapsed time ----------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from selfsup import __version__
        from selfsup.train.checkpoint import FORMAT

        np_state = np.random.get_state()
        py_state = random.getstate()
        checkpoint["selfsup"] = {
            "format": FORMAT,
            "selfsup_version": __version__,
            **self.tag,
            "loader": self.data_state(),
            "elapsed": self.elapsed(),
            "skipped_steps": list(self.skipped_steps),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy_rng": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "numpy_rng_pos": [int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python_rng": [int(py_state[0]), [int(v) for v in py_state[1]], py_state[2]],
            "aug_rng": [h.state_dict() for h in _rng_holders(self.method)],
            "method_rng": {k: _generator_state(g) for k, g in _method_generators(self.method).items()},
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._restored = True
        extra = checkpoint.get("selfsup")
        if not extra:
            return
        epoch, position = int(extra["loader"]["epoch"]), int(extra["loader"]["position"])
        self._batches_done = epoch * len(self.loader) + position
        self._pending_loader_state = self.data_state()
        self.elapsed_before = float(extra["elapsed"])
        self.skipped_steps = [int(v) for v in extra.get("skipped_steps", [])]
        torch.set_rng_state(extra["torch_rng"])
        cuda = extra.get("cuda_rng") or []
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        if "numpy_rng_pos" in extra:
            pos, has_gauss, gauss = extra["numpy_rng_pos"]
            keys = extra["numpy_rng"].numpy().astype(np.uint32)
            np.random.set_state(("MT19937", keys, int(pos), int(has_gauss), float(gauss)))
        if "python_rng" in extra:
            version, internal, gauss_next = extra["python_rng"]
            random.setstate((int(version), tuple(int(v) for v in internal), gauss_next))
        for holder, state in zip(_rng_holders(self.method), extra.get("aug_rng", [])):
            holder.load_state_dict(state)
        saved = extra.get("method_rng", {})
        for key, g in _method_generators(self.method).items():
            if key in saved:
                _set_generator_state(g, saved[key])
