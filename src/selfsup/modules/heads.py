"""Projection / prediction heads."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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


class DINOHead(nn.Module):
    """DINO's projection head (Caron et al. 2021, section 3.1 and appendix): an MLP of ``num_layers``
    Linear layers with GELU between them (no BatchNorm, so it works the same on any batch split) down
    to a ``bottleneck_dim`` vector, which is L2-normalised, then a last Linear layer to ``out_dim``
    logits whose weight rows are normalised to unit length (``weight_norm`` with its gain fixed to 1,
    the paper's ``norm_last_layer``), so the logits are cosines in [-1, 1].

    Args:
        in_dim: encoder features.
        out_dim: logits ``K`` (65536 in the paper; thousands at this scale).
        hidden_dim: width of the hidden layers (2048 in the paper).
        bottleneck_dim: width of the normalised bottleneck (256 in the paper).
        num_layers: Linear layers before the bottleneck's normalisation (3 in the paper).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 num_layers: int = 3) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("num_layers must be >= 1")
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(dim, hidden_dim), nn.GELU()]
            dim = hidden_dim
        layers.append(nn.Linear(dim, bottleneck_dim))
        self.mlp = nn.Sequential(*layers)
        self.last_weight = nn.Parameter(torch.empty(out_dim, bottleneck_dim))  # (K, bottleneck), rows normalised
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.last_weight, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        z = F.normalize(self.mlp(x), dim=-1)  # (B, bottleneck), unit length
        return F.linear(z, F.normalize(self.last_weight, dim=-1))  # (B, K) cosines
