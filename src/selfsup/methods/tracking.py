"""Tracked patches (Wang & Gupta, 2015, "Unsupervised Learning of Visual Representations
using Videos"): an unsupervised tracker follows moving patches; the first and the last
patch of a track are a positive pair, patches of other tracks and clips are negatives.

The tracker (:mod:`selfsup.augment.tracking`, block matching on frame differences) runs
on every batch of raw clips, so no ground truth of the data generator is ever used. A
patch is shown to the frame encoder where it was in its frame (the rest zeroed), at the
frames' own size and scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment.tracking import patch_in_frame, track_patches
from selfsup.config import bounded
from selfsup.errors import UserError
from selfsup.functional import nt_xent
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.frame_method import FrameConfig, FrameMethod
from selfsup.modules import projection_head


@dataclass
class TrackingConfig(FrameConfig):
    """Hyperparameters (and ``channels_last``, ``seed`` of :class:`FrameConfig`).

    Attributes:
        patch: side of the tracked square patches, pixels.
        radius: largest per-frame motion the tracker searches, pixels.
        tracks_per_clip: moving patches detected per clip.
        min_motion: mean absolute frame difference (in [0, 1]) a patch needs to be tracked.
        min_length: shortest track, frames (first and last patch this far apart, minus one).
        max_length: longest track, frames (0 = the whole clip).
        loss: "info_nce" (NT-Xent over all patches of the batch) or "triplet" (Wang & Gupta's
            ranking loss with the hardest other patch as negative).
        temperature: InfoNCE temperature.
        margin: triplet margin on cosine distances.
        proj_hidden_dim: hidden width of the projection head.
        proj_dim: output width of the projection head.
    """

    patch: int = bounded(32, ge=4)
    radius: int = bounded(5, ge=1)
    tracks_per_clip: int = bounded(2, ge=1)
    min_motion: float = 0.02
    min_length: int = bounded(5, ge=2)
    max_length: int = 0
    loss: Literal["info_nce", "triplet"] = "info_nce"
    temperature: float = bounded(0.1, gt=0)
    margin: float = bounded(0.5, ge=0)
    proj_hidden_dim: int = 512
    proj_dim: int = 128

    def validate(self) -> None:
        super().validate()
        if self.max_length and self.max_length < self.min_length:
            raise UserError(f"need min_length <= max_length (or max_length 0), got {self.min_length}, "
                            f"{self.max_length}")


def triplet_loss(first: Tensor, last: Tensor, margin: float) -> Tensor:
    """Ranking loss of Wang & Gupta (2015) on cosine distances, hardest negative per anchor.

    ``first[i]`` and ``last[i]`` (M, D) are the ends of track i; every other track's last
    patch is a negative of ``first[i]``: ``max(0, d(f_i, l_i) - d(f_i, l_j) + margin)``.
    """
    f, lst = F.normalize(first.float(), dim=1), F.normalize(last.float(), dim=1)
    dist = 1 - f @ lst.t()  # (M, M) cosine distances
    pos = dist.diagonal()
    neg = dist.masked_fill(torch.eye(len(f), dtype=torch.bool, device=f.device), float("inf")).min(1).values
    return F.relu(pos - neg + margin).mean()


class Tracking(FrameMethod):
    """Encoder + projection head trained on the two ends of unsupervised tracks."""

    def __init__(self, encoder: nn.Module, cfg: TrackingConfig, mean: tuple[float, ...] = (0.0,),
                 std: tuple[float, ...] = (1.0,)) -> None:
        super().__init__(encoder, cfg, mean, std)
        self.head = projection_head("mlp", encoder.out_dim, cfg.proj_hidden_dim, cfg.proj_dim)

    @torch.no_grad()
    def track_pairs(self, clips: Tensor) -> tuple[Tensor, Tensor]:
        """Track a batch of clips; the first and last patch (in frame) of every valid track, (M, C, H, W) each."""
        b, t = clips.shape[:2]
        hi = t if self.cfg.max_length <= 0 else min(t, self.cfg.max_length)
        lo = min(self.cfg.min_length, hi)
        length = int(torch.randint(lo, hi + 1, (1,), generator=self.gen))
        start = torch.randint(0, t - length + 1, (b,), generator=self.gen)
        tr = track_patches(clips, start, length, self.cfg.patch, self.cfg.radius, self.cfg.tracks_per_clip,
                           self.cfg.min_motion)
        bi, ki = torch.nonzero(tr.valid, as_tuple=True)  # valid tracks
        s = tr.start.to(clips.device)[bi]
        first = patch_in_frame(clips[bi, s], tr.positions[bi, ki, 0], self.cfg.patch)
        last = patch_in_frame(clips[bi, s + length - 1], tr.positions[bi, ki, -1], self.cfg.patch)
        return first, last

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        clips = batch_inputs(batch)  # (B, T, C, H, W) uint8
        first, last = self.track_pairs(clips)
        m = len(first)
        if m < 2:  # nothing moved: a zero loss that still touches the graph
            z = self.head(self._features(clips[:2, 0]))
            return StepOutput(z.sum() * 0.0, {"loss": 0.0, "tracks": float(m)})
        z = self.head(self._features(torch.cat([first, last])))  # (2M, P): all patches in one call
        if self.cfg.loss == "info_nce":
            loss = nt_xent(z, self.cfg.temperature)
        else:
            loss = triplet_loss(z[:m], z[m:], self.cfg.margin)
        return StepOutput(loss, {"loss": float(loss.detach()), "tracks": float(m)})


register_method(
    MethodSpec(
        name="tracking",
        family="temporal",
        modality="video",
        config_cls=TrackingConfig,
        build=Tracking.build,
        description="tracked patches: first and last patch of an unsupervised track are positives (Wang & Gupta 2015)",
        presets={"triplet": {"loss": "triplet"}},
        optim_defaults={"lr": 1e-3},
    )
)
