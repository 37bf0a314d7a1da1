"""Run-level (non-method) settings, and the plan they give on a dataset of a given size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.train.precision import DEFAULT_PRECISION, PRECISIONS

DEFAULT_BATCH_SIZE = 256
DEFAULT_EPOCHS = 10
# the schedule length given to a run that its time budget stops: the lr then follows the clock alone
BUDGET_SCHEDULE_EPOCHS = 1e6


@dataclass
class TrainConfig(Checked):
    """How a pretraining run is driven.

    Attributes:
        epochs: passes over the training set. Given (``--epochs``), it is always obeyed (a budget
            can stop earlier). Left unset (None, the default), the data and the budget decide: with
            ``max_minutes`` the budget is the stopping rule (the run trains until the clock, its lr
            annealed by the clock); without one, 10 epochs, or more whole epochs where 10 would give
            fewer than ``min_steps`` optimizer steps (small data). ``run.json``'s ``training_plan``
            says which rule a run used and why.
        batch_size: samples per step per process. Given, a batch larger than the training data (per
            process) is an error. Left unset (None, the default): 256, or the whole training set when it
            holds fewer samples (one line says so, and ``run.json``'s ``training_plan``).
        min_steps: the fewest optimizer steps a run without ``epochs`` and without a budget takes
            (small data): 10 epochs of 160 images at batch 160 are 10 steps, too few to learn from.
        max_minutes: wall-clock budget for training (0 = none).
        seed: seed for weights, data order and augmentation.
        precision: "32", "bf16-mixed" (bf16 autocast of the forward pass; losses in fp32), "auto" (bf16-mixed
            where the GPU or CPU does bf16 natively, else 32), "auto-gpu" (bf16-mixed on GPUs only), "16-mixed"
            (see :mod:`selfsup.train.precision`). Default :data:`~selfsup.train.precision.DEFAULT_PRECISION`.
            A run stores the precision it resolved to, and a resume keeps it.
        accelerator: Lightning accelerator ("auto", "cpu", "gpu", ...).
        devices: Lightning devices ("auto", an int, or a list like "0,1").
        num_nodes: machines for multi-node runs.
        strategy: Lightning strategy ("auto", "ddp", ...).
        sync_batchnorm: convert BatchNorm to SyncBatchNorm across processes.
        ckpt_every_minutes: also checkpoint this often inside an epoch (0 = epoch ends only).
        ckpt_every_steps: also checkpoint every this many optimizer steps (0 = off); a
            killed run then loses at most this many steps.
        keep_checkpoints: how many recent checkpoints to keep.
        on_nonfinite: what a non-finite loss or gradient does: "stop" the run (the last good
            checkpoint stays the newest) or "skip" the step (no update; listed in run.json).
        train_samples: train on the first N training samples only (0 = all), for quick trials.
        threads: CPU threads for torch (0 = torch's default).
        log_every_steps: how often a row is written to metrics.csv.
        data_cache: where ``folder:`` / ``npz:`` images are decoded to: "memory" (one uint8 tensor),
            "disk" (the on-disk cache, read by index: data larger than memory), or "auto" (the disk
            cache when the decoded images would take more than half of the memory available).
        cache_dir: the on-disk cache's folder ("" = ``$SELFSUP_CACHE_DIR``, else ``~/.cache/selfsup/decoded``).
    """

    epochs: float | None = None
    batch_size: int | None = bounded(None, ge=2)
    min_steps: int = bounded(1000, ge=1)
    max_minutes: float = bounded(0.0, ge=0)
    seed: int = 0
    precision: str = DEFAULT_PRECISION
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    sync_batchnorm: bool = False
    ckpt_every_minutes: float = 5.0
    ckpt_every_steps: int = bounded(0, ge=0)
    keep_checkpoints: int = bounded(2, ge=1)
    on_nonfinite: str = "stop"
    train_samples: int = bounded(0, ge=0)
    threads: int = 0
    log_every_steps: int = 10
    data_cache: str = "auto"
    cache_dir: str = ""

    def validate(self) -> None:
        super().validate()
        if self.epochs is not None and self.epochs <= 0:
            raise UserError(f"epochs must be > 0, got {self.epochs}",
                            hint="leave it unset to let the data size and --max-minutes decide")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision '{self.precision}'", hint=f"use one of {', '.join(PRECISIONS)}")
        if self.data_cache not in ("auto", "memory", "disk"):
            raise UserError(f"unknown data_cache '{self.data_cache}'", hint="use auto, memory or disk")
        if self.on_nonfinite not in ("stop", "skip"):
            raise UserError(f"unknown on_nonfinite '{self.on_nonfinite}'", hint="use stop or skip")

# stopping rules of a :class:`TrainingPlan`
STOP_RULES = ("epochs", "budget", "default_epochs", "min_steps")


@dataclass
class TrainingPlan:
    """What a :class:`TrainConfig` becomes on a dataset: the batch size used and the stopping rule.

    Written to ``run.json`` (``training_plan``) when a run starts; a resumed run follows its
    first segment's plan.

    Attributes:
        batch_size: samples per step per process, as used.
        batch_size_requested: the configured batch size (None: not given, the default applied).
        batch_note: why the batch size differs from the request or the default ("" if it does not).
        stop_rule: "epochs" (given), "budget" (max_minutes, no epochs: until the clock),
            "default_epochs" (10 epochs) or "min_steps" (small data: the epochs that reach min_steps).
        epochs: planned passes over the data (None for "budget": as many as the clock allows).
        max_steps: planned optimizer steps (None for "budget").
        steps_per_epoch: optimizer steps of one pass.
        samples: training samples per process.
        stop_note: the stopping rule in words, and why it was chosen.
    """

    batch_size: int
    batch_size_requested: int | None
    batch_note: str
    stop_rule: str
    epochs: float | None
    max_steps: int | None
    steps_per_epoch: int
    samples: int
    stop_note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingPlan:
        plan = cls(**{k: d.get(k) for k in cls.__dataclass_fields__})
        if plan.stop_rule not in STOP_RULES:
            raise UserError(f"unknown stopping rule '{plan.stop_rule}' in run.json's training_plan",
                            hint=f"one of {', '.join(STOP_RULES)}; restore run.json, or start a new run")
        return plan

    def schedule_epochs(self) -> float:
        """The run length the lr schedule spans, in epochs (a budget run's schedule follows the clock)."""
        return BUDGET_SCHEDULE_EPOCHS if self.epochs is None else self.epochs


def plan_training(train: TrainConfig, samples: int, world: int = 1) -> TrainingPlan:
    """The batch size and the stopping rule of a run of ``train`` on ``samples`` training samples.

    Args:
        train: the run settings (``epochs`` / ``batch_size`` None where the user gave none).
        samples: training samples (after ``train_samples``), over all processes.
        world: processes the data is sharded over (each takes ``samples // world``).

    Raises:
        UserError: a given batch size larger than the data, or fewer than 2 samples per process.
    """
    per_process = samples // max(1, world)
    where = f" per process ({samples} over {world} processes)" if world > 1 else ""
    if per_process < 2:
        raise UserError(f"too little training data: {per_process} samples{where}; a step needs at least 2",
                        hint="use more data (or fewer processes)")
    requested = train.batch_size
    if requested is not None:
        if requested > per_process:
            raise UserError(f"batch size {requested} is larger than the dataset ({per_process} samples{where})",
                            hint=f"pass --batch-size {per_process} or smaller, or leave --batch-size out to let the "
                            "run fit the batch to the data, or use more data")
        batch, batch_note = requested, ""
    elif DEFAULT_BATCH_SIZE > per_process:
        batch = per_process
        batch_note = (f"the default batch size {DEFAULT_BATCH_SIZE} is larger than the {per_process} training "
                      f"samples{where}: using batch size {batch}, the whole training set in each step "
                      "(pass --batch-size to choose)")
    else:
        batch, batch_note = DEFAULT_BATCH_SIZE, ""
    per_epoch = per_process // batch  # the loader drops the last incomplete batch
    if train.epochs is not None:
        epochs = train.epochs
        steps = max(1, math.ceil(epochs * per_epoch))
        budget = (f"; the {train.max_minutes:g}-minute budget stops it earlier if it ends first"
                  if train.max_minutes > 0 else "")
        return TrainingPlan(batch, requested, batch_note, "epochs", epochs, steps, per_epoch, per_process,
                            f"{epochs:g} epochs as given ({steps} steps of batch {batch}){budget}")
    if train.max_minutes > 0:
        return TrainingPlan(batch, requested, batch_note, "budget", None, None, per_epoch, per_process,
                            f"until the {train.max_minutes:g}-minute budget ends (--max-minutes without --epochs; "
                            "the lr is annealed by the clock; pass --epochs to stop after a number of passes)")
    default_steps = DEFAULT_EPOCHS * per_epoch
    if default_steps >= train.min_steps:
        return TrainingPlan(batch, requested, batch_note, "default_epochs", float(DEFAULT_EPOCHS), default_steps,
                            per_epoch, per_process,
                            f"the default {DEFAULT_EPOCHS} epochs ({default_steps} steps of batch {batch}; "
                            "pass --epochs or --max-minutes to choose)")
    epochs_needed = math.ceil(train.min_steps / per_epoch)
    steps = epochs_needed * per_epoch
    return TrainingPlan(batch, requested, batch_note, "min_steps", float(epochs_needed), steps, per_epoch, per_process,
                        f"{epochs_needed} epochs ({steps} steps of batch {batch}): the default {DEFAULT_EPOCHS} epochs "
                        f"would be only {default_steps} steps on {per_process} samples, fewer than min_steps="
                        f"{train.min_steps} (pass --epochs, --max-minutes or --set min_steps=N to choose)")
