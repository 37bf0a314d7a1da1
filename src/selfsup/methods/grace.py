"""GRACE (Zhu et al., 2020, "Deep Graph Contrastive Representation Learning"): two corrupted
views of one graph, node-level contrast between them.

Each view drops edges and masks feature columns at random (different rates per view). The same
GCN encodes both; a small projection head maps node representations to the contrast space.
Node i in view 1 and node i in view 2 are the positive pair; every other node of *both* views is
a negative. That objective (GRACE eq. 1, averaged over both directions) is exactly the shared
NT-Xent / InfoNCE over the 2N projected nodes, so :func:`selfsup.functional.nt_xent` is reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.augment.graph import drop_edges, mask_features
from selfsup.config import Checked, bounded
from selfsup.functional.nt_xent import nt_xent
from selfsup.methods.base import MethodSpec, StepOutput, register_method
from selfsup.methods.graph_method import NodeMethod, node_encoder
from selfsup.modules.heads import mlp_head


@dataclass
class GRACEConfig(Checked):
    """GRACE hyperparameters (defaults: the paper's Cora setting).

    Attributes:
        hidden_dim: width of the first GCN layer (2 x out_dim in the paper).
        out_dim: node representation width.
        layers: GCN layers.
        activation: GCN activation ("relu" on Cora in the paper).
        proj_hidden_dim: hidden width of the 2-layer projection head.
        temperature: InfoNCE temperature tau.
        drop_edge_1, drop_edge_2: edge drop rates of view 1 and view 2.
        drop_feature_1, drop_feature_2: feature-column masking rates of view 1 and view 2.
        row_normalize: divide each node's features by their L1 norm (GRACE's preprocessing of
            the citation graphs, PyG's ``NormalizeFeatures``).
    """

    hidden_dim: int = bounded(256, ge=1)
    out_dim: int = bounded(128, ge=1)
    layers: int = bounded(2, ge=1)
    activation: str = "relu"
    proj_hidden_dim: int = bounded(128, ge=1)
    temperature: float = bounded(0.4, gt=0)
    drop_edge_1: float = bounded(0.2, ge=0, lt=1)
    drop_edge_2: float = bounded(0.4, ge=0, lt=1)
    drop_feature_1: float = bounded(0.3, ge=0, lt=1)
    drop_feature_2: float = bounded(0.4, ge=0, lt=1)
    row_normalize: bool = True


class GRACE(NodeMethod):
    """GCN encoder + projection head + NT-Xent between two edge-dropped, feature-masked views.

    Args:
        encoder: maps (x, edge_index) to (N, D); has ``out_dim``.
        cfg: hyperparameters.
        seed: seed of the view sampling.
    """

    def __init__(self, encoder: nn.Module, cfg: GRACEConfig, seed: int = 0) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.head = mlp_head(encoder.out_dim, cfg.proj_hidden_dim, encoder.out_dim, num_layers=2, batch_norm=False)
        self.generator = torch.Generator().manual_seed(seed)

    def views(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """Both views as one disjoint union graph: features (2N, F), edges (2, E1 + E2)."""
        c, g, n = self.cfg, self.generator, x.shape[0]
        e1 = drop_edges(edge_index, c.drop_edge_1, g)
        e2 = drop_edges(edge_index, c.drop_edge_2, g)
        x1 = mask_features(x, c.drop_feature_1, g)
        x2 = mask_features(x, c.drop_feature_2, g)
        return torch.cat([x1, x2]), torch.cat([e1, e2 + n], dim=1)

    def training_step(self, batch: Any) -> StepOutput:
        xs, es = self.views(batch.x, batch.edge_index)
        h = self.encoder(xs, es)  # (2N, D): both views in one call
        z = self.head(h)  # (2N, D)
        loss = nt_xent(z, self.cfg.temperature)
        return StepOutput(loss, {"loss": float(loss.detach())})


def build_grace(cfg: GRACEConfig, encoder: nn.Module | None, info: Any, *, aug: Any = None, seed: int = 0) -> GRACE:
    """``info.input_shape`` is (F,), the node feature width; ``aug`` is unused (the views are GRACE's own)."""
    return GRACE(node_encoder(cfg, encoder, info, seed, cfg.out_dim), cfg, seed)


register_method(MethodSpec(
    name="grace", family="contrastive", modality="graph", config_cls=GRACEConfig, build=build_grace,
    description="GRACE: node contrast (InfoNCE) between two edge-dropped, feature-masked views",
    optim_defaults={"epochs": 200, "lr": 5e-4, "weight_decay": 1e-5, "patience": 0, "restore_best": False},
))
