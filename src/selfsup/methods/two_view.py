"""The frame shared by the image methods that learn from two augmented views of a batch
(SimCLR, MoCo, BYOL, SimSiam, Barlow Twins, VICReg).

What is shared is only the mechanics around the method's own idea: make the views of a uint8
batch without gradient, hand them to the method's ``loss_on_views(v1, v2)``, report the loss,
and embed with the encoder on the un-augmented view. Heads, losses, EMA targets and queues stay
in each method's file.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, ImageAugment, MultiView
from selfsup.config import Checked
from selfsup.methods.base import DataInfo, StepOutput, batch_inputs


def to_channels_last(x: Tensor, on: bool) -> Tensor:
    """``x`` in channels_last memory format when ``on`` and it is an image batch (4-D), else as is."""
    return x.contiguous(memory_format=torch.channels_last) if on and x.dim() == 4 else x


def image_views(info: DataInfo, aug: ImageAugConfig | None, seed: int, n: int = 2) -> MultiView:
    """``n`` independently seeded augmentation pipelines (seeds ``seed``, ``seed + 1``, ...); ``aug`` None:
    :class:`ImageAugConfig`'s defaults (the engine passes the run's, with the method's ``aug_defaults``)."""
    size = info.input_shape[-1]
    aug = ImageAugConfig() if aug is None else aug
    return MultiView([ImageAugment(aug, size, info.mean, info.std, seed=seed + i) for i in range(n)])


@dataclass
class TwoViewConfig(Checked):
    """The setting :class:`TwoViewMethod` reads, shared by every two-view method's config.

    Attributes:
        channels_last: run conv encoders in channels_last memory format (faster on CPUs).
    """

    channels_last: bool = True


class TwoViewMethod(nn.Module):
    """Encoder + two-view composer + ``cfg`` (a :class:`TwoViewConfig`, validated; ``cfg.channels_last``
    read here).

    Subclasses add their heads (and a ``loss_on_views(v1, v2) -> Tensor`` unless the default,
    a ``projector`` and a ``loss_fn`` on the two projections, is theirs).
    """

    def __init__(self, encoder: nn.Module, views: MultiView, cfg: TwoViewConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.views = views

    @classmethod
    def build(cls, cfg, encoder: nn.Module, info: DataInfo, *, aug: ImageAugConfig | None = None,
              seed: int = 0) -> TwoViewMethod:
        """The :class:`MethodSpec` ``build``: two views of ``aug`` seeded ``seed`` and ``seed + 1``."""
        return cls(encoder, image_views(info, aug, seed), cfg)

    def _cl(self, x: Tensor) -> Tensor:
        return to_channels_last(x, self.cfg.channels_last)

    def both_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        """Encoder features (2B, D) of both views in one call (rows: ``v1`` then ``v2``)."""
        return self.encoder(self._cl(torch.cat([v1, v2])))

    def loss_on_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        """The loss of one batch's two views. This default is the plain recipe of Barlow Twins and
        VICReg: ``self.loss_fn`` of the two views' ``self.projector`` outputs; methods with a
        predictor, a target network or negatives define their own."""
        z1, z2 = self.projector(self.both_views(v1, v2)).chunk(2)  # 2 x (B, P)
        return self.loss_fn(z1, z2)

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = batch_inputs(batch)  # (B, C, H, W) uint8
        with torch.no_grad():
            v1, v2 = self.views(x)  # 2 x (B, C, S, S)
        loss = self.loss_on_views(v1, v2)
        return StepOutput(loss, {"loss": float(loss.detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps (methods with an EMA or a queue override this)."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Encoder features (B, D) of raw (uint8) images, without augmentation."""
        return self.encoder(self._cl(self.views.pipelines[0].plain(x)))
