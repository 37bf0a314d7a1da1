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
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from selfsup.eval.baselines import gmm_features, kmeans_features, pca_features, random_init, raw_features
from selfsup.eval.cluster import cluster_scores
from selfsup.eval.features import Featurizer
from selfsup.eval.fewshot import fewshot_accuracy
from selfsup.eval.finetune import FinetuneConfig, train_classifier
from selfsup.eval.knn import knn_accuracy
from selfsup.eval.linear import LinearProbeConfig, linear_probe_accuracy
from selfsup.eval.lowlabel import balanced_subset, mean_std, parse_fraction

PROTOCOLS = ("knn", "linear", "finetune", "fewshot", "cluster")
BASELINES = ("raw", "pca", "random_init", "supervised", "gmm", "kmeans")


@dataclass
class EvalConfig:
    """What the harness runs.

    Attributes:
        protocols: subset of knn, linear, finetune, fewshot, cluster (k-means NMI/ARI on the test set).
        labels: label fractions of the low-label protocol, e.g. ("1%", "10%", "100%").
        seeds: label-subset seeds.
        baselines: subset of raw, pca, random_init, supervised, gmm, kmeans.
        knn_k: neighbours of the kNN classifier.
        knn_temperature: vote temperature of the kNN classifier.
        pca_components: components of the PCA baseline.
        fewshot_way, fewshot_shot, fewshot_query, fewshot_episodes: episode shape and count.
        finetune_labels: label fractions used by finetune and the supervised baseline
            (they train networks; default: the same as ``labels``).
        cluster_normalize: "l2" or "none": features before k-means in the cluster protocol.
        gmm_mixtures: mixture components of the GMM baseline (in the PCA space).
        kmeans_clusters: centroids of the k-means baseline (in the PCA space).
    """

    protocols: tuple[str, ...] = ("knn", "linear", "fewshot")
    labels: tuple[str, ...] = ("1%", "10%", "100%")
    seeds: tuple[int, ...] = (0, 1, 2)
    baselines: tuple[str, ...] = ("raw", "pca", "random_init")
    knn_k: int = 200
    knn_temperature: float = 0.1
    pca_components: int = 50
    fewshot_way: int = 5
    fewshot_shot: int = 5
    fewshot_query: int = 15
    fewshot_episodes: int = 600
    finetune_labels: tuple[str, ...] | None = None
    linear: LinearProbeConfig = field(default_factory=LinearProbeConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    cluster_normalize: str = "l2"
    gmm_mixtures: int = 20
    kmeans_clusters: int = 100


def protocols_on_features(
    ftr: Tensor, ytr: Tensor, fte: Tensor, yte: Tensor, cfg: EvalConfig, num_classes: int,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Frozen-feature protocols (kNN, linear probe, few-shot) on precomputed features."""
    out: dict[str, Any] = {}
    for proto in cfg.protocols:
        if proto not in ("knn", "linear"):
            continue
        res: dict[str, Any] = {}
        for lab in cfg.labels:
            t_lab = time.monotonic()
            frac = parse_fraction(lab)
            seeds = cfg.seeds if frac < 1 else cfg.seeds[:1]  # 100% is the same subset for every seed
            accs = []
            for s in seeds:
                idx = balanced_subset(ytr, frac, s)
                if proto == "knn":
                    accs.append(knn_accuracy(ftr[idx], ytr[idx], fte, yte, cfg.knn_k, cfg.knn_temperature, num_classes))
                else:
                    accs.append(linear_probe_accuracy(ftr[idx], ytr[idx], fte, yte, num_classes, cfg.linear, s)[0])
            res[lab] = mean_std(accs)
            log(f"  {proto:<7} {lab:>5}: {res[lab]['mean']:.4f} ± {res[lab]['std']:.4f}"
                f"  ({time.monotonic() - t_lab:.0f} s)")
        out[proto] = res
    if "fewshot" in cfg.protocols:
        key = f"{cfg.fewshot_way}way{cfg.fewshot_shot}shot"
        out["fewshot"] = {key: fewshot_accuracy(fte, yte, cfg.fewshot_way, cfg.fewshot_shot, cfg.fewshot_query,
                                                cfg.fewshot_episodes, seed=0)}
        log(f"  fewshot {key}: {out['fewshot'][key]['mean']:.4f} ± {out['fewshot'][key]['ci95']:.4f}")
    if "cluster" in cfg.protocols:
        out["cluster"] = cluster_scores(fte, yte, num_classes, cfg.seeds, cfg.cluster_normalize)
        log(f"  cluster   NMI {out['cluster']['nmi']['mean']:.4f} ± {out['cluster']['nmi']['std']:.4f}, "
            f"ARI {out['cluster']['ari']['mean']:.4f} ± {out['cluster']['ari']['std']:.4f}")
    return out


def finetune_protocol(featurizer: Featurizer, xtr: Tensor, ytr: Tensor, xte: Tensor, yte: Tensor, cfg: EvalConfig,
                      num_classes: int, reinit: bool, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Fine-tune (or, with ``reinit``, train from scratch) on each labeled subset."""
    res: dict[str, Any] = {}
    ft_cfg = cfg.finetune
    if reinit:  # from scratch: the encoder learns at the head's rate
        ft_cfg = FinetuneConfig(**{**ft_cfg.__dict__, "lr_encoder": ft_cfg.lr_head})
    for lab in cfg.finetune_labels or cfg.labels:
        frac = parse_fraction(lab)
        seeds = cfg.seeds if frac < 1 else cfg.seeds[:1]
        accs = []
        for s in seeds:
            idx = balanced_subset(ytr, frac, s)
            accs.append(train_classifier(featurizer, xtr[idx], ytr[idx], xte, yte, num_classes, ft_cfg, s, reinit))
        res[lab] = mean_std(accs)
        name = "supervised" if reinit else "finetune"
        log(f"  {name:<10} {lab:>5}: {res[lab]['mean']:.4f} ± {res[lab]['std']:.4f}")
    return res


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

    if not data.labeled:
        raise UserError(f"{data.name} has no labels; the evaluation protocols need labels",
                        hint="use a labeled dataset (folder with one sub-folder per class, or npz with y)")
    for p in cfg.protocols:
        if p not in PROTOCOLS:
            from selfsup.errors import unknown_name

            raise unknown_name("protocol", p, PROTOCOLS)
    for lab in cfg.labels:
        try:
            parse_fraction(lab)
        except ValueError as e:
            raise UserError(str(e), hint="use values like 1%,10%,100%") from None
    t0 = time.monotonic()
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    c = data.num_classes
    if features is None:
        if featurizer is None:
            raise ValueError("give a featurizer or features")
        log("extracting features ...")
        features = (featurizer(xtr, desc="features (train)"), featurizer(xte, desc="features (test)"))
    ftr, fte = features
    log("method:")
    protocols = protocols_on_features(ftr, ytr, fte, yte, cfg, c, log)
    if "finetune" in cfg.protocols and featurizer is not None:
        protocols["finetune"] = finetune_protocol(featurizer, xtr, ytr, xte, yte, cfg, c, reinit=False, log=log)
    baselines: dict[str, Any] = {}
    frozen_cfg = EvalConfig(**{**cfg.__dict__, "protocols": tuple(p for p in cfg.protocols if p != "finetune")})
    raw_tr, raw_te = raw_features(xtr), raw_features(xte)
    if "raw" in cfg.baselines:
        log("baseline raw:")
        baselines["raw"] = protocols_on_features(raw_tr, ytr, raw_te, yte, frozen_cfg, c, log)
    if "pca" in cfg.baselines:
        log(f"baseline pca-{cfg.pca_components}:")
        p_tr, p_te = pca_features(raw_tr, raw_te, cfg.pca_components)
        baselines["pca"] = protocols_on_features(p_tr, ytr, p_te, yte, frozen_cfg, c, log)
    if "gmm" in cfg.baselines:
        log(f"baseline gmm (pca-{cfg.pca_components}, {cfg.gmm_mixtures} mixtures):")
        g_tr, g_te = gmm_features(raw_tr, raw_te, cfg.pca_components, cfg.gmm_mixtures)
        baselines["gmm"] = protocols_on_features(g_tr, ytr, g_te, yte, frozen_cfg, c, log)
    if "kmeans" in cfg.baselines:
        log(f"baseline kmeans (pca-{cfg.pca_components}, {cfg.kmeans_clusters} centroids):")
        k_tr, k_te = kmeans_features(raw_tr, raw_te, cfg.pca_components, cfg.kmeans_clusters)
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
        "eval_seconds": round(time.monotonic() - t0, 1),
        "_test_features": fte,
    }
