"""Engine glue: one Lightning module that drives any method, optimisers, schedules,
stateful in-memory loaders and atomic checkpoints."""

from selfsup.train.config import TrainConfig
from selfsup.train.optim import OptimConfig, build_optimizer, lr_factor

__all__ = ["OptimConfig", "TrainConfig", "build_optimizer", "lr_factor"]
