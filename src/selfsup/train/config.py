"""Run-level (non-method) settings."""

from __future__ import annotations

from dataclasses import dataclass

from selfsup.errors import UserError


@dataclass
class TrainConfig:
    """How a pretraining run is driven.

    Attributes:
        epochs: passes over the training set (a budget can stop earlier).
        batch_size: samples per step per process.
        max_minutes: wall-clock budget for training (0 = none).
        seed: seed for weights, data order and augmentation.
        precision: "auto" (bf16 mixed on GPUs that support it, else fp32), "32", "bf16-mixed", "16-mixed".
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
    """

    epochs: float = 10
    batch_size: int = 256
    max_minutes: float = 0.0
    seed: int = 0
    precision: str = "auto"
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    sync_batchnorm: bool = False
    ckpt_every_minutes: float = 5.0
    ckpt_every_steps: int = 0
    keep_checkpoints: int = 2
    on_nonfinite: str = "stop"
    train_samples: int = 0
    threads: int = 0
    log_every_steps: int = 10

    def validate(self) -> None:
        if self.epochs <= 0:
            raise UserError(f"epochs must be > 0, got {self.epochs}")
        if self.batch_size < 2:
            raise UserError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.max_minutes < 0:
            raise UserError("max_minutes must be >= 0")
        if self.precision not in ("auto", "32", "32-true", "bf16-mixed", "16-mixed", "bf16-true"):
            raise UserError(f"unknown precision '{self.precision}'", hint="use auto, 32, bf16-mixed or 16-mixed")
        if self.keep_checkpoints < 1:
            raise UserError("keep_checkpoints must be >= 1")
        if self.ckpt_every_steps < 0:
            raise UserError("ckpt_every_steps must be >= 0 (0 = off)")
        if self.on_nonfinite not in ("stop", "skip"):
            raise UserError(f"unknown on_nonfinite '{self.on_nonfinite}'", hint="use stop or skip")
        if self.train_samples < 0:
            raise UserError("train_samples must be >= 0 (0 = all)")
