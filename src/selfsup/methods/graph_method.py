"""The parts shared by the full-graph node methods (dgi, grace): the default GCN encoder of a
config, and embedding = the encoder's node representations of the uncorrupted graph.

Each method keeps its own corruption / views, heads and loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.encoders.gcn import GCNEncoder


def node_encoder(cfg, encoder: nn.Module | None, info: Any, seed: int, out_dim: int | None = None) -> nn.Module:
    """Validate ``cfg``, seed the global RNG with ``seed`` (it initialises the GCN and the heads
    built after it), and return ``encoder`` or, when it is None, the GCN of ``cfg`` (``hidden_dim``,
    ``layers``, ``activation``, ``row_normalize``) on ``info.input_shape[0]`` node features."""
    cfg.validate()
    torch.manual_seed(seed)
    return encoder or GCNEncoder(info.input_shape[0], cfg.hidden_dim, cfg.layers, cfg.activation, out_dim,
                                 normalize_rows=cfg.row_normalize)


class NodeMethod(nn.Module):
    """``embed`` and the (empty) after-step update of a method whose ``encoder`` maps
    (x, edge_index) to (N, D) node representations and keeps no state besides its parameters."""

    encoder: nn.Module

    def on_after_optimizer_step(self, step: int) -> None:
        """No state besides the parameters."""

    @torch.no_grad()
    def embed(self, batch: Any) -> Tensor:
        """Node representations (N, D) of the uncorrupted graph (before any head)."""
        return self.encoder(batch.x, batch.edge_index)
