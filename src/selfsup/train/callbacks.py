"""Callbacks: atomic periodic checkpoints, a plain CSV of training metrics and one progress bar per run."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, Timer, TQDMProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException

from selfsup.train.checkpoint import atomic_torch_save, prune_checkpoints
from selfsup.train.loader import batch_len


class AtomicCheckpoint(Callback):
    """Write ``checkpoints/step-XXXXXXXX.ckpt`` at each epoch end (unless ``epoch_end`` is off), every ``every_minutes`` and every
    ``every_steps``, when the step or time limit is reached, and when training stops (also on
    Ctrl-C / SIGTERM), keeping the ``keep`` newest.

    Every checkpoint of a step is written at the end of that step's batch (``on_train_batch_end``),
    the epoch-end one included (at the end of the epoch's last batch): Lightning restores its loop
    counters exactly from that moment, mid-epoch or at an epoch's last batch. A checkpoint dumped in
    ``on_train_epoch_end`` is not: with a step limit Lightning takes it for a restart "on epoch end",
    trains one more batch in the finished epoch and counts an epoch more, so the resumed run ends
    early (issue 16). ``on_train_end`` writes only a step that no batch-end checkpoint covered;
    such a checkpoint, and the epoch-end ones of earlier versions, are read back as the state at
    the end of their last batch (:func:`as_batch_end_state`).
    """

    def __init__(self, dirpath: Path, keep: int = 2, every_minutes: float = 5.0, every_steps: int = 0,
                 epoch_end: bool = True) -> None:
        self.dirpath = Path(dirpath)
        self.keep = keep
        self.every_s = every_minutes * 60
        self.every_steps = every_steps
        self.epoch_end = epoch_end  # off: one-batch epochs (a full graph) would checkpoint every step
        self._last = time.monotonic()
        self._last_step = -1

    def save(self, trainer: L.Trainer) -> Path | None:
        if trainer.global_step == self._last_step:
            return None
        ckpt = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        path = self.dirpath / f"step-{trainer.global_step:08d}.ckpt"
        if trainer.is_global_zero:
            atomic_torch_save(ckpt, path)
            prune_checkpoints(self.dirpath, self.keep)
        self._last = time.monotonic()
        self._last_step = trainer.global_step
        return path

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        by_steps = self.every_steps > 0 and step % self.every_steps == 0
        by_time = self.every_s > 0 and time.monotonic() - self._last >= self.every_s
        epoch_end = self.epoch_end and batch_idx + 1 >= trainer.num_training_batches
        last_step = trainer.max_steps is not None and 0 <= trainer.max_steps <= step
        if by_steps or by_time or epoch_end or last_step or _budget_spent(trainer):
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # runs before Lightning restores its loops from the same dict
        as_batch_end_state(checkpoint.get("loops") or {})

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # Ctrl-C / SIGTERM (Lightning's own SIGTERM handler raises SIGTERMException at the
        # end of the batch): keep the work done so far. Never after a training fault: the
        # last good checkpoint must stay the newest.
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.save(trainer)


def as_batch_end_state(loops: dict[str, Any]) -> bool:
    """Rewrite (in place) Lightning loop counters dumped after an epoch's batches were processed
    (in ``on_train_epoch_end`` or ``on_train_end``) into the counters at the end of the epoch's last
    processed batch, the moment Lightning resumes from exactly. Returns whether anything changed.

    After the batches: the fit loop's epoch is ``processed`` (``ready == started == processed``)
    and every batch is ``completed``. At the end of the last batch: the epoch is started but not
    processed, and that batch is processed but not completed (``_batches_that_stepped`` not yet
    counted). Any other state (a batch-end or batch-start checkpoint) is left as it is."""
    fit = loops.get("fit_loop") or {}
    epochs, batches = fit.get("epoch_progress"), fit.get("epoch_loop.batch_progress")
    try:
        e, b = epochs["total"], batches["total"]
        after_batches = e["ready"] == e["started"] == e["processed"] > 0 and (
            b["ready"] == b["started"] == b["processed"] == b["completed"] > 0)
        if not after_batches:
            return False
        for part in ("total", "current"):
            ep, bp = epochs[part], batches[part]
            ep["processed"] = ep["completed"] = max(0, ep["started"] - 1)
            bp["completed"] = max(0, bp["processed"] - 1)
    except (KeyError, TypeError):  # a loop layout this code does not know: leave it to Lightning
        return False
    state = fit.get("epoch_loop.state_dict") or {}
    if isinstance(state.get("_batches_that_stepped"), int) and state["_batches_that_stepped"] > 0:
        state["_batches_that_stepped"] -= 1
    return True


def _budget_spent(trainer: L.Trainer) -> bool:
    """Whether the run's time budget (Lightning's ``Timer``, ``max_time``) ends training after this batch.

    The Timer decides in its own ``on_train_batch_end``, which runs after ours, so the checkpoint
    of the last step is written here, at the batch end, rather than from ``on_train_end``."""
    for cb in trainer.callbacks:
        if isinstance(cb, Timer):
            left = cb.time_remaining()
            return left is not None and left <= 0
    return False


class MetricsCSV(Callback):
    """Append ``step, epoch, loss, lr, elapsed_s, samples_per_s`` rows to ``metrics.csv``."""

    FIELDS = ["step", "epoch", "loss", "lr", "elapsed_s", "samples_per_s"]

    def __init__(self, path: Path, every_steps: int = 10) -> None:
        self.path = Path(path)
        self.every = max(1, every_steps)
        self._t = time.monotonic()
        self._n = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and not self.path.exists():
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.FIELDS)
        self._t = time.monotonic()
        self._n = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._n += batch_len(batch) * trainer.world_size
        step = trainer.global_step
        if step % self.every != 0 or not trainer.is_global_zero:
            return
        now = time.monotonic()
        rate = self._n / max(now - self._t, 1e-9)
        self._t, self._n = now, 0
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow(
                [step, trainer.current_epoch, f"{pl_module.last_loss:.6f}", f"{lr:.6g}", f"{pl_module.elapsed():.2f}", f"{rate:.1f}"]
            )


class RunProgressBar(TQDMProgressBar):
    """One bar for the whole run instead of one per epoch: steps done of the planned steps (so the
    ETA is the run's, and a resumed run starts where it stopped), the epoch and the loss beside it.
    A run stopped by its clock budget has no step total: the bar counts steps and shows the budget.
    Small data (many one-batch epochs) then prints one bar, not one line per epoch."""

    def __init__(self, budget_s: float = 0.0) -> None:
        super().__init__()
        self.budget_s = budget_s

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        total = trainer.estimated_stepping_batches
        bar = self.train_progress_bar
        bar.reset(total=int(total) if total != float("inf") and total > 0 else None)
        bar.initial = 0
        bar.n = int(trainer.global_step)
        bar.set_description("pretraining")
        bar.refresh()

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:  # no per-epoch reset
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        self.train_progress_bar.set_description(
            f"pretraining, epoch {trainer.current_epoch + 1}" + (f"/{epochs}" if epochs else ""))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        bar = self.train_progress_bar
        n = int(trainer.global_step)
        if bar is not None and self._should_update(n, bar.total or 0):
            bar.n = n
            metrics = self.get_metrics(trainer, pl_module)
            if self.budget_s > 0:
                metrics["budget"] = f"{self.budget_s / 60:g} min"
            bar.set_postfix(metrics)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass  # the bar lives until the run ends

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        bar = self.train_progress_bar
        if bar is not None:
            bar.n = int(trainer.global_step)
            bar.refresh()
        super().on_train_end(trainer, pl_module)
