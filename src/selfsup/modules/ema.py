"""Momentum (EMA) copies of networks: MoCo's key encoder, BYOL's target network.

:func:`momentum_copy` deep-copies a module and sets ``requires_grad=False`` on every
parameter, so no gradient reaches it and :func:`selfsup.train.optim.param_groups` (which only
takes parameters with ``requires_grad``) leaves it out of the optimizer. Its parameters are
still in ``state_dict`` (checkpointed). :func:`ema_update` moves it towards the online
network after each optimizer step::

    theta_target <- m * theta_target + (1 - m) * theta_online

Buffers (BatchNorm running statistics) are copied as-is.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy of ``module`` (no gradients, not optimised)."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``target <- momentum * target + (1 - momentum) * online`` for parameters; buffers copied."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError("momentum must be in [0, 1]")
    for pt, po in zip(target.parameters(), online.parameters(), strict=True):
        pt.mul_(momentum).add_(po.detach(), alpha=1.0 - momentum)
    for bt, bo in zip(target.buffers(), online.buffers(), strict=True):
        bt.copy_(bo)


def cosine_momentum(base: float, step: int, total_steps: int) -> float:
    """BYOL's schedule: ``1 - (1 - base) * (cos(pi * step / total) + 1) / 2`` (``base`` if total <= 0)."""
    if total_steps <= 0:
        return base
    t = min(step, total_steps) / total_steps
    return 1.0 - (1.0 - base) * (math.cos(math.pi * t) + 1.0) / 2.0
