"""Sentence classification under the low-label protocol (class-balanced label subsets over
seeds): bag-of-words logistic regression and averaged word vectors as baselines, and one
fine-tuning recipe shared by the pretrained encoder and the same Transformer from scratch."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.data.text import word_tokens

BOW_C_GRID = (0.1, 1.0, 10.0, 100.0)


def bow_logreg_accuracy(train_texts: Sequence[str], y_train: np.ndarray, test_texts: Sequence[str],
                        y_test: np.ndarray, seed: int = 0) -> float:
    """TF-IDF bag of words (unigrams + bigrams) and multinomial logistic regression.

    The inverse regularisation C is picked by stratified cross-validation on the training
    labels (up to 3 folds; C=10 when a class has a single example)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    vec = TfidfVectorizer(tokenizer=word_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                          min_df=1, sublinear_tf=True)
    xtr = vec.fit_transform(train_texts)
    xte = vec.transform(test_texts)
    counts = np.bincount(y_train)
    counts = counts[counts > 0]
    if len(counts) < 2:
        return float((y_test == y_train[0]).mean())
    folds = int(min(3, counts.min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if folds < 2:
            clf = LogisticRegression(C=10.0, max_iter=1000).fit(xtr, y_train)
        else:
            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            clf = GridSearchCV(LogisticRegression(max_iter=1000), {"C": list(BOW_C_GRID)}, cv=cv, n_jobs=1)
            clf.fit(xtr, y_train)
    return float((clf.predict(xte) == y_test).mean())


def bow_protocol(train_texts: Sequence[str], y_train: np.ndarray, test_texts: Sequence[str], y_test: np.ndarray,
                 labels: Sequence[str], seeds: Sequence[int],
                 log: Callable[[str], None] = lambda s: None) -> dict[str, dict]:
    """{label fraction: {"mean", "std", "values"}} of :func:`bow_logreg_accuracy` on balanced subsets."""
    from selfsup.eval.protocols import label_loop

    def score(idx: Tensor, s: int) -> dict[str, float]:
        i = idx.numpy()
        return {"accuracy": bow_logreg_accuracy([train_texts[j] for j in i], y_train[i], test_texts, y_test, s)}

    return label_loop(torch.as_tensor(y_train), labels, seeds, score, log=log, name="bow-logreg")


def average_word_vectors(texts: Sequence[str], lookup: Callable[[str], np.ndarray | None], dim: int) -> Tensor:
    """(N, dim) mean of the vectors of each text's known words (zeros when none is known)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        vecs = [v for v in (lookup(w) for w in word_tokens(t)) if v is not None]
        if vecs:
            out[i] = np.mean(vecs, axis=0)
    return torch.from_numpy(out)


@dataclass
class TextFinetuneConfig:
    """One recipe for both arms of the comparison: the pretrained encoder fine-tuned, and the same
    architecture trained from scratch (fresh init). Both get the same AdamW, head, batch size,
    number of steps, learning-rate grid and model selection.

    Attributes:
        epochs: passes over the fit part of the labeled subset (steps = ceil(epochs * n / batch)).
        min_steps: at least this many steps (tiny subsets).
        steps: a fixed step count instead (0 = from ``epochs`` / ``min_steps``).
        batch_size: labeled samples per step.
        lr_grid: encoder learning rates tried by each arm; the one with the best validation
            accuracy is kept (the head always learns at ``lr_head``).
        lr_head: learning rate of the linear head.
        weight_decay: AdamW weight decay.
        val_fraction: share of the labeled subset held out (per class) to pick the lr and the
            checkpoint; the test set is never used for choices.
        evals: validation checkpoints per run (evenly spaced; the last is the final step).
    """

    epochs: float = 4.0
    min_steps: int = 150
    steps: int = 0
    batch_size: int = 32
    lr_grid: tuple[float, ...] = (3e-4, 1e-3)
    lr_head: float = 1e-3
    weight_decay: float = 0.01
    val_fraction: float = 0.2
    evals: int = 4

    def num_steps(self, n: int) -> int:
        if self.steps > 0:
            return self.steps
        return max(self.min_steps, math.ceil(self.epochs * n / max(1, min(self.batch_size, n))))


def split_fit_val(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-class split of a labeled subset into (fit, validation) positions; None when some class
    has fewer than 2 examples or ``val_fraction`` is 0 (no validation possible)."""
    if val_fraction <= 0:
        return None
    counts = np.bincount(y)
    if (counts[counts > 0] < 2).any():
        return None
    rng = np.random.default_rng(seed + 7919)
    fit, val = [], []
    for c in np.flatnonzero(counts):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = min(len(idx) - 1, max(1, int(round(val_fraction * len(idx)))))
        val.append(idx[:k])
        fit.append(idx[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size].long()).sum())
    model.train(was)
    return correct / max(1, len(x))


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


def train_select(encoder: nn.Module, x: Tensor, y: Tensor, xv: Tensor | None, yv: Tensor | None, num_classes: int,
                 lr: float, steps: int, cfg: TextFinetuneConfig, seed: int, reinit: bool) -> tuple[nn.Module, float]:
    """Train (a copy of) ``encoder`` + a linear head on (x, y) for ``steps`` AdamW steps (cosine lr).

    Returns the checkpoint with the best validation accuracy on (xv, yv) among ``cfg.evals``
    evenly spaced ones (the final one without validation data) and that accuracy (nan without)."""
    torch.manual_seed(seed)
    enc = fresh_encoder(encoder) if reinit else copy.deepcopy(encoder)
    head = nn.Linear(enc.out_dim, num_classes)
    model = nn.Sequential(enc, head).train()
    opt = torch.optim.AdamW([{"params": enc.parameters(), "lr": lr}, {"params": head.parameters(), "lr": cfg.lr_head}],
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    gen = torch.Generator().manual_seed(seed)
    bs = min(cfg.batch_size, len(x))
    checks = {max(1, round(steps * (i + 1) / max(1, cfg.evals))) for i in range(max(1, cfg.evals))} | {steps}
    best_acc, best_state = -1.0, None
    perm, pos = torch.randperm(len(x), generator=gen), 0
    for step in range(1, steps + 1):
        if pos + bs > len(x):  # epochs of shuffled batches
            perm, pos = torch.randperm(len(x), generator=gen), 0
        idx = perm[pos:pos + bs]
        pos += bs
        loss = F.cross_entropy(model(x[idx]), y[idx].long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if xv is not None and step in checks:
            acc = _accuracy(model, xv, yv)
            if acc > best_acc:
                best_acc, best_state = acc, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), (best_acc if xv is not None else float("nan"))


def finetune_or_scratch(encoder: nn.Module, xtr: Tensor, ytr: Tensor, xte: Tensor, yte: Tensor, num_classes: int,
                        labels: Sequence[str], seeds: Sequence[int], cfg: TextFinetuneConfig, reinit: bool,
                        log: Callable[[str], None] = lambda s: None) -> dict[str, dict]:
    """{label fraction: {"mean", "std", "values", "lr", "steps", "val"}}: test accuracy of the
    encoder fine-tuned (``reinit=False``) or trained from scratch (``reinit=True``) on class-balanced
    label subsets. The recipe is identical for both: per seed, the subset is split into fit /
    validation, every lr of ``cfg.lr_grid`` is trained for ``cfg.num_steps(fit size)`` steps, and
    the (lr, checkpoint) with the best validation accuracy is tested."""
    from selfsup.eval.protocols import label_loop

    def score(subset: Tensor, s: int) -> dict[str, Any]:
        idx = subset.numpy()
        split = split_fit_val(ytr[idx].numpy(), cfg.val_fraction, s)
        if split is None:  # no validation: the first lr of the grid, the final step
            fit, xv, yv, grid = idx, None, None, cfg.lr_grid[:1]
        else:
            fit, xv, yv, grid = idx[split[0]], xtr[idx[split[1]]], ytr[idx[split[1]]], cfg.lr_grid
        steps = cfg.num_steps(len(fit))
        best = None
        for lr in grid:
            model, v = train_select(encoder, xtr[fit], ytr[fit], xv, yv, num_classes, lr, steps, cfg, s, reinit)
            if best is None or v > best[1]:
                best = (model, v, lr)
        model, v, lr = best
        return {"accuracy": _accuracy(model, xte, yte), "lr": lr, "steps": steps,
                "val": None if math.isnan(v) else round(v, 4)}

    name = "scratch" if reinit else "finetune"
    out = label_loop(ytr, labels, seeds, score, selected_on="validation split of the labeled subset")
    for lab, r in out.items():  # today's keys: per-seed lists of the chosen lr, the step count and its val accuracy
        r.update({k: [run[k] for run in r["selected"]] for k in ("lr", "steps", "val")})
        log(f"  {name:<10} {lab:>5}: {r['mean']:.4f} ± {r['std']:.4f} (lr {r['lr']}, {r['steps']} steps)")
    return out
