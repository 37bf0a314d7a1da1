"""Deep Graph Infomax (Velickovic et al., ICLR 2019): local patches vs. a global summary.

Positive pair: a node's GCN representation and the summary (sigmoid of the mean over nodes) of
the real graph. Negative pair: the representation of the same node in a corrupted graph (node
features shuffled between rows, edges kept) with the same summary. A bilinear discriminator
scores the pairs; binary cross-entropy trains encoder and discriminator together.

The batch is a whole graph: any object with ``x`` (N, F) and ``edge_index`` (2, E)
(:class:`selfsup.data.graph.GraphData` or a ``torch_geometric.data.Data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.augment.graph import row_permutation
from selfsup.config import Checked, bounded
from selfsup.functional.dgi import bilinear_scores, dgi_loss
from selfsup.methods.base import MethodSpec, StepOutput, register_method
from selfsup.methods.graph_method import NodeMethod, node_encoder


@dataclass
class DGIConfig(Checked):
    """DGI hyperparameters (defaults: the paper's transductive setting).

    Attributes:
        hidden_dim: GCN output width (512 in the paper).
        layers: GCN layers (1 in the paper's transductive setting).
        activation: "prelu" (paper), "relu" or "elu".
        row_normalize: divide each node's features by their L1 norm (the official DGI
            preprocessing of Cora/CiteSeer/PubMed; Cora, 5 seeds: see BENCHMARKS.md).
    """

    hidden_dim: int = bounded(512, ge=1)
    layers: int = bounded(1, ge=1)
    activation: str = "prelu"
    row_normalize: bool = True


class DGI(NodeMethod):
    """GCN encoder + sigmoid-mean readout + bilinear discriminator.

    Args:
        encoder: maps (x, edge_index) to (N, D) node representations; has ``out_dim``.
        seed: seed of the corruption permutations.
    """

    def __init__(self, encoder: nn.Module, seed: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        d = encoder.out_dim
        self.weight = nn.Parameter(torch.empty(d, d))  # bilinear discriminator W (D, D)
        nn.init.xavier_uniform_(self.weight)
        self.generator = torch.Generator().manual_seed(seed)

    @staticmethod
    def readout(h: Tensor) -> Tensor:
        """Graph summary s = sigmoid(mean_i h_i): (N, D) -> (D,)."""
        return torch.sigmoid(h.mean(0))

    def scores(self, x: Tensor, perm: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """Discriminator logits (N,) of the real patches and of the corrupted ones (rows of
        ``x`` permuted by ``perm``, same graph)."""
        if hasattr(self.encoder, "forward_pair"):  # shares the first feature transform (GCNEncoder)
            h_pos, h_neg = self.encoder.forward_pair(x, perm, edge_index)  # (N, D) each
        else:
            h_pos = self.encoder(x, edge_index)  # (N, D)
            h_neg = self.encoder(x[perm], edge_index)  # (N, D)
        s = self.readout(h_pos)  # (D,)
        return bilinear_scores(h_pos, s, self.weight), bilinear_scores(h_neg, s, self.weight)

    def training_step(self, batch: Any) -> StepOutput:
        perm = row_permutation(batch.x.shape[0], self.generator, batch.x.device)  # corruption: shuffle node rows
        pos, neg = self.scores(batch.x, perm, batch.edge_index)
        loss = dgi_loss(pos, neg)
        with torch.no_grad():
            acc = float(torch.cat([pos > 0, neg <= 0]).float().mean())
        return StepOutput(loss, {"loss": float(loss.detach()), "disc_acc": acc})


def build_dgi(cfg: DGIConfig, encoder: nn.Module | None, info: Any, *, aug: Any = None, seed: int = 0) -> DGI:
    """``info.input_shape`` is (F,), the node feature width; ``aug`` is unused (the corruption is DGI's own)."""
    return DGI(node_encoder(cfg, encoder, info, seed), seed)


register_method(MethodSpec(
    name="dgi", family="contrastive", modality="graph", config_cls=DGIConfig, build=build_dgi,
    description="Deep Graph Infomax: node patches vs. graph summary, corrupted by feature shuffling",
    # at most 300 epochs: chosen on the validation nodes (benchmarks/sweep_dgi_cora.json: 100/200/300/400/600 -> val
    # 0.804/0.811/0.814/0.814/0.814, the last two stop early at 358; ties go to fewer epochs)
    optim_defaults={"epochs": 300, "lr": 0.001, "weight_decay": 0.0, "patience": 20, "restore_best": True},
))
