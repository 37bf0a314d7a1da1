"""Losses in float32 whatever precision the forward pass runs in."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

F = TypeVar("F", bound=Callable[..., Any])


def _upcast(v: Any) -> Any:
    if isinstance(v, Tensor) and v.is_floating_point() and v.dtype != torch.float32 and v.dtype != torch.float64:
        return v.float()
    return v


def float32_loss(fn: F) -> F:
    """Run loss ``fn`` in float32: under autocast (bf16 / fp16 mixed precision), autocast is switched off
    for the call and its low-precision tensor arguments are upcast, so the similarity matmuls, the
    normalisations and the softmax of the loss are float32 (autocast would otherwise run the matmuls in
    bf16, where cosine similarities near 1 lose their last digits: ~3 significant digits). Gradients flow
    back through the upcast into the bf16 activations. Without autocast the call is unchanged."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        device = next((a.device.type for a in (*args, *kwargs.values()) if isinstance(a, Tensor)), "cpu")
        if not torch.is_autocast_enabled(device):
            return fn(*args, **kwargs)
        with torch.autocast(device, enabled=False):
            return fn(*(_upcast(a) for a in args), **{k: _upcast(v) for k, v in kwargs.items()})

    return wrapper  # type: ignore[return-value]
