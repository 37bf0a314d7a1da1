"""Deep Graph Infomax (Velickovic et al., ICLR 2019): local patches vs. a global summary.

Positive pair: a node's GCN representation and the summary (sigmoid of the mean over nodes) of
the real graph. Negative pair: the representation of the same node in a corrupted graph (node
features shuffled between rows, edges kept) with the same summary. A bilinear discriminator
scores the pairs; binary cross-entropy trains encoder and discriminator together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.augment.graph import shuffle_rows
from selfsup.encoders.gcn import GCNEncoder
from selfsup.errors import UserError
from selfsup.functional.dgi import bilinear_scores, dgi_loss
from selfsup.methods.base import MethodSpec, StepOutput, register_method


@dataclass
class DGIConfig:
    """DGI hyperparameters (defaults: the paper's transductive setting).

    Attributes:
        hidden_dim: GCN output width.
        layers: GCN layers.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        epochs: maximum training epochs (full-batch steps).
        patience: stop after this many epochs without a lower training loss ...
        min_epochs: ... but never before this epoch (a plateau at the start must not stop training).
        min_delta: an improvement smaller than this does not reset the patience counter.
        seed: random seed of initialisation and corruption.
        max_minutes: wall-clock budget (0 = none).
    """

    hidden_dim: int = 512
    layers: int = 1
    lr: float = 0.001
    weight_decay: float = 0.0
    epochs: int = 300
    patience: int = 20
    min_epochs: int = 100
    min_delta: float = 0.0
    seed: int = 0
    max_minutes: float = 0.0

    def validate(self) -> None:
        if self.hidden_dim < 1 or self.layers < 1:
            raise UserError("hidden_dim and layers must be at least 1")
        if self.patience < 1 or self.epochs < 1:
            raise UserError("epochs and patience must be at least 1")


class DGI(nn.Module):
    """GCN encoder + sigmoid-mean readout + bilinear discriminator."""

    def __init__(self, encoder: nn.Module, hidden_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.weight = nn.Parameter(torch.empty(hidden_dim, hidden_dim))
        nn.init.xavier_uniform_(self.weight)
        self.generator: torch.Generator | None = None

    @staticmethod
    def readout(h: Tensor) -> Tensor:
        return torch.sigmoid(h.mean(0))  # (D,)

    def scores(self, x: Tensor, corrupted: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        h_pos = self.encoder(x, edge_index)  # (N, D)
        h_neg = self.encoder(corrupted, edge_index)  # (N, D)
        s = self.readout(h_pos)  # (D,)
        return bilinear_scores(h_pos, s, self.weight), bilinear_scores(h_neg, s, self.weight)

    def training_step(self, batch: Any) -> StepOutput:
        corrupted, _ = shuffle_rows(batch.x, self.generator)
        pos, neg = self.scores(batch.x, corrupted, batch.edge_index)
        loss = dgi_loss(pos, neg)
        with torch.no_grad():
            acc = float(torch.cat([pos > 0, neg <= 0]).float().mean())
        return StepOutput(loss, {"loss": float(loss), "disc_acc": acc})

    def on_after_optimizer_step(self, step: int) -> None:
        pass

    @torch.no_grad()
    def embed(self, batch: Any) -> Tensor:
        return self.encoder(batch.x, batch.edge_index)


def build_dgi(cfg: DGIConfig, encoder: nn.Module | None, info: Any, seed: int = 0) -> DGI:
    torch.manual_seed(seed)
    enc = encoder or GCNEncoder(info.input_shape[0], cfg.hidden_dim, cfg.layers, "prelu")
    model = DGI(enc, enc.out_dim)
    model.generator = torch.Generator().manual_seed(seed)
    return model


register_method(MethodSpec(
    name="dgi", family="contrastive", modality="graph", config_cls=DGIConfig, build=build_dgi,
    description="Deep Graph Infomax: node patches vs. graph summary, corrupted by feature shuffling",
))
