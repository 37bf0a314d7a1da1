"""k-means as a method: PCA, then k-means; the representation is the "triangle" soft
assignment to the centroids (Coates, Lee & Ng, 2011) (``selfsup pretrain kmeans --data ...``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from selfsup.config import Checked, bounded
from selfsup.encoders.fitted import KMeansEncoder
from selfsup.methods.base import DataInfo, MethodSpec, register_method
from selfsup.methods.pca import FittedMethod


@dataclass
class KMeansConfig(Checked):
    """Attributes:
        pca_dim: PCA dimensions k-means runs in.
        clusters: centroids (the representation's width).
        n_init: k-means restarts (the best inertia is kept).
        seed: seed of the k-means++ initialisation.
    """

    pca_dim: int = bounded(50, ge=1)
    clusters: int = bounded(100, ge=2)
    n_init: int = bounded(3, ge=1)
    seed: int = 0


class KMeansMethod(FittedMethod):
    def fit(self, x: Tensor) -> None:
        self.encoder.fit(x, self.cfg.seed, self.cfg.n_init)


def build_kmeans(cfg: KMeansConfig, encoder: object, info: DataInfo, *, aug: object = None,
                 seed: int = 0) -> KMeansMethod:
    """``encoder``, ``aug`` and ``seed`` are unused: k-means is fitted from ``cfg.seed``."""
    cfg.validate()
    return KMeansMethod(KMeansEncoder(math.prod(info.input_shape), cfg.pca_dim, cfg.clusters), cfg, "kmeans")


register_method(MethodSpec(name="kmeans", family="classical", modality="image", regime="fitted", config_cls=KMeansConfig,
                           build=build_kmeans, description="k-means: PCA + k-means; triangle soft-assignment features"))
