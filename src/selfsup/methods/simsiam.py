"""SimSiam (Chen & He 2021): encoder + projector (last BN) + predictor; symmetric negative
cosine between each view's prediction and the other view's projection under stop-gradient.
No negatives, no momentum encoder."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from selfsup.augment import MultiView
from selfsup.config import bounded
from selfsup.losses.noncontrastive import NegativeCosineLoss
from selfsup.methods.base import MethodSpec, register_method
from selfsup.methods.two_view import TwoViewConfig, TwoViewMethod
from selfsup.modules import mlp_head


@dataclass
class SimSiamConfig(TwoViewConfig):
    proj_dim: int = bounded(512, ge=1)
    pred_hidden_dim: int = bounded(128, ge=1)
    proj_layers: int = bounded(2, ge=1)


class SimSiam(TwoViewMethod):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: SimSiamConfig) -> None:
        super().__init__(encoder, views, cfg)
        self.projector = mlp_head(encoder.out_dim, cfg.proj_dim, cfg.proj_dim, cfg.proj_layers, last_bn=True)
        self.predictor = mlp_head(cfg.proj_dim, cfg.pred_hidden_dim, cfg.proj_dim)
        self.loss_fn = NegativeCosineLoss()

    def loss_on_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        z = self.projector(self.both_views(v1, v2))  # (2B, P)
        p = self.predictor(z)
        z1, z2 = z.chunk(2)
        p1, p2 = p.chunk(2)
        return self.loss_fn(p1, z1, p2, z2)


register_method(
    MethodSpec(
        name="simsiam",
        family="contrastive",
        modality="image",
        config_cls=SimSiamConfig,
        build=SimSiam.build,
        description="SimSiam: siamese predictor with stop-gradient, no negatives (Chen & He 2021)",
        presets={"paper": {"proj_dim": 2048, "pred_hidden_dim": 512, "proj_layers": 3}},
        aug_defaults={"blur_p": 0.5},
    )
)
