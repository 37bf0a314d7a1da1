"""MoCo v1 and v2 (He et al. 2020; Chen et al. 2020): a query encoder trained by InfoNCE
against a momentum key encoder's key of the other view (positive) and a queue of K past keys
(negatives). v1: linear head and weaker augmentation; v2: MLP head and blur.

BatchNorm leak: with several processes the key batch is shuffled across processes
(shuffle-BN). In one process the batches are split into ``bn_groups`` chunks normalised
separately, and the key batch is randomly permuted before chunking, so a query and its key
never share BatchNorm statistics by construction (see
:func:`selfsup.modules.distributed.grouped_forward`). Keys from all processes are enqueued,
so every rank's queue is identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, MultiView
from selfsup.config import bounded
from selfsup.functional import info_nce
from selfsup.methods.base import DataInfo, MethodSpec, register_method
from selfsup.methods.two_view import TwoViewConfig, TwoViewMethod, image_views
from selfsup.modules import projection_head
from selfsup.modules.distributed import (
    batch_shuffle,
    batch_unshuffle,
    gather_no_grad,
    grouped_forward,
    world_info,
)
from selfsup.modules.ema import ema_update, momentum_copy
from selfsup.modules.queue import FeatureQueue


@dataclass
class MoCoConfig(TwoViewConfig):
    """MoCo hyperparameters (and ``channels_last`` of :class:`TwoViewConfig`).

    Attributes:
        queue_size: K, number of negative keys.
        momentum: key-encoder EMA momentum m.
        temperature: InfoNCE temperature.
        head: "linear" (v1) or "mlp" (v2).
        proj_hidden_dim / proj_out_dim: head sizes.
        bn_groups: single-process shuffle-BN substitute: number of separately normalised chunks
            (1 disables it; ignored with several processes, which use real shuffle-BN).
        symmetric: also use view 2 as query (the loss is averaged over both directions).
    """

    queue_size: int = bounded(4096, ge=1)
    momentum: float = bounded(0.999, ge=0, le=1)
    temperature: float = bounded(0.2, gt=0)
    head: Literal["linear", "mlp"] = "mlp"
    proj_hidden_dim: int = 512
    proj_out_dim: int = 128
    bn_groups: int = bounded(2, ge=1)
    symmetric: bool = False


class MoCo(TwoViewMethod):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: MoCoConfig, seed: int = 0) -> None:
        super().__init__(encoder, views, cfg)
        self.head = projection_head(cfg.head, encoder.out_dim, cfg.proj_hidden_dim, cfg.proj_out_dim)
        self.key_encoder = momentum_copy(encoder)
        self.key_head = momentum_copy(self.head)
        self.queue = FeatureQueue(cfg.queue_size, cfg.proj_out_dim, seed=seed)
        self._gen = torch.Generator().manual_seed(seed + 7919)
        self._pending: Tensor | None = None

    @classmethod
    def build(cls, cfg: MoCoConfig, encoder: nn.Module, info: DataInfo, *, aug: ImageAugConfig | None = None,
              seed: int = 0) -> MoCo:
        """The :class:`MethodSpec` ``build``: two views seeded ``seed`` and ``seed + 1``; the queue's and
        the key permutation's generators seeded from ``seed``."""
        return cls(encoder, image_views(info, aug, seed), cfg, seed=seed)

    def _q(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(self._cl(x)))

    def _k(self, x: Tensor) -> Tensor:
        return self.key_head(self.key_encoder(self._cl(x)))

    def _groups(self) -> int:
        return 1 if world_info()[1] > 1 else self.cfg.bn_groups

    @torch.no_grad()
    def keys(self, x: Tensor) -> Tensor:
        """Normalised keys in the original row order (shuffle-BN / grouped BN applied)."""
        if world_info()[1] > 1:
            xs, unshuf = batch_shuffle(x, self._gen)
            k = batch_unshuffle(self._k(xs), unshuf)
        else:
            perm = torch.randperm(x.shape[0], generator=self._gen).to(x.device) if self._groups() > 1 else None
            k = grouped_forward(self._k, x, self._groups(), perm)
        return F.normalize(k.float(), dim=1)

    def loss_on_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        """InfoNCE of queries from ``v1`` against keys from ``v2`` and the queue; keeps the
        (gathered) new keys to enqueue after the optimizer step."""
        negatives = self.queue()
        pairs = [(v1, v2), (v2, v1)] if self.cfg.symmetric else [(v1, v2)]
        losses, new_keys = [], []
        for a, b in pairs:
            q = grouped_forward(self._q, a, self._groups())
            k = self.keys(b)
            losses.append(info_nce(q, k, negatives, self.cfg.temperature))
            new_keys.append(k)
        self._pending = gather_no_grad(torch.cat(new_keys))
        return torch.stack(losses).mean()

    @torch.no_grad()
    def on_after_optimizer_step(self, step: int) -> None:
        """Momentum update of the key encoder, then enqueue this step's keys."""
        ema_update(self.key_encoder, self.encoder, self.cfg.momentum)
        ema_update(self.key_head, self.head, self.cfg.momentum)
        if self._pending is not None:
            self.queue.enqueue(self._pending)
            self._pending = None


@dataclass
class MoCoV1Config(MoCoConfig):
    """MoCo v1 defaults: linear head, temperature 0.07."""

    head: Literal["linear", "mlp"] = "linear"
    temperature: float = bounded(0.07, gt=0)


_PRESETS = {
    "paper": {"queue_size": 65536, "momentum": 0.999},
    "fast": {"queue_size": 4096, "momentum": 0.99},
    "symmetric": {"symmetric": True},
    "no-bn-groups": {"bn_groups": 1},
}

# v1 and v2 differ only in their config defaults (head, temperature) and augmentation
for _name, _config_cls, _description, _aug in [
    ("moco-v1", MoCoV1Config, "MoCo v1: momentum key encoder + queue of negatives, linear head (He et al. 2020)",
     {"jitter_p": 0.8, "gray_p": 0.2, "blur_p": 0.0, "crop_scale_min": 0.2}),
    ("moco-v2", MoCoConfig, "MoCo v2: MoCo with MLP head and blur augmentation (Chen et al. 2020)", {"blur_p": 0.5}),
]:
    register_method(MethodSpec(name=_name, family="contrastive", modality="image", config_cls=_config_cls,
                               build=MoCo.build, description=_description, presets=_PRESETS, aug_defaults=_aug))
