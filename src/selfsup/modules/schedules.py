"""Per-step schedules as pure functions of the training progress ``t`` in [0, 1].

``t`` is the fraction of the planned training done (step / planned steps, or for a run that its
time budget stops, the fraction of the budget spent: the same fraction the engine's learning-rate
schedule follows). The engine hands it to a method before each step (``on_train_progress``), so a
method's schedules (DINO's teacher temperature, its EMA momentum) follow the run's length without
knowing it, and a resumed run recomputes them from the step it resumes at.

* :func:`cosine_between`: half a cosine from ``start`` (t = 0) to ``end`` (t = 1), as DINO's
  ``cosine_scheduler`` for the weight decay (0.04 -> 0.4) and the teacher momentum (0.996 -> 1).
* :func:`linear_warmup`: linear from ``start`` to ``end`` over the first ``warmup`` of training,
  ``end`` after (DINO's teacher temperature 0.04 -> 0.07).
"""

from __future__ import annotations

import math


def _clip(t: float) -> float:
    return min(1.0, max(0.0, float(t)))


def cosine_between(start: float, end: float, t: float) -> float:
    """``end + (start - end) * (1 + cos(pi t)) / 2``: ``start`` at t = 0, ``end`` at t >= 1."""
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * _clip(t)))


def linear_warmup(start: float, end: float, t: float, warmup: float) -> float:
    """``start -> end`` linearly over ``t`` in [0, ``warmup``], then ``end`` (``warmup`` <= 0: ``end``)."""
    if warmup <= 0 or t >= warmup:
        return end
    return start + (end - start) * _clip(t) / warmup
