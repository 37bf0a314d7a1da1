"""VICReg (Bardes et al. 2022): invariance (MSE between the two views' projections), variance
(hinge keeping each dimension's std above 1) and covariance (decorrelating dimensions) terms.
No negatives, no EMA."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from selfsup.augment import MultiView
from selfsup.config import bounded
from selfsup.losses.noncontrastive import VICRegLoss
from selfsup.methods.base import MethodSpec, register_method
from selfsup.methods.two_view import TwoViewConfig, TwoViewMethod
from selfsup.modules import mlp_head


@dataclass
class VICRegConfig(TwoViewConfig):
    sim_weight: float = bounded(25.0, ge=0)
    var_weight: float = bounded(25.0, ge=0)
    cov_weight: float = bounded(1.0, ge=0)
    proj_dim: int = bounded(512, ge=1)
    proj_layers: int = bounded(3, ge=1)


class VICReg(TwoViewMethod):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: VICRegConfig) -> None:
        super().__init__(encoder, views, cfg)
        self.projector = mlp_head(encoder.out_dim, cfg.proj_dim, cfg.proj_dim, cfg.proj_layers)
        self.loss_fn = VICRegLoss(cfg.sim_weight, cfg.var_weight, cfg.cov_weight)


register_method(
    MethodSpec(
        name="vicreg",
        family="contrastive",
        modality="image",
        config_cls=VICRegConfig,
        build=VICReg.build,
        description="VICReg: variance-invariance-covariance regularisation (Bardes et al. 2022)",
        presets={"paper": {"proj_dim": 8192, "proj_layers": 3}},
        aug_defaults={"blur_p": 0.5},
    )
)
