"""Graph views: DGI's feature-row shuffling corruption, GRACE's edge dropping and feature masking."""

from __future__ import annotations

import torch
from torch import Tensor


def row_permutation(n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
    """DGI's corruption as indices: a random permutation of the N node rows, (N,) long."""
    return torch.randperm(n, generator=generator, device="cpu").to(device)


def shuffle_rows(x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """DGI corruption: permute the rows (nodes) of ``x`` (N, F); the graph is kept.

    Returns:
        (x[perm], perm).
    """
    perm = row_permutation(x.shape[0], generator, x.device)
    return x[perm], perm


def drop_edges(edge_index: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Keep each directed edge of ``edge_index`` (2, E) with probability ``1 - p``."""
    if p <= 0:
        return edge_index
    keep = torch.rand(edge_index.shape[1], generator=generator, device="cpu").to(edge_index.device) >= p
    return edge_index[:, keep]


def mask_features(x: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Zero each feature column of ``x`` (N, F) with probability ``p`` (same columns for all nodes)."""
    if p <= 0:
        return x
    keep = torch.rand(x.shape[1], generator=generator, device="cpu").to(x.device) >= p
    return x * keep.to(x.dtype)
