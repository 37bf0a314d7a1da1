"""Fine-tuning (encoder unfrozen, small learning rate) and supervised training from
scratch on a labeled subset: the same loop, different starting weights and rates."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, ImageAugment
from selfsup.eval.features import Featurizer


@dataclass
class FinetuneConfig:
    """Settings of the fine-tuning / supervised loop.

    Attributes:
        steps: optimiser steps (at least ``min_epochs`` passes over small subsets are not forced).
        batch_size: labeled samples per step.
        lr_encoder: Adam learning rate of the encoder (small for fine-tuning).
        lr_head: Adam learning rate of the linear head.
        weight_decay: AdamW weight decay.
        augment: light crop + flip augmentation for image inputs.
    """

    steps: int = 300
    batch_size: int = 128
    lr_encoder: float = 1e-4
    lr_head: float = 1e-3
    weight_decay: float = 1e-4
    augment: bool = True


def train_classifier(
    featurizer: Featurizer,
    x: Tensor,
    y: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    num_classes: int,
    cfg: FinetuneConfig,
    seed: int = 0,
    reinit: bool = False,
) -> float:
    """Train encoder + linear head on (x, y); return test accuracy.

    Args:
        featurizer: the encoder and its preprocessing (copied, never modified).
        x, y: the labeled training subset (raw inputs).
        x_test, y_test: the test set.
        num_classes: classes of the task.
        cfg: loop settings.
        seed: seed of initialisation, order and augmentation.
        reinit: re-initialise the encoder's weights (supervised training from scratch).
    """
    torch.manual_seed(seed)
    enc = copy.deepcopy(featurizer.encoder)
    if reinit:
        for m in enc.modules():
            if hasattr(m, "reset_parameters") and m is not enc:
                m.reset_parameters()
    head = nn.Linear(enc.out_dim, num_classes)
    model = nn.Sequential(enc, head).train()
    opt = torch.optim.AdamW(
        [{"params": enc.parameters(), "lr": cfg.lr_encoder}, {"params": head.parameters(), "lr": cfg.lr_head}],
        weight_decay=cfg.weight_decay,
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.steps))
    aug = None
    if cfg.augment and x.dtype == torch.uint8 and x.dim() == 4:
        aug_cfg = ImageAugConfig(crop_scale_min=0.6, jitter_p=0.0, gray_p=0.0)
        aug = ImageAugment(aug_cfg, x.shape[-1], tuple(featurizer.mean.tolist()), tuple(featurizer.std.tolist()), seed)
    gen = torch.Generator().manual_seed(seed)
    bs = min(cfg.batch_size, len(x))
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(x), (bs,), generator=gen)
        xb = aug(x[idx]) if aug is not None else featurizer.preprocess(x[idx])
        if featurizer.channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(xb), y[idx].long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    tuned = Featurizer(nn.Sequential(enc, head), tuple(featurizer.mean.tolist()), tuple(featurizer.std.tolist()),
                       featurizer.size, featurizer.channels_last)
    tuned.encoder.out_dim = num_classes  # type: ignore[attr-defined]
    logits = tuned(x_test)
    return float((logits.argmax(1) == y_test.long()).float().mean())
