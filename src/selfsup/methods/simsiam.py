"""SimSiam (Chen & He 2021): encoder + projector (last BN) + predictor; symmetric negative
cosine between each view's prediction and the other view's projection under stop-gradient.
No negatives, no momentum encoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, ImageAugment, MultiView
from selfsup.errors import UserError
from selfsup.losses.noncontrastive import NegativeCosineLoss
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.modules import mlp_head


@dataclass
class SimSiamConfig:
    proj_dim: int = 512
    pred_hidden_dim: int = 128
    proj_layers: int = 2
    channels_last: bool = True

    def validate(self) -> None:
        if min(self.proj_dim, self.pred_hidden_dim, self.proj_layers) < 1:
            raise UserError("sizes must be >= 1")


class SimSiam(nn.Module):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: SimSiamConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.views = views
        self.projector = mlp_head(encoder.out_dim, cfg.proj_dim, cfg.proj_dim, cfg.proj_layers, last_bn=True)
        self.predictor = mlp_head(cfg.proj_dim, cfg.pred_hidden_dim, cfg.proj_dim)
        self.loss_fn = NegativeCosineLoss()

    def _cl(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last and x.dim() == 4 else x

    def loss_on_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        z = self.projector(self.encoder(self._cl(torch.cat([v1, v2]))))
        p = self.predictor(z)
        z1, z2 = z.chunk(2)
        p1, p2 = p.chunk(2)
        return self.loss_fn(p1, z1, p2, z2)

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


def build_simsiam(cfg: SimSiamConfig, encoder: nn.Module, info: DataInfo, aug: ImageAugConfig, seed: int) -> SimSiam:
    size = info.input_shape[-1]
    return SimSiam(encoder, MultiView([ImageAugment(aug, size, info.mean, info.std, seed=seed + i) for i in range(2)]), cfg)


register_method(
    MethodSpec(
        name="simsiam",
        family="contrastive",
        modality="image",
        config_cls=SimSiamConfig,
        build=build_simsiam,
        description="SimSiam: siamese predictor with stop-gradient, no negatives (Chen & He 2021)",
        presets={"paper": {"proj_dim": 2048, "pred_hidden_dim": 512, "proj_layers": 3}},
        aug_defaults={"blur_p": 0.5},
    )
)
