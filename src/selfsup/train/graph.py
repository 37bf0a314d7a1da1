"""Full-batch training loop for node-level graph methods (one optimizer step per epoch).

Early stopping watches the training loss with a patience, but it is *armed* only after
``min_epochs`` epochs **and** once the loss has left its starting plateau (fallen at least
``warmup_drop`` below the first epoch's loss). DGI's loss often sits at log 2 for the first
epochs on sparse high-dimensional graphs (CiteSeer); a bare patience of 20 then ends training at
epoch ~23 with a useless encoder. The reason for stopping is always recorded.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from selfsup.errors import UserError


@dataclass
class GraphTrainConfig:
    """Settings of the full-batch loop (a method's defaults override these via ``optim_defaults``).

    Attributes:
        epochs: maximum epochs (one full-batch Adam step each).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
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

    epochs: int = 300
    lr: float = 0.001
    weight_decay: float = 0.0
    patience: int = 20
    min_epochs: int = 50
    warmup_drop: float = 0.05
    min_delta: float = 0.0
    restore_best: bool = True
    max_minutes: float = 0.0
    seed: int = 0
    log_every: int = 0

    def validate(self) -> None:
        if self.epochs < 1:
            raise UserError(f"epochs must be at least 1, got {self.epochs}")
        if self.patience < 0 or self.min_epochs < 0:
            raise UserError("patience and min_epochs must be >= 0 (patience 0 = no early stopping)")
        if self.lr <= 0:
            raise UserError(f"lr must be > 0, got {self.lr}")


def fit_full_batch(method: nn.Module, data: Any, cfg: GraphTrainConfig) -> dict[str, Any]:
    """Train ``method`` (its ``training_step(data)``) on one graph with Adam.

    Returns:
        {"epochs", "best_epoch", "best_loss", "stop_reason", "stopped_early", "train_seconds",
        "seconds_per_epoch", "losses"}.
    """
    cfg.validate()
    opt = torch.optim.Adam(method.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, best_epoch, wait = float("inf"), 0, 0
    best_state = copy.deepcopy(method.state_dict()) if cfg.restore_best else None
    losses: list[float] = []
    reason, early = f"ran the full {cfg.epochs} epochs", False
    armed = False
    method.train()
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        opt.zero_grad(set_to_none=True)
        out = method.training_step(data)
        out.loss.backward()
        opt.step()
        method.on_after_optimizer_step(epoch)
        loss = float(out.loss.detach())
        losses.append(loss)
        if not torch.isfinite(out.loss):
            reason, early = f"stopped at epoch {epoch}: the loss became {loss} (try a lower lr)", True
            break
        if loss < best - cfg.min_delta:
            best, best_epoch, wait = loss, epoch, 0
            if cfg.restore_best:
                best_state = copy.deepcopy(method.state_dict())
        else:
            wait += 1
        if cfg.log_every and epoch % cfg.log_every == 0:
            extra = "  ".join(f"{k} {v:.3f}" for k, v in out.logs.items() if k != "loss")
            print(f"epoch {epoch:4d}  loss {loss:.4f}  {extra}")
        if not armed and epoch >= cfg.min_epochs and best <= losses[0] - cfg.warmup_drop:
            armed, wait = True, 0  # patience counts from here: a plateau before this never stops training
        if cfg.patience and armed and wait >= cfg.patience:
            reason = (f"early stop at epoch {epoch}: no lower training loss for {cfg.patience} epochs "
                      f"(best {best:.4f} at epoch {best_epoch})")
            early = True
            break
        if cfg.max_minutes and time.perf_counter() - t0 > 60 * cfg.max_minutes:
            reason, early = f"stopped at epoch {epoch}: the {cfg.max_minutes} minute budget ran out", True
            break
    secs = time.perf_counter() - t0
    if cfg.patience and not armed and epoch == cfg.epochs:
        reason += (f"; the loss never fell {cfg.warmup_drop} below its start ({losses[0]:.4f} -> best {best:.4f}), "
                   "so early stopping was never armed: the encoder may not have learned")
    if cfg.restore_best and best_state is not None and best_epoch:
        method.load_state_dict(best_state)
    method.eval()
    return {"epochs": epoch, "best_epoch": best_epoch, "best_loss": best, "stop_reason": reason,
            "stopped_early": early, "train_seconds": round(secs, 3), "seconds_per_epoch": secs / max(epoch, 1),
            "losses": losses}
