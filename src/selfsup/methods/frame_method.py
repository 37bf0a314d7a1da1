"""The frame shared by the video methods (frame-order, time-contrastive, tracking): a frame
encoder applied to normalised uint8 frames, a seeded sampler generator, no state between steps.

Each method keeps its own pretext task (which frames or patches, which head, which loss);
only the mechanics of encoding frames and embedding them live here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig
from selfsup.augment.frames import normalize_frames
from selfsup.config import Checked
from selfsup.methods.base import DataInfo
from selfsup.methods.two_view import to_channels_last


@dataclass
class FrameConfig(Checked):
    """The settings :class:`FrameMethod` reads, shared by every video method's config.

    Attributes:
        channels_last: run the encoder in channels_last memory format.
        seed: seed of the method's sampler of frames, tuples or tracks (the run's seed).
    """

    channels_last: bool = True
    seed: int = 0


class FrameMethod(nn.Module):
    """Frame encoder + per-channel ``mean``/``std`` (non-persistent buffers) + the sampler's
    generator seeded from ``cfg.seed``; ``cfg`` (a :class:`FrameConfig`) is validated and
    ``cfg.channels_last`` read here.

    Subclasses add their heads and define ``training_step``.
    """

    def __init__(self, encoder: nn.Module, cfg: FrameConfig, mean: tuple[float, ...] = (0.0,),
                 std: tuple[float, ...] = (1.0,)) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)
        self.gen = torch.Generator().manual_seed(cfg.seed)

    @classmethod
    def build(cls, cfg, encoder: nn.Module, info: DataInfo, *, aug: ImageAugConfig | None = None,
              seed: int = 0) -> FrameMethod:
        """The :class:`MethodSpec` ``build``: the sampler seeded by the run's ``seed`` (``aug`` is
        unused: video methods make no augmented views)."""
        cfg.seed = seed
        return cls(encoder, cfg, info.mean, info.std)

    def _features(self, frames: Tensor) -> Tensor:
        """uint8 (N, C, H, W) -> (N, D)."""
        return self.encoder(to_channels_last(normalize_frames(frames, self.mean, self.std), self.cfg.channels_last))

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Encoder features (B, D) of uint8 frames (B, C, H, W)."""
        return self._features(x)

