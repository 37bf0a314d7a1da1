"""Optimisers (Adam, AdamW, SGD, LARS), the warmup + cosine learning-rate schedule and the
optional cosine weight-decay schedule, each a function of the step (or the training progress)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.modules.schedules import cosine_between


@dataclass
class OptimConfig(Checked):
    """Optimiser and schedule.

    Attributes:
        optimizer: "adam", "adamw", "sgd" or "lars".
        lr: peak learning rate (after warmup).
        weight_decay: L2 / decoupled weight decay (not applied to biases and norm layers).
        weight_decay_end: None keeps ``weight_decay`` constant; a number makes the decay a per-step cosine
            from ``weight_decay`` at the start to this value at the end of training (DINO: 0.04 -> 0.4).
        momentum: SGD/LARS momentum.
        warmup_epochs: linear warmup length in epochs (fractions allowed).
        schedule: "cosine" (to ``min_lr_ratio * lr``) or "constant" after warmup.
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        lars_eta: LARS trust coefficient.
        beta2: Adam / AdamW's second-moment decay (MAE and I-JEPA: 0.95; PyTorch's default 0.999).
    """

    optimizer: Literal["adam", "adamw", "sgd", "lars"] = "adam"
    lr: float = bounded(2e-3, gt=0)
    weight_decay: float = bounded(1e-6, ge=0)
    weight_decay_end: float | None = bounded(None, ge=0)
    momentum: float = 0.9
    warmup_epochs: float = bounded(0.25, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = bounded(0.01, ge=0, le=1)
    lars_eta: float = 0.02
    beta2: float = bounded(0.999, gt=0, lt=1)


class LARS(torch.optim.Optimizer):
    """LARS (You et al., 2017): SGD with momentum where each parameter's step is
    scaled by the trust ratio ``eta * ||w|| / (||g|| + wd ||w||)``. Parameters in
    groups with ``lars_exclude=True`` (biases, norm layers) take plain SGD steps."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.02) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars_exclude=False)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if not group["lars_exclude"]:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.norm(p), torch.norm(g)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, torch.ones_like(w_norm)
                    )
                    g = g.mul(trust)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.clone(g).detach()
                else:
                    buf.mul_(group["momentum"]).add_(g)
                p.add_(buf, alpha=-group["lr"])
        return loss


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights with decay (marked ``decay: True``, the group a weight-decay schedule
    sets); biases and normalisation parameters without."""
    decay: list[Tensor] = []
    no_decay: list[Tensor] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "lars_exclude": False, "decay": True},
        {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True, "decay": False},
    ]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser of ``cfg`` over ``model``'s trainable parameters."""
    groups = param_groups(model, cfg.weight_decay)
    if cfg.optimizer == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum, eta=cfg.lars_eta)
    for g in groups:
        g.pop("lars_exclude")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=(0.9, cfg.beta2))
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2))
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    raise UserError(f"unknown optimizer '{cfg.optimizer}'")


def lr_factor(step: int, total_steps: int, warmup_steps: int, cfg: OptimConfig) -> float:
    """Multiplier of the peak lr at ``step``: linear warmup, then cosine or constant."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if cfg.schedule == "constant" or total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def weight_decay_at(progress: float, cfg: OptimConfig) -> float:
    """The weight decay of the decayed parameters at ``progress`` (fraction of training done, in [0, 1]):
    ``cfg.weight_decay`` throughout, or with ``weight_decay_end`` a cosine from it to ``weight_decay_end``."""
    if cfg.weight_decay_end is None:
        return cfg.weight_decay
    return cosine_between(cfg.weight_decay, cfg.weight_decay_end, progress)


def set_schedules(optimizer: torch.optim.Optimizer, cfg: OptimConfig, lr_mult: float, progress: float) -> None:
    """Set every group's lr to ``cfg.lr * lr_mult`` and, with a weight-decay schedule, the decayed
    groups' (``decay: True``) weight decay to :func:`weight_decay_at` ``progress``."""
    wd = weight_decay_at(progress, cfg) if cfg.weight_decay_end is not None else None
    for g in optimizer.param_groups:
        g["lr"] = cfg.lr * lr_mult
        if wd is not None and g.get("decay", False):
            g["weight_decay"] = wd
