"""Frame-order verification (Misra et al., 2016, "Shuffle and Learn") and its N-frame
permutation-classification variant (Lee et al., 2017).

Tuples of frames from high-motion windows go through one shared frame encoder; a small
classifier over the concatenated features says whether the order is correct (``triplet``)
or which permutation class was applied (``permutation``). The label is made from time
alone: no annotation is used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig
from selfsup.augment.frames import (
    gather_frames,
    order_tuples,
    permutation_classes,
    permutation_tuples,
)
from selfsup.config import bounded
from selfsup.errors import UserError
from selfsup.methods.base import (
    DataInfo,
    MethodSpec,
    StepOutput,
    batch_inputs,
    register_method,
)
from selfsup.methods.frame_method import FrameConfig, FrameMethod
from selfsup.modules import mlp_head


@dataclass
class FrameOrderConfig(FrameConfig):
    """Hyperparameters (and ``channels_last``, ``seed`` of :class:`FrameConfig`).

    Attributes:
        variant: "triplet" (binary order verification of 3 frames, Misra et al.) or
            "permutation" (classify which of the ``num_frames``!/2 orders was applied).
        num_frames: frames per tuple of the permutation variant.
        span: the frames of a tuple come from a window of this many frames.
        motion_quantile: windows are drawn among those at or above this quantile of their
            clip's motion (0 = any window).
        hidden_dim: hidden width of the order classifier.
    """

    variant: Literal["triplet", "permutation"] = "triplet"
    num_frames: int = bounded(4, ge=3, le=6)
    span: int = 10
    motion_quantile: float = bounded(0.5, ge=0, lt=1)
    hidden_dim: int = 256

    def validate(self) -> None:
        super().validate()
        need = 5 if self.variant == "triplet" else self.num_frames
        if self.span < need:
            raise UserError(f"span must be >= {need} frames for the {self.variant} variant, got {self.span}")

    @property
    def tuple_size(self) -> int:
        return 3 if self.variant == "triplet" else self.num_frames

    @property
    def num_classes(self) -> int:
        return 2 if self.variant == "triplet" else len(permutation_classes(self.num_frames))


class FrameOrder(FrameMethod):
    """Shared frame encoder + order classifier on concatenated tuple features."""

    def __init__(self, encoder: nn.Module, cfg: FrameOrderConfig, mean: tuple[float, ...] = (0.0,),
                 std: tuple[float, ...] = (1.0,)) -> None:
        super().__init__(encoder, cfg, mean, std)
        self.classifier = mlp_head(cfg.tuple_size * encoder.out_dim, cfg.hidden_dim, cfg.num_classes, 2)

    def sample(self, clips: Tensor, gen: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Tuples (B, k, C, H, W) and their order labels (B,) for a batch of clips."""
        gen = gen or self.gen
        if self.cfg.variant == "triplet":
            idx, labels = order_tuples(clips, gen, self.cfg.span, self.cfg.motion_quantile)
        else:
            idx, labels = permutation_tuples(clips, gen, self.cfg.num_frames, self.cfg.span, self.cfg.motion_quantile)
        return gather_frames(clips, idx), labels.to(clips.device)

    def order_logits(self, tuples: Tensor) -> Tensor:
        """Classifier logits (B, classes) of frame tuples (B, k, C, H, W)."""
        b, k = tuples.shape[:2]
        h = self._features(tuples.reshape(b * k, *tuples.shape[2:]))  # (B*k, D): all frames in one call
        return self.classifier(h.reshape(b, k * h.shape[1]))  # (B, classes)

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        clips = batch_inputs(batch)  # (B, T, C, H, W) uint8
        with torch.no_grad():
            tuples, labels = self.sample(clips)
        logits = self.order_logits(tuples)
        loss = F.cross_entropy(logits.float(), labels)
        acc = (logits.argmax(1) == labels).float().mean()
        return StepOutput(loss, {"loss": float(loss.detach()), "order_acc": float(acc)})


def build_frame_order(cfg: FrameOrderConfig, encoder: nn.Module, info: DataInfo, *,
                      aug: ImageAugConfig | None = None, seed: int = 0) -> FrameOrder:
    if getattr(encoder, "grid", None) == 1:  # small-cnn: global average pooling keeps no layout
        warnings.warn("frame-order with a globally pooled encoder: frame order is a matter of where things are, "
                      "and globally pooled features keep almost no position, so the order classifier may stay at "
                      "chance; use --encoder small-cnn-2x2 (BENCHMARKS.md, 'video')", stacklevel=2)
    return FrameOrder.build(cfg, encoder, info, aug=aug, seed=seed)


register_method(
    MethodSpec(
        name="frame-order",
        family="temporal",
        modality="video",
        config_cls=FrameOrderConfig,
        build=build_frame_order,
        description="frame-order verification of 3-frame tuples (Misra et al. 2016); variant=permutation",
        presets={"permutation": {"variant": "permutation", "num_frames": 4}},
        optim_defaults={"lr": 1e-3},
    )
)
