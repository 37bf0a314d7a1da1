"""Full-batch training loop for node-level graph methods (one optimizer step per epoch).

Early stopping watches the training loss with a patience, but never stops before
``min_epochs``: DGI's loss often sits at log 2 for the first epochs, and a bare patience of 20
then ends training at epoch ~20 with a useless encoder. The reason for stopping is recorded.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import nn


def fit_full_batch(method: nn.Module, data: Any, *, epochs: int, lr: float, weight_decay: float = 0.0,
                   patience: int = 20, min_epochs: int = 0, min_delta: float = 0.0, max_minutes: float = 0.0,
                   log_every: int = 0) -> dict[str, Any]:
    """Train ``method`` on graph ``data``; restore the weights of the lowest training loss.

    Returns:
        {"epochs", "best_epoch", "best_loss", "stop_reason", "train_seconds", "seconds_per_epoch", "losses"}.
    """
    opt = torch.optim.Adam(method.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_epoch, wait = float("inf"), 0, 0
    best_state = copy.deepcopy(method.state_dict())
    losses: list[float] = []
    reason = f"reached the maximum of {epochs} epochs"
    method.train()
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, epochs + 1):
        opt.zero_grad()
        out = method.training_step(data)
        out.loss.backward()
        opt.step()
        method.on_after_optimizer_step(epoch)
        loss = float(out.loss)
        losses.append(loss)
        if not torch.isfinite(out.loss):
            reason = f"stopped at epoch {epoch}: the loss became {loss}"
            break
        if loss < best - min_delta:
            best, best_epoch, wait = loss, epoch, 0
            best_state = copy.deepcopy(method.state_dict())
        else:
            wait += 1
        if log_every and epoch % log_every == 0:
            print(f"epoch {epoch:4d}  loss {loss:.4f}  " + "  ".join(f"{k} {v:.3f}" for k, v in out.logs.items() if k != "loss"))
        if wait >= patience and epoch >= min_epochs:
            reason = (f"early stop at epoch {epoch}: no lower training loss for {patience} epochs "
                      f"(best {best:.4f} at epoch {best_epoch}; min_epochs {min_epochs})")
            break
        if max_minutes and time.perf_counter() - t0 > 60 * max_minutes:
            reason = f"stopped at epoch {epoch}: the {max_minutes} minute budget ran out"
            break
    secs = time.perf_counter() - t0
    method.load_state_dict(best_state)
    method.eval()
    return {"epochs": epoch, "best_epoch": best_epoch, "best_loss": best, "stop_reason": reason,
            "train_seconds": round(secs, 3), "seconds_per_epoch": secs / max(epoch, 1), "losses": losses}
