"""Gaussian mixture model as a method: PCA, then EM for a mixture of Gaussians in the
projected space; the representation is the projected vector with the posterior
responsibilities (``selfsup pretrain gmm --data ...``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from selfsup.config import Checked, bounded
from selfsup.encoders.fitted import GMMEncoder
from selfsup.methods.base import DataInfo, MethodSpec, register_method
from selfsup.methods.pca import FittedMethod


@dataclass
class GMMConfig(Checked):
    """Attributes:
        pca_dim: PCA dimensions the mixture is fitted in.
        mixtures: mixture components.
        covariance: "full", "diag", "tied" or "spherical" covariances.
        max_iter: EM iterations at most.
        seed: seed of the k-means initialisation of EM.
    """

    pca_dim: int = bounded(50, ge=1)
    mixtures: int = bounded(20, ge=1)
    covariance: Literal["full", "diag", "tied", "spherical"] = "full"
    max_iter: int = bounded(100, ge=1)
    seed: int = 0


class GMMMethod(FittedMethod):
    def fit(self, x: Tensor) -> None:
        self.encoder.fit(x, self.cfg.covariance, self.cfg.max_iter, self.cfg.seed)


def build_gmm(cfg: GMMConfig, encoder: object, info: DataInfo, *, aug: object = None, seed: int = 0) -> GMMMethod:
    """``encoder``, ``aug`` and ``seed`` are unused: the mixture is fitted from ``cfg.seed``."""
    cfg.validate()
    return GMMMethod(GMMEncoder(math.prod(info.input_shape), cfg.pca_dim, cfg.mixtures), cfg, "gmm")


register_method(MethodSpec(name="gmm", family="classical", modality="image", regime="fitted", config_cls=GMMConfig, build=build_gmm,
                           description="GMM: PCA + Gaussian mixture (EM); features = projection + responsibilities"))
