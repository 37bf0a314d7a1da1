"""The one fine-tuning recipe of every modality: a copy of the encoder (or a fresh init of it, for training from
scratch) and a linear head trained on a labeled subset, the encoder's learning rate and the checkpoint chosen
on a validation part of that subset, the test set read once with the chosen model.

Images and text differ only in their defaults (:class:`FinetuneConfig`, :class:`TextFinetuneConfig`) and in
how a batch of raw inputs becomes encoder inputs (:class:`Prepare`: crop augmentation and normalisation for
images, nothing for token ids)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, ImageAugment
from selfsup.eval.features import Featurizer
from selfsup.eval.protocols import label_loop
from selfsup.eval.selection import validation_split

Batch = Callable[[Tensor], Tensor]


@dataclass
class FinetuneConfig:
    """Settings of the recipe (defaults: images; :class:`TextFinetuneConfig`: text).

    Attributes:
        steps: a fixed number of optimiser steps (0 = from ``epochs`` / ``min_steps``).
        epochs: passes over the fit part of the labeled subset when ``steps`` is 0
            (steps = ceil(epochs * n / batch)).
        min_steps: at least this many steps when ``steps`` is 0 (tiny subsets).
        batch_size: labeled samples per step.
        lr_grid: AdamW learning rates of the encoder tried on each subset; the one with the best validation
            accuracy is kept (the head always learns at ``lr_head``).
        lr_head: AdamW learning rate of the linear head.
        weight_decay: AdamW weight decay.
        val_fraction: share of the labeled subset held out (per class) to choose the lr and the checkpoint;
            without it (0, or a class with a single label) the first lr and the final step are kept.
        evals: validation checkpoints per run (evenly spaced; the last is the final step).
        augment: light crop + flip augmentation of image inputs.
    """

    steps: int = 300
    epochs: float = 4.0
    min_steps: int = 150
    batch_size: int = 128
    lr_grid: tuple[float, ...] = (1e-4,)
    lr_head: float = 1e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    evals: int = 4
    augment: bool = True

    def validate(self) -> None:
        from selfsup.errors import UserError

        if not self.lr_grid or any(lr <= 0 for lr in self.lr_grid) or self.lr_head <= 0:
            raise UserError(f"fine-tuning learning rates must be positive (lr_grid={self.lr_grid}, "
                            f"lr_head={self.lr_head})", hint="e.g. lr_grid=(1e-4,), lr_head=1e-3")
        if self.batch_size < 1 or self.evals < 1 or self.steps < 0:
            raise UserError(f"fine-tuning needs batch_size >= 1, evals >= 1 and steps >= 0 (got {self.batch_size}, "
                            f"{self.evals}, {self.steps})")
        if self.steps == 0 and self.epochs <= 0 and self.min_steps < 1:
            raise UserError("fine-tuning has no steps: set steps, or epochs / min_steps above 0")
        if not 0 <= self.val_fraction < 1:
            raise UserError(f"fine-tuning val_fraction must be in [0, 1), got {self.val_fraction}")

    def num_steps(self, n: int) -> int:
        """Optimiser steps on a fit set of ``n`` samples."""
        if self.steps > 0:
            return self.steps
        return max(self.min_steps, math.ceil(self.epochs * n / max(1, min(self.batch_size, n))))


@dataclass
class TextFinetuneConfig(FinetuneConfig):
    """The text preset: 4 epochs (at least 150 steps) of batch 32, the encoder lr chosen from two,
    weight decay 0.01, no augmentation. The same recipe for the pretrained encoder and the Transformer
    from scratch."""

    steps: int = 0
    batch_size: int = 32
    lr_grid: tuple[float, ...] = (3e-4, 1e-3)
    weight_decay: float = 0.01
    augment: bool = False


def _same(x: Tensor) -> Tensor:
    return x


@dataclass(frozen=True)
class Prepare:
    """Raw input batch -> encoder input batch.

    Attributes:
        train: ``train(seed)`` is the transform of one training run's batches (e.g. an augmentation seeded by
            the run, so a seed's result does not depend on the runs before it).
        test: the fixed transform of validation and test batches.
    """

    train: Callable[[int], Batch] = lambda seed: _same
    test: Batch = _same


def image_prepare(featurizer: Featurizer, augment: bool, size: int) -> Prepare:
    """Images: the featurizer's preprocessing (normalise, resize, channels_last), and for training batches,
    with ``augment``, a light random crop + flip to ``size`` instead."""
    if not augment:
        return Prepare(lambda seed: featurizer.preprocess, featurizer.preprocess)
    crop = ImageAugConfig(crop_scale_min=0.6, jitter_p=0.0, gray_p=0.0)
    mean, std = tuple(featurizer.mean.tolist()), tuple(featurizer.std.tolist())

    def train(seed: int) -> Batch:
        aug = ImageAugment(crop, size, mean, std, seed)
        if featurizer.channels_last:
            return lambda x: aug(x).contiguous(memory_format=torch.channels_last)
        return aug

    return Prepare(train, featurizer.preprocess)


IDENTITY = Prepare()  # token ids, features: batches go in as they are


def split_fit_val(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-class split of a labeled subset into (fit, validation) positions; None when some class
    has fewer than 2 examples or ``val_fraction`` is 0 (no validation possible)."""
    counts = np.bincount(y)
    if val_fraction <= 0 or (counts[counts > 0] < 2).any():
        return None
    fit, val = validation_split(torch.as_tensor(y), val_fraction, seed + 7919)
    return fit.numpy(), val.numpy()


