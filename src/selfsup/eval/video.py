"""Video evaluation pieces: clip features pooled from a frame featurizer, and the clip-level
motion-direction protocol. The single-frame item-class task goes through the harness as is
(:func:`selfsup.data.video.frame_task` makes it an image dataset)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from selfsup.eval.harness import EvalConfig, protocols_on_features

POOLING = "concat(mean of the first half of the frames' features, mean of the second half)"


@torch.no_grad()
def pooled_clip_features(featurize: Callable[[Tensor], Tensor], clips: Tensor, chunk: int = 64) -> Tensor:
    """Clip features (N, 2D) from per-frame features: [mean over the first half, mean over the second half].

    Averaging all frames would erase the direction of motion (a clip and its reverse have the
    same mean); two temporal segments keep it.

    Args:
        featurize: maps frames (F, C, H, W) to features (F, D).
        clips: (N, T, C, H, W).
        chunk: clips per featurizer call.
    """
    n, t = clips.shape[:2]
    half = t // 2
    out = []
    for i in range(0, n, chunk):
        c = clips[i : i + chunk]
        f = featurize(c.reshape(-1, *c.shape[2:])).reshape(len(c), t, -1)  # (n, T, D)
        out.append(torch.cat([f[:, :half].mean(1), f[:, half:].mean(1)], dim=1))
    return torch.cat(out) if out else torch.zeros(0)


def motion_protocol(ftr: Tensor, ytr: Tensor, fte: Tensor, yte: Tensor, cfg: EvalConfig,
                    num_classes: int = 4, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Linear probe of the motion direction on pooled clip features, at the harness's label fractions:
    ``{"1%": {"mean", "std", "values"}, ...}``."""
    lin = replace(cfg, protocols=("linear",))
    return protocols_on_features(ftr, ytr, fte, yte, lin, num_classes, log)["linear"]
