"""Callbacks: atomic periodic checkpoints and a plain CSV of training metrics."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from selfsup.train.checkpoint import atomic_torch_save, prune_checkpoints


class AtomicCheckpoint(Callback):
    """Write ``checkpoints/step-XXXXXXXX.ckpt`` at each epoch end, every
    ``every_minutes`` and every ``every_steps`` inside an epoch, and when training stops
    (also on Ctrl-C / SIGTERM), keeping the ``keep`` newest."""

    def __init__(self, dirpath: Path, keep: int = 2, every_minutes: float = 5.0, every_steps: int = 0) -> None:
        self.dirpath = Path(dirpath)
        self.keep = keep
        self.every_s = every_minutes * 60
        self.every_steps = every_steps
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

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        by_steps = self.every_steps > 0 and trainer.global_step % self.every_steps == 0
        if by_steps or (self.every_s > 0 and time.monotonic() - self._last >= self.every_s):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # Ctrl-C / SIGTERM (Lightning's own SIGTERM handler raises SIGTERMException at the
        # end of the batch): keep the work done so far. Never after a training fault: the
        # last good checkpoint must stay the newest.
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.save(trainer)


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
        self._n += len(batch[0]) * trainer.world_size
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
