"""PCA as a method (Pearson 1901; Hotelling 1933): the top principal directions of the
flattened training inputs, fitted in closed form (``selfsup pretrain pca --data ...``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

from selfsup.config import Checked, bounded
from selfsup.encoders.fitted import PCAEncoder
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method


@dataclass
class PCAConfig(Checked):
    """Attributes:
        n_components: dimensions kept (the representation's width).
        seed: recorded for uniformity; the exact eigendecomposition involves no randomness.
    """

    n_components: int = bounded(50, ge=1)
    seed: int = 0


class FittedMethod(nn.Module):
    """A method fitted on the whole training set at once (no gradient steps)."""

    def __init__(self, encoder: nn.Module, cfg: object, name: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.cfg = cfg
        self.name = name

    def fit(self, x: Tensor) -> None:
        raise NotImplementedError

    def training_step(self, batch: object) -> StepOutput:
        raise UserError(f"{self.name} is fitted on the whole training set, not trained by steps",
                        hint=f"use `selfsup pretrain {self.name} --data NAME --out DIR` (or call .fit(x))")

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps."""

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)


class PCAMethod(FittedMethod):
    def fit(self, x: Tensor) -> None:
        self.encoder.fit(x)


def build_pca(cfg: PCAConfig, encoder: object, info: DataInfo, *, aug: object = None, seed: int = 0) -> PCAMethod:
    """``encoder``, ``aug`` and ``seed`` are unused: PCA is closed form."""
    cfg.validate()
    return PCAMethod(PCAEncoder(math.prod(info.input_shape), cfg.n_components), cfg, "pca")


register_method(MethodSpec(name="pca", family="classical", modality="image", regime="fitted", config_cls=PCAConfig, build=build_pca,
                           description="PCA: top principal components of the flattened inputs (closed form)"))
