"""SimCLR (Chen et al., 2020): two augmented views of each image, an encoder, a
projection head and NT-Xent. Every other sample's views are the negatives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, ImageAugment, MultiView
from selfsup.errors import UserError
from selfsup.losses import NTXentLoss
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.modules import projection_head
from selfsup.functional.nt_xent_gathered import nt_xent_gathered
from selfsup.modules.distributed import gather_with_grad, world_info


@dataclass
class SimCLRConfig:
    """SimCLR hyperparameters.

    Attributes:
        temperature: NT-Xent temperature.
        projection: "mlp" (default), "linear" or "none" (the paper's head ablation).
        proj_hidden_dim: hidden width of the MLP head.
        proj_out_dim: output width of the head (ignored for "none").
        channels_last: run conv encoders in channels_last memory format (faster on CPUs).
        gather_negatives: with several processes (torch.distributed initialised), use every
            process's embeddings as negatives (gathered with gradient); no effect in one process.
    """

    temperature: float = 0.2
    projection: Literal["mlp", "linear", "none"] = "mlp"
    proj_hidden_dim: int = 512
    proj_out_dim: int = 128
    channels_last: bool = True
    gather_negatives: bool = True

    def validate(self) -> None:
        if self.temperature <= 0:
            raise UserError(f"temperature must be > 0, got {self.temperature}")
        if self.proj_hidden_dim < 1 or self.proj_out_dim < 1:
            raise UserError("proj_hidden_dim and proj_out_dim must be >= 1")


class SimCLR(nn.Module):
    """SimCLR composed from an encoder, a view pipeline, a projection head and NT-Xent.

    Args:
        encoder: backbone with ``out_dim``.
        views: the two-view composer (applied to raw uint8 batches).
        cfg: hyperparameters.
    """

    def __init__(self, encoder: nn.Module, views: MultiView, cfg: SimCLRConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.views = views
        self.head = projection_head(cfg.projection, encoder.out_dim, cfg.proj_hidden_dim, cfg.proj_out_dim)
        self.loss_fn = NTXentLoss(cfg.temperature)

    def _features(self, x: Tensor) -> Tensor:
        if self.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder(x)

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch  # (B, C, H, W) uint8
        with torch.no_grad():
            v1, v2 = self.views(x)  # 2 x (B, C, S, S)
        h = self._features(torch.cat([v1, v2]))  # (2B, D): both views in one call
        z = self.head(h)  # (2B, P)
        rank, world = world_info()
        if world > 1 and self.cfg.gather_negatives:
            loss = nt_xent_gathered(z, gather_with_grad(z), rank, self.cfg.temperature)
        else:
            loss = self.loss_fn(z)
        return StepOutput(loss, {"loss": float(loss.detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """SimCLR keeps no state between steps."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Encoder features (B, D) of raw (uint8) images, without augmentation."""
        return self._features(self.views.pipelines[0].plain(x))


def build_simclr(cfg: SimCLRConfig, encoder: nn.Module, info: DataInfo, aug: ImageAugConfig, seed: int) -> SimCLR:
    size = info.input_shape[-1]
    views = MultiView([ImageAugment(aug, size, info.mean, info.std, seed=seed + i) for i in range(2)])
    return SimCLR(encoder, views, cfg)


register_method(
    MethodSpec(
        name="simclr",
        family="contrastive",
        modality="image",
        config_cls=SimCLRConfig,
        build=build_simclr,
        description="SimCLR: two views, projection head, NT-Xent (Chen et al. 2020)",
        presets={
            "paper": {"temperature": 0.5, "projection": "mlp"},
            "linear-head": {"projection": "linear"},
            "no-head": {"projection": "none"},
        },
    )
)
