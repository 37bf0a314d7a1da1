"""Projection / prediction heads."""

from __future__ import annotations

from typing import Literal

from torch import nn


def mlp_head(
    in_dim: int,
    hidden_dim: int,
    out_dim: int,
    num_layers: int = 2,
    *,
    batch_norm: bool = True,
    last_bn: bool = False,
) -> nn.Sequential:
    """An MLP: ``num_layers`` Linear layers with BN+ReLU between them.

    Args:
        in_dim: input features.
        hidden_dim: width of hidden layers.
        out_dim: output features.
        num_layers: number of Linear layers (>= 1).
        batch_norm: BatchNorm1d after each hidden Linear.
        last_bn: affine-free BatchNorm1d after the last Linear (as in SimSiam/Barlow Twins).
    """
    if num_layers < 1:
        raise ValueError("num_layers must be >= 1")
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(num_layers - 1):
        layers.append(nn.Linear(dim, hidden_dim, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers.append(nn.ReLU(inplace=True))
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim, bias=not last_bn))
    if last_bn:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


def projection_head(
    kind: Literal["mlp", "linear", "none"], in_dim: int, hidden_dim: int, out_dim: int
) -> nn.Module:
    """SimCLR's projection head choice (the paper's ablation, section 4.2).

    ``mlp``: Linear -> BN -> ReLU -> Linear; ``linear``: one Linear; ``none``: identity.
    """
    if kind == "mlp":
        return mlp_head(in_dim, hidden_dim, out_dim, num_layers=2)
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown projection head '{kind}'")
