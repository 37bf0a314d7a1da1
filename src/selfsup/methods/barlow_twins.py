"""Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' projections
(standardised over the batch) is pushed towards the identity. No negatives, no EMA."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from selfsup.augment import MultiView
from selfsup.config import bounded
from selfsup.losses.noncontrastive import BarlowTwinsLoss
from selfsup.methods.base import MethodSpec, register_method
from selfsup.methods.two_view import TwoViewConfig, TwoViewMethod
from selfsup.modules import mlp_head


@dataclass
class BarlowTwinsConfig(TwoViewConfig):
    lambd: float = bounded(5e-3, ge=0)
    proj_dim: int = bounded(512, ge=1)
    proj_layers: int = bounded(3, ge=1)


class BarlowTwins(TwoViewMethod):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: BarlowTwinsConfig) -> None:
        super().__init__(encoder, views, cfg)
        self.projector = mlp_head(encoder.out_dim, cfg.proj_dim, cfg.proj_dim, cfg.proj_layers)
        self.loss_fn = BarlowTwinsLoss(cfg.lambd)


register_method(
    MethodSpec(
        name="barlow-twins",
        family="contrastive",
        modality="image",
        config_cls=BarlowTwinsConfig,
        build=BarlowTwins.build,
        description="Barlow Twins: cross-correlation towards identity (Zbontar et al. 2021)",
        presets={"paper": {"lambd": 5e-3, "proj_dim": 8192, "proj_layers": 3}},
        aug_defaults={"blur_p": 0.5},
    )
)
