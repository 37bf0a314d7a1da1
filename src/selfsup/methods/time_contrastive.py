"""Time-contrastive frames (Sermanet et al., 2018, "Time-Contrastive Networks"):
frames close in time are positives; frames far away in the same clip and frames of
other clips are negatives; the shared InfoNCE loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment.frames import gather_frames, time_contrastive_indices
from selfsup.config import bounded
from selfsup.errors import UserError
from selfsup.functional import info_nce
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.frame_method import FrameConfig, FrameMethod
from selfsup.modules import projection_head


@dataclass
class TimeContrastiveConfig(FrameConfig):
    """Hyperparameters (and ``channels_last``, ``seed`` of :class:`FrameConfig`).

    Attributes:
        pos_window: the positive is at most this many frames from the anchor.
        neg_gap: the same-clip negative is at least this many frames from the anchor.
        same_clip_negatives: use the far frame of the anchor's own clip as a negative
            (else only other clips' frames are negatives).
        temperature: InfoNCE temperature.
        proj_hidden_dim: hidden width of the projection head.
        proj_dim: output width of the projection head.
    """

    pos_window: int = bounded(2, ge=1)
    neg_gap: int = 8
    same_clip_negatives: bool = True
    temperature: float = bounded(0.1, gt=0)
    proj_hidden_dim: int = 512
    proj_dim: int = 128

    def validate(self) -> None:
        super().validate()
        if self.pos_window >= self.neg_gap:
            raise UserError(f"need pos_window < neg_gap, got {self.pos_window}, {self.neg_gap}")


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


class TimeContrastive(FrameMethod):
    """Encoder + projection head; anchor/positive/far frames of every clip in one encoder call."""

    def __init__(self, encoder: nn.Module, cfg: TimeContrastiveConfig, mean: tuple[float, ...] = (0.0,),
                 std: tuple[float, ...] = (1.0,)) -> None:
        super().__init__(encoder, cfg, mean, std)
        self.head = projection_head("mlp", encoder.out_dim, cfg.proj_hidden_dim, cfg.proj_dim)

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        clips = batch_inputs(batch)  # (B, T, C, H, W) uint8
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


register_method(
    MethodSpec(
        name="time-contrastive",
        family="temporal",
        modality="video",
        config_cls=TimeContrastiveConfig,
        build=TimeContrastive.build,
        description="time-contrastive frames: near frames positive, far and other clips negative (InfoNCE)",
        optim_defaults={"lr": 1e-3},
    )
)
