"""Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' projections
(standardised over the batch) is pushed towards the identity. No negatives, no EMA."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, ImageAugment, MultiView
from selfsup.errors import UserError
from selfsup.losses.noncontrastive import BarlowTwinsLoss
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.modules import mlp_head


@dataclass
class BarlowTwinsConfig:
    lambd: float = 5e-3
    proj_dim: int = 512
    proj_layers: int = 3
    channels_last: bool = True

    def validate(self) -> None:
        if self.lambd < 0:
            raise UserError("lambd must be >= 0")
        if self.proj_dim < 1 or self.proj_layers < 1:
            raise UserError("proj_dim and proj_layers must be >= 1")


class BarlowTwins(nn.Module):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: BarlowTwinsConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.views = views
        self.projector = mlp_head(encoder.out_dim, cfg.proj_dim, cfg.proj_dim, cfg.proj_layers)
        self.loss_fn = BarlowTwinsLoss(cfg.lambd)

    def _cl(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last and x.dim() == 4 else x

    def loss_on_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        z1, z2 = self.projector(self.encoder(self._cl(torch.cat([v1, v2])))).chunk(2)
        return self.loss_fn(z1, z2)

    def training_step(self, batch) -> StepOutput:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        with torch.no_grad():
            v1, v2 = self.views(x)
        loss = self.loss_on_views(v1, v2)
        return StepOutput(loss, {"loss": float(loss.detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """No state."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(self._cl(self.views.pipelines[0].plain(x)))


def build_barlow_twins(cfg: BarlowTwinsConfig, encoder: nn.Module, info: DataInfo, aug: ImageAugConfig, seed: int):
    size = info.input_shape[-1]
    return BarlowTwins(encoder, MultiView([ImageAugment(aug, size, info.mean, info.std, seed=seed + i) for i in range(2)]), cfg)


register_method(
    MethodSpec(
        name="barlow-twins",
        family="contrastive",
        modality="image",
        config_cls=BarlowTwinsConfig,
        build=build_barlow_twins,
        description="Barlow Twins: cross-correlation towards identity (Zbontar et al. 2021)",
        presets={"paper": {"lambd": 5e-3, "proj_dim": 8192, "proj_layers": 3}},
        aug_defaults={"blur_p": 0.5},
    )
)