def fresh_encoder(encoder: nn.Module) -> nn.Module:
    """The same architecture with a fresh initialisation (its constructor's, when it has a ``cfg``)."""
    if hasattr(encoder, "cfg"):
        try:
            return type(encoder)(encoder.cfg)
        except TypeError:
            pass
    enc = copy.deepcopy(encoder)
    for m in enc.modules():
        if m is not enc and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return enc


def _device(module: nn.Module) -> torch.device:
    p = next(iter([*module.parameters(), *module.buffers()]), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, prepare: Batch = _same, batch_size: int = 512) -> float:
    """Accuracy of ``model`` (in eval mode) on raw inputs ``x`` prepared by ``prepare``, in batches."""
    was = model.training
    model.eval()
    dev = _device(model)
    correct = 0
    for i in range(0, len(x), batch_size):
        pred = model(prepare(x[i:i + batch_size]).to(dev)).argmax(1)
        correct += int((pred.cpu() == y[i:i + batch_size].long().cpu()).sum())
    model.train(was)
    return correct / max(1, len(x))


def train_select(encoder: nn.Module, fit: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor] | None,
                 num_classes: int, lr: float, steps: int, cfg: FinetuneConfig, seed: int, reinit: bool,
                 prepare: Prepare = IDENTITY) -> tuple[nn.Module, float, int]:
    """Train a copy of ``encoder`` (a fresh init of it with ``reinit``) + a linear head on ``fit`` = (x, y):
    ``steps`` AdamW steps (encoder at ``lr``, head at ``cfg.lr_head``, cosine schedule) over shuffled epochs.

    Returns:
        (the checkpoint with the best accuracy on ``val`` among ``cfg.evals`` evenly spaced ones, that
        accuracy, its step); without ``val``: (the final model, nan, ``steps``).
    """
    torch.manual_seed(seed)
    enc = fresh_encoder(encoder) if reinit else copy.deepcopy(encoder)
    dev = _device(enc)
    head = nn.Linear(enc.out_dim, num_classes).to(dev)
    model = nn.Sequential(enc, head).train()
    opt = torch.optim.AdamW([{"params": enc.parameters(), "lr": lr}, {"params": head.parameters(), "lr": cfg.lr_head}],
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    batch = prepare.train(seed)
    x, y = fit
    gen = torch.Generator().manual_seed(seed)
    bs = min(cfg.batch_size, len(x))
    checks = {max(1, round(steps * (i + 1) / cfg.evals)) for i in range(cfg.evals)} | {steps}
    best_acc, best_state, best_step = -1.0, None, steps
    perm, pos = torch.randperm(len(x), generator=gen), 0
    for step in range(1, steps + 1):
        if pos + bs > len(x):  # epochs of shuffled batches
            perm, pos = torch.randperm(len(x), generator=gen), 0
        idx = perm[pos:pos + bs]
        pos += bs
        loss = F.cross_entropy(model(batch(x[idx]).to(dev)), y[idx].long().to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if val is not None and step in checks:
            acc = accuracy(model, val[0], val[1], prepare.test)
            if acc > best_acc:
                best_acc, best_state, best_step = acc, copy.deepcopy(model.state_dict()), step
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), (best_acc if val is not None else float("nan")), best_step


def finetune_or_scratch(encoder: nn.Module, xtr: Tensor, ytr: Tensor, xte: Tensor, yte: Tensor, num_classes: int,
                        labels: Sequence[str], seeds: Sequence[int], cfg: FinetuneConfig, reinit: bool,
                        prepare: Prepare = IDENTITY, log: Callable[[str], None] = lambda s: None,
                        name: str | None = None) -> dict[str, dict]:
    """Test accuracy of ``encoder`` fine-tuned (``reinit=False``) or trained from scratch (``reinit=True``)
    on class-balanced label subsets of (xtr, ytr), through :func:`~selfsup.eval.protocols.label_loop`.

    Per seed, the subset is split into fit / validation (:func:`split_fit_val`), every lr of ``cfg.lr_grid``
    is trained for ``cfg.num_steps(fit size)`` steps (:func:`train_select`), and the (lr, checkpoint) with
    the best validation accuracy is tested once.

    Returns:
        ``{label: {"mean", "std", "values", "selected": [{"seed", "lr", "steps", "step", "val"}],
        "selected_on", "lr", "steps", "val"}}``: ``lr`` / ``steps`` / ``val`` list the chosen lr, the steps
        trained and the chosen checkpoint's validation accuracy per seed; ``step`` is that checkpoint.
    """
    cfg.validate()

    def score(subset: Tensor, s: int) -> dict[str, Any]:
        idx = subset.cpu().numpy()
        split = split_fit_val(ytr[idx].cpu().numpy(), cfg.val_fraction, s)
        if split is None:  # no validation: the first lr of the grid, the final step
            fit, val, grid = idx, None, cfg.lr_grid[:1]
        else:
            fit, val, grid = idx[split[0]], (xtr[idx[split[1]]], ytr[idx[split[1]]]), cfg.lr_grid
        steps = cfg.num_steps(len(fit))
        best = None
        for lr in grid:
            model, v, step = train_select(encoder, (xtr[fit], ytr[fit]), val, num_classes, lr, steps, cfg, s, reinit,
                                          prepare)
            if best is None or v > best[1]:
                best = (model, v, lr, step)
        model, v, lr, step = best
        return {"accuracy": accuracy(model, xte, yte, prepare.test), "lr": lr, "steps": steps, "step": step,
                "val": None if math.isnan(v) else round(v, 4)}

    name = name or ("scratch" if reinit else "finetune")
    out = label_loop(ytr, labels, seeds, score, selected_on="validation split of the labeled subset")
    for lab, r in out.items():  # per-seed lists of the chosen lr, the step count and its val accuracy
        r.update({k: [run[k] for run in r["selected"]] for k in ("lr", "steps", "val")})
        log(f"  {name:<10} {lab:>5}: {r['mean']:.4f} ± {r['std']:.4f} (lr {r['lr']}, {r['steps']} steps, "
            f"checkpoint {[run['step'] for run in r['selected']]} on validation)")
    return out
