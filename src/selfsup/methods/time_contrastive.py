"""Time-contrastive frames (Sermanet et al., 2018, "Time-Contrastive Networks"):
frames close in time are positives; frames far away in the same clip and frames of
other clips are negatives; the shared InfoNCE loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig
from selfsup.augment.frames import gather_frames, normalize_frames, time_contrastive_indices
from selfsup.errors import UserError
from selfsup.functional import info_nce
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.modules import projection_head


@dataclass
class TimeContrastiveConfig:
    """Hyperparameters.

    Attributes:
        pos_window: the positive is at most this many frames from the anchor.
        neg_gap: the same-clip negative is at least this many frames from the anchor.
        same_clip_negatives: use the far frame of the anchor's own clip as a negative
            (else only other clips' frames are negatives).
        temperature: InfoNCE temperature.
        proj_hidden_dim: hidden width of the projection head.
        proj_dim: output width of the projection head.
        channels_last: run the encoder in channels_last memory format.
        seed: seed of the frame sampler.
    """

    pos_window: int = 2
    neg_gap: int = 8
    same_clip_negatives: bool = True
    temperature: float = 0.1
    proj_hidden_dim: int = 512
    proj_dim: int = 128
    channels_last: bool = True
    seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.pos_window < self.neg_gap:
            raise UserError(f"need 1 <= pos_window < neg_gap, got {self.pos_window}, {self.neg_gap}")
        if self.temperature <= 0:
            raise UserError(f"temperature must be > 0, got {self.temperature}")


def negative_index(b: int, same_clip: bool, device: torch.device | None = None) -> Tensor:
    """For frames laid out as (B, 3) = (anchor, positive, far) per clip, flattened to 3B rows:
    the rows each clip's anchor is contrasted against, (B, K).

    K = 3B - 2 with ``same_clip`` (the own far frame and every frame of the other clips),
    else 3B - 3.
    """
    rows = torch.arange(3 * b, device=device)
    clip, slot = rows // 3, rows % 3
    own = clip[None] == torch.arange(b, device=device)[:, None]  # (B, 3B)
    drop = own & ((slot[None] < 2) if same_clip else torch.ones_like(own))
    return rows.expand(b, -1)[~drop].reshape(b, -1)


class TimeContrastive(nn.Module):
    """Encoder + projection head; anchor/positive/far frames of every clip in one encoder call."""

    def __init__(self, encoder: nn.Module, cfg: TimeContrastiveConfig, mean: tuple[float, ...] = (0.0,),
                 std: tuple[float, ...] = (1.0,)) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.head = projection_head("mlp", encoder.out_dim, cfg.proj_hidden_dim, cfg.proj_dim)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def _features(self, frames: Tensor) -> Tensor:
        x = normalize_frames(frames, self.mean, self.std)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder(x)

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        clips = batch[0] if isinstance(batch, (tuple, list)) else batch  # (B, T, C, H, W) uint8
        b, t = clips.shape[:2]
        a, p, n = time_contrastive_indices(b, t, self.gen, self.cfg.pos_window, self.cfg.neg_gap)
        frames = gather_frames(clips, torch.stack([a, p, n], 1))  # (B, 3, C, H, W)
        z = self.head(self._features(frames.reshape(3 * b, *frames.shape[2:])))  # (3B, P)
        neg = z[negative_index(b, self.cfg.same_clip_negatives, z.device)]  # (B, K, P)
        zz = z.reshape(b, 3, -1)
        # symmetric: the anchor finds its positive, and the positive its anchor, among the same negatives
        loss = 0.5 * (info_nce(zz[:, 0], zz[:, 1], neg, self.cfg.temperature)
                      + info_nce(zz[:, 1], zz[:, 0], neg, self.cfg.temperature))
        return StepOutput(loss, {"loss": float(loss.detach())})

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps."""

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Encoder features (B, D) of uint8 frames (B, C, H, W)."""
        return self._features(x)


def build_time_contrastive(cfg: TimeContrastiveConfig, encoder: nn.Module, info: DataInfo, aug: ImageAugConfig,
                           seed: int) -> TimeContrastive:
    cfg.seed = seed
    return TimeContrastive(encoder, cfg, info.mean, info.std)


register_method(
    MethodSpec(
        name="time-contrastive",
        family="temporal",
        modality="video",
        config_cls=TimeContrastiveConfig,
        build=build_time_contrastive,
        description="time-contrastive frames: near frames positive, far and other clips negative (InfoNCE)",
        optim_defaults={"lr": 1e-3},
    )
)
