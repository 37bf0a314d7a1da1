"""BYOL (Grill et al. 2020): an online network (encoder, projector, predictor) predicts the
projection of the other view made by a target network, an EMA copy of encoder + projector
(no gradients, not optimised). Loss: symmetric ``2 - 2 cos(p, sg(z'))``. The target momentum
follows BYOL's cosine schedule from ``momentum`` to 1 over ``momentum_steps`` (0 = constant)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import MultiView
from selfsup.config import bounded
from selfsup.functional.noncontrastive import negative_cosine
from selfsup.methods.base import MethodSpec, register_method
from selfsup.methods.two_view import TwoViewConfig, TwoViewMethod
from selfsup.modules import mlp_head
from selfsup.modules.ema import cosine_momentum, ema_update, momentum_copy


@dataclass
class BYOLConfig(TwoViewConfig):
    momentum: float = bounded(0.99, ge=0, le=1)
    momentum_steps: int = 0
    proj_hidden_dim: int = bounded(512, ge=1)
    proj_out_dim: int = bounded(128, ge=1)
    pred_hidden_dim: int = bounded(512, ge=1)


class BYOL(TwoViewMethod):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: BYOLConfig) -> None:
        super().__init__(encoder, views, cfg)
        self.projector = mlp_head(encoder.out_dim, cfg.proj_hidden_dim, cfg.proj_out_dim)
        self.predictor = mlp_head(cfg.proj_out_dim, cfg.pred_hidden_dim, cfg.proj_out_dim)
        self.target_encoder = momentum_copy(encoder)
        self.target_projector = momentum_copy(self.projector)

    def loss_on_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        x = self._cl(torch.cat([v1, v2]))
        p1, p2 = self.predictor(self.projector(self.encoder(x))).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target_projector(self.target_encoder(x)).chunk(2)
        return 2 + (negative_cosine(p1, z2) + negative_cosine(p2, z1))  # = mean of (2 - 2cos) over both

    @torch.no_grad()
    def on_after_optimizer_step(self, step: int) -> None:
        m = cosine_momentum(self.cfg.momentum, step, self.cfg.momentum_steps)
        ema_update(self.target_encoder, self.encoder, m)
        ema_update(self.target_projector, self.projector, m)


register_method(
    MethodSpec(
        name="byol",
        family="contrastive",
        modality="image",
        config_cls=BYOLConfig,
        build=BYOL.build,
        description="BYOL: online predictor vs EMA target network, no negatives (Grill et al. 2020)",
        presets={"paper": {"momentum": 0.996, "proj_hidden_dim": 4096, "proj_out_dim": 256, "pred_hidden_dim": 4096}},
        aug_defaults={"blur_p": 0.5},
    )
)
