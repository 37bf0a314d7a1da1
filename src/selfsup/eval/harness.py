"""The evaluation harness: run the protocols on a featurizer (any encoder) and on the
baselines, the same way, and collect the results.json structure.

Shape of a protocol entry: ``{"1%": {"mean", "std", "values"}, "10%": ..., "100%": ...}``
(accuracies in [0, 1], over label seeds); few-shot: ``{"5way5shot": {"mean", "ci95"}}``.
The supervised baseline (encoder trained from scratch on the same labeled subset) is
reported under its ``finetune`` key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from selfsup.data.cache import is_on_disk, select_rows
from selfsup.eval.baselines import (
    fit_pca,
    gmm_features,
    kmeans_features,
    pca_features,
    random_init,
    raw_features,
)
from selfsup.eval.features import Featurizer
from selfsup.eval.finetune import FinetuneConfig, finetune_or_scratch, image_prepare
from selfsup.eval.linear import LinearProbeConfig
from selfsup.eval.lowlabel import parse_fraction
from selfsup.eval.protocols import FeatureSettings, check_protocols, feature_protocols
from selfsup.eval.selection import knn_select, validation_split

# what an image (or text, or video-frame) run offers: every fixed-feature protocol of the registry and fine-tuning
PROTOCOLS = ("knn", "linear", "svm", "1nn", "finetune", "fewshot", "cluster")
BASELINES = ("raw", "pca", "random_init", "supervised", "gmm", "kmeans")


@dataclass
class EvalConfig:
    """What the harness runs.

    Attributes:
        protocols: subset of :data:`PROTOCOLS` (see :mod:`selfsup.eval.protocols`): knn, linear, svm, 1nn,
            finetune, fewshot, cluster (k-means NMI/ARI on the test set).
        labels: label fractions of the low-label protocol, e.g. ("1%", "10%", "100%").
        seeds: label-subset seeds.
        baselines: subset of raw, pca, random_init, supervised, gmm, kmeans.
        val_fraction: share of the training labels carved out (stratified, seeded by ``val_seed``) as the
            validation split on which every choice is made; the labeled subsets come from the rest.
        val_seed: seed of the validation split (recorded in results.json).
        knn_k: neighbours of the kNN classifier; None: chosen from ``knn_k_grid`` on the validation split.
        knn_k_grid: candidate neighbour counts.
        knn_temperature: vote temperature of the kNN classifier.
        pca_components: components of the PCA baseline; None: chosen from ``pca_grid`` on the validation
            split (by kNN accuracy with all pool labels, the same selection the method's kNN gets).
        pca_grid: candidate PCA components.
        fewshot_way, fewshot_shot, fewshot_query, fewshot_episodes: episode shape and count.
        finetune_labels: label fractions used by finetune and the supervised baseline
            (they train networks; default: the same as ``labels``).
        cluster_normalize: "l2" or "none": features before k-means in the cluster protocol.
        split: "test" (the reported numbers) or "validation": score on the validation split instead, with
            the rest of the training labels as the training set (choices inside made on an inner validation
            split of it), never reading the test set -- what a sweep over runs or settings compares.
        gmm_mixtures: mixture components of the GMM baseline (in the PCA space).
        kmeans_clusters: centroids of the k-means baseline (in the PCA space).
    """

    protocols: tuple[str, ...] = ("knn", "linear", "fewshot")
    labels: tuple[str, ...] = ("1%", "10%", "100%")
    seeds: tuple[int, ...] = (0, 1, 2)
    baselines: tuple[str, ...] = ("raw", "pca", "random_init")
    val_fraction: float = 0.1
    val_seed: int = 0
    knn_k: int | None = None
    knn_k_grid: tuple[int, ...] = (1, 5, 10, 20, 50, 100, 200)
    knn_temperature: float = 0.1
    pca_components: int | None = None
    pca_grid: tuple[int, ...] = (16, 32, 64, 128, 256)
    fewshot_way: int = 5
    fewshot_shot: int = 5
    fewshot_query: int = 15
    fewshot_episodes: int = 600
    finetune_labels: tuple[str, ...] | None = None
    linear: LinearProbeConfig = field(default_factory=LinearProbeConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    cluster_normalize: str = "l2"
    split: str = "test"
    gmm_mixtures: int = 20
    kmeans_clusters: int = 100


def knn_grid(cfg: EvalConfig) -> tuple[int, ...]:
    """The neighbour counts kNN chooses from: the fixed ``knn_k``, else ``knn_k_grid``."""
    return (cfg.knn_k,) if cfg.knn_k else tuple(cfg.knn_k_grid)


def protocols_on_features(
    ftr: Tensor, ytr: Tensor, fte: Tensor, yte: Tensor, cfg: EvalConfig, num_classes: int,
    log: Callable[[str], None] = lambda s: None, val: tuple[Tensor, Tensor] | None = None,
) -> dict[str, Any]:
    """Frozen-feature protocols (kNN, linear probe, few-shot, cluster) on precomputed features.

    kNN's ``k`` and the linear probe's L2 are chosen on a validation split (``val`` = (features, labels),
    else carved from ``ftr`` / ``ytr`` by :func:`validation_split` with ``cfg.val_fraction`` /
    ``cfg.val_seed``); the labeled subsets come from the rest; the test set is read once per number.
    Each low-label entry lists what was chosen per seed under ``"selected"``."""
    if val is None:
        pool, va = validation_split(ytr, cfg.val_fraction, cfg.val_seed)
        fva, yva = ftr[va], ytr[va]
        ftr, ytr = ftr[pool], ytr[pool]
    else:
        fva, yva = val
    st = feature_settings(cfg)
    fewshot = (cfg.fewshot_way, cfg.fewshot_shot, cfg.fewshot_query, cfg.fewshot_episodes)
    return feature_protocols(ftr, ytr, fte, yte, [p for p in cfg.protocols if p != "finetune"], cfg.labels, cfg.seeds,
                             num_classes, st, val=(fva, yva), log=log, fewshot=fewshot,
                             cluster_normalize=cfg.cluster_normalize)


def feature_settings(cfg: EvalConfig) -> FeatureSettings:
    """The registry's fixed-feature settings from the harness config."""
    return FeatureSettings(knn_k_grid=knn_grid(cfg), knn_temperature=cfg.knn_temperature,
                           l2_grid=tuple(cfg.linear.l2_grid), linear_max_iter=cfg.linear.max_iter,
                           linear_grid_max_samples=cfg.linear.grid_max_samples,
                           inner_val_fraction=cfg.linear.val_fraction)


def select_pca_components(raw_tr: Tensor, ytr: Tensor, cfg: EvalConfig, num_classes: int) -> dict[str, Any]:
    """PCA's number of components: ``cfg.pca_components``, else the one of ``cfg.pca_grid`` whose
    features give the best kNN accuracy on the validation split (all pool labels; k chosen jointly).
    PCA is fitted on the training inputs without labels (the pool and the validation inputs)."""
    if cfg.pca_components:
        return {"n_components": cfg.pca_components, "selected_on": "fixed"}
    pool, va = validation_split(ytr, cfg.val_fraction, cfg.val_seed)
    grid = sorted({min(n, raw_tr.shape[1], len(raw_tr)) for n in cfg.pca_grid})
    mean, proj = fit_pca(raw_tr, max(grid))
    z = (raw_tr - mean) @ proj  # (N, max n): the first n columns are the n-component PCA
    scores = {}
    for n in grid:
        r = knn_select(z[pool, :n], ytr[pool], z[va, :n], ytr[va], z[va[:0], :n], ytr[va[:0]], knn_grid(cfg),
                       cfg.knn_temperature, num_classes)
        scores[n] = r["val_accuracy"]
    best = max(grid, key=lambda n: (scores[n], -n))  # ties: fewer components
    return {"n_components": best, "selected_on": "validation",
            "val_accuracy": {str(n): round(v, 4) for n, v in scores.items()}}


def selection_record(ytr: Tensor, cfg: EvalConfig) -> dict[str, Any]:
    """What results.json says about the validation split and the grids chosen from."""
    pool, va = validation_split(ytr, cfg.val_fraction, cfg.val_seed)
    return {"split": "validation", "val_fraction": cfg.val_fraction, "val_seed": cfg.val_seed,
            "val_size": len(va), "pool_size": len(pool), "stratified": True,
            "knn_k_grid": list(knn_grid(cfg)), "l2_grid": list(cfg.linear.l2_grid),
            "note": "every k, L2 and PCA size is chosen on the validation split (carved from the training labels); "
                    "the labeled subsets are drawn from the rest; the test set is read once per reported number"}


def finetune_protocol(featurizer: Featurizer, xtr: Tensor, ytr: Tensor, xte: Tensor, yte: Tensor, cfg: EvalConfig,
                      num_classes: int, reinit: bool, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Fine-tune (or, with ``reinit``, train from scratch) on each labeled subset: the one recipe of
    :func:`~selfsup.eval.finetune.finetune_or_scratch`, the lr and checkpoint chosen on a validation part of
    the subset, with the featurizer's preprocessing (and crop augmentation of uint8 images)."""
    ft_cfg = cfg.finetune
    if reinit:  # from scratch: the encoder learns at the head's rate
        ft_cfg = replace(ft_cfg, lr_grid=(ft_cfg.lr_head,))
    images = xtr.dtype == torch.uint8 and xtr.dim() == 4
    prepare = image_prepare(featurizer, ft_cfg.augment and images, featurizer.size or xtr.shape[-1])
    return finetune_or_scratch(featurizer.encoder, xtr, ytr, xte, yte, num_classes, cfg.finetune_labels or cfg.labels,
                               cfg.seeds, ft_cfg, reinit, prepare, log=log, name="supervised" if reinit else "finetune")


# baselines computed from all the raw pixels at once
PIXEL_BASELINES = ("raw", "pca", "gmm", "kmeans")


def evaluate(
    featurizer: Featurizer | None,
    data: Any,
    cfg: EvalConfig,
    *,
    features: tuple[Tensor, Tensor] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the protocols on an encoder (or precomputed ``features``) and the baselines.

    Args:
        featurizer: the encoder to evaluate (needed for finetune and the random-init
            and supervised baselines); may be None when ``features`` are given.
        data: an :class:`selfsup.data.ArrayDataset` with labels.
        cfg: what to run.
        features: precomputed (train, test) features instead of ``featurizer``.
        log: progress messages.

    Returns:
        ``{"protocols": ..., "baselines": ..., "eval_seconds": ...}`` and the test
        features under ``"_test_features"`` (for the embedding map; not serialised).
    """
    from selfsup.errors import UserError

    if not (data.labeled or (cfg.split == "validation" and data.y_train is not None)):
        raise UserError(f"{data.name} has no labels; the evaluation protocols need labels",
                        hint="use a labeled dataset (folder with one sub-folder per class, or npz with y)")
    check_protocols(cfg.protocols, PROTOCOLS, f"{getattr(data, 'modality', None) or 'image'} runs")
    for lab in cfg.labels:
        try:
            parse_fraction(lab)
        except ValueError as e:
            raise UserError(str(e), hint="use values like 1%,10%,100%") from None
    t0 = time.monotonic()
    if cfg.split not in ("test", "validation"):
        raise UserError(f"unknown split '{cfg.split}'", hint="use test (the reported numbers) or validation (for choosing)")
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    c = data.num_classes
    if cfg.split == "validation":
        # choosing between runs or settings: the validation split plays the test set, the pool the training
        # set (the protocols carve their own inner validation split from it); the test set is never read
        pool, va = validation_split(ytr, cfg.val_fraction, cfg.val_seed)
        xtr, ytr, xte, yte = select_rows(xtr, pool.cpu()), ytr[pool], select_rows(xtr, va.cpu()), ytr[va]
        if features is not None:
            features = (features[0][pool], features[0][va])
    if features is None:
        if featurizer is None:
            raise ValueError("give a featurizer or features")
        log("extracting features ...")
        features = (featurizer(xtr, desc="features (train)"), featurizer(xte, desc=f"features ({cfg.split})"))
    ftr, fte = features
    log("method:")
    protocols = protocols_on_features(ftr, ytr, fte, yte, cfg, c, log)
    if "finetune" in cfg.protocols and featurizer is not None:
        protocols["finetune"] = finetune_protocol(featurizer, xtr, ytr, xte, yte, cfg, c, reinit=False, log=log)
    baselines: dict[str, Any] = {}
    selection = {**selection_record(ytr, cfg), "reported_split": cfg.split}
    frozen_cfg = EvalConfig(**{**cfg.__dict__, "protocols": tuple(p for p in cfg.protocols if p != "finetune")})
    if is_on_disk(xtr) and any(b in cfg.baselines for b in PIXEL_BASELINES):
        # images larger than memory (the on-disk cache): the pixel baselines would hold every image as floats
        skipped = [b for b in cfg.baselines if b in PIXEL_BASELINES]
        log(f"skipping the pixel baselines {', '.join(skipped)}: the images are read from the on-disk cache "
            "(too large for memory); pass --baselines random_init to silence this")
        selection["skipped_baselines"] = {"baselines": skipped, "why": "images in the on-disk cache"}
        cfg = EvalConfig(**{**cfg.__dict__, "baselines": tuple(b for b in cfg.baselines if b not in PIXEL_BASELINES)})
    raw_tr, raw_te = ((raw_features(xtr), raw_features(xte)) if any(b in cfg.baselines for b in PIXEL_BASELINES)
                      else (None, None))
    if "raw" in cfg.baselines:
        log("baseline raw:")
        baselines["raw"] = protocols_on_features(raw_tr, ytr, raw_te, yte, frozen_cfg, c, log)
    pca = None
    if any(b in cfg.baselines for b in ("pca", "gmm", "kmeans")):
        pca = select_pca_components(raw_tr, ytr, cfg, c)
        selection["pca"] = pca
    if "pca" in cfg.baselines:
        log(f"baseline pca-{pca['n_components']} ({pca['selected_on']}):")
        p_tr, p_te = pca_features(raw_tr, raw_te, pca["n_components"])
        baselines["pca"] = protocols_on_features(p_tr, ytr, p_te, yte, frozen_cfg, c, log)
    if "gmm" in cfg.baselines:
        log(f"baseline gmm (pca-{pca['n_components']}, {cfg.gmm_mixtures} mixtures):")
        g_tr, g_te = gmm_features(raw_tr, raw_te, pca["n_components"], cfg.gmm_mixtures)
        baselines["gmm"] = protocols_on_features(g_tr, ytr, g_te, yte, frozen_cfg, c, log)
    if "kmeans" in cfg.baselines:
        log(f"baseline kmeans (pca-{pca['n_components']}, {cfg.kmeans_clusters} centroids):")
        k_tr, k_te = kmeans_features(raw_tr, raw_te, pca["n_components"], cfg.kmeans_clusters)
        baselines["kmeans"] = protocols_on_features(k_tr, ytr, k_te, yte, frozen_cfg, c, log)
    if "random_init" in cfg.baselines and featurizer is not None:
        log("baseline random-init encoder:")
        rnd = random_init(featurizer, seed=0)
        baselines["random_init"] = protocols_on_features(rnd(xtr), ytr, rnd(xte), yte, frozen_cfg, c, log)
    if "supervised" in cfg.baselines and featurizer is not None:
        log("baseline supervised from scratch:")
        baselines["supervised"] = {
            "finetune": finetune_protocol(featurizer, xtr, ytr, xte, yte, cfg, c, reinit=True, log=log)
        }
    return {
        "protocols": protocols,
        "baselines": baselines,
        "selection": selection,
        "eval_seconds": round(time.monotonic() - t0, 1),
        "_test_features": fte,
    }
