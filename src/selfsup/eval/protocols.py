"""The protocol registry: every evaluation protocol declared once, and the one label-fraction x seed loop.

A :class:`Protocol` names what it needs (``"features"``: fixed per-sample features with labels;
``"encoder"``: the encoder and the raw inputs, i.e. fine-tuning), how it makes its choices without the
test labels, and what it returns. The math lives where it always did (:mod:`selfsup.eval.selection`,
:mod:`selfsup.eval.linear`, :mod:`selfsup.eval.series`, :mod:`selfsup.eval.fewshot`,
:mod:`selfsup.eval.cluster`, :mod:`selfsup.eval.finetune`); this module composes it.

Selection (issue 18): a per-label protocol scores one labeled subset with :func:`score_subset`; its
choices (kNN's k, the probe's L2, the SVM's C) are made on

* a validation split given by the caller (``val``: the harness carves it once from the training labels,
  a graph uses its public validation nodes), or, when ``val`` is None,
* the labeled subset itself (series: 100% means the official training set, so the choice is made inside
  it: an inner stratified split for k and L2, TS2Vec's 5-fold CV for C).

The test labels are read once per reported number, after every choice is made.
:func:`label_loop` is the one label-fraction x seed loop (class-balanced subset per label seed;
100% is one subset, scored once): ``{label: {"mean", "std", "values", "selected", "selected_on"}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from selfsup.eval.lowlabel import balanced_subset, mean_std, parse_fraction


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol.

    Attributes:
        name: the ``--protocols`` name.
        needs: ``"features"`` (fixed per-sample features + labels) or ``"encoder"`` (the encoder and raw inputs).
        per_label: True when it runs at every label fraction x seed (:func:`label_loop`); False when it is
            scored on the test set alone (few-shot episodes, clustering).
        selects: what it chooses and on which split (shown by ``selfsup list`` and recorded in results.json).
        returns: the shape of its results.json entry.
    """

    name: str
    needs: str
    per_label: bool
    selects: str
    returns: str


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("knn", "features", True, "k from a grid on the validation split (cosine, weighted vote)",
             '{"1%": {"mean", "std", "values", "selected": [{"seed", "k", "val_accuracy"}]}, ...}'),
    Protocol("linear", "features", True, "the L2 penalty from a grid on the validation split",
             '{"1%": {"mean", "std", "values", "selected": [{"seed", "l2", "val_accuracy"}]}, ...}'),
    Protocol("svm", "features", True, "C of an RBF-SVM by 5-fold CV on the labeled subset (TS2Vec's fit_svm)",
             '{"1%": {"mean", "std", "values", "selected": [{"seed", "C"}]}, ...}'),
    Protocol("1nn", "features", True, "nothing (Euclidean 1-nearest-neighbour)",
             '{"1%": {"mean", "std", "values"}, ...}'),
    Protocol("fewshot", "features", False, "nothing (N-way K-shot nearest-centroid episodes on the test set)",
             '{"5way5shot": {"mean", "ci95"}}'),
    Protocol("cluster", "features", False, "nothing (k-means with k = classes on the test features)",
             '{"nmi": {"mean", "std", "values"}, "ari": {...}}'),
    Protocol("finetune", "encoder", True, "learning rate and checkpoint on a validation split of the labeled subset",
             '{"1%": {"mean", "std", "values", "lr", "steps", "val", "selected": [{"seed", "lr", "steps", "step", '
             '"val"}]}, ...}'),
)}

# fixed-feature protocols: meaningful wherever there are per-sample features with labels
FEATURE_PROTOCOLS = tuple(n for n, p in PROTOCOLS.items() if p.needs == "features")


def check_protocols(requested: Sequence[str], available: Sequence[str], where: str) -> tuple[str, ...]:
    """``requested`` as a tuple, or a UserError naming the protocols that apply to ``where``."""
    from selfsup.errors import UserError

    bad = [p for p in requested if p not in available]
    if bad:
        known = [p for p in bad if p in PROTOCOLS]
        why = "not applicable to" if known and len(known) == len(bad) else "unknown for"
        raise UserError(f"protocol(s) {', '.join(bad)} {why} {where}",
                        hint=f"protocols for {where}: {', '.join(available)}")
    return tuple(requested)


@dataclass
class FeatureSettings:
    """What the fixed-feature protocols take (the harness's :class:`~selfsup.eval.harness.EvalConfig`
    carries the same names)."""

    knn_k_grid: tuple[int, ...] = (1, 5, 10, 20, 50, 100, 200)
    knn_temperature: float = 0.1
    l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
    linear_max_iter: int = 100
    linear_grid_max_samples: int | None = None
    inner_val_fraction: float = 0.2  # val=None: share of the labeled subset that makes the choices
    svm_max_samples: int = 10000  # larger subsets: a stratified sample of this size (TS2Vec does the same)


def score_subset(name: str, ftr: Tensor, ytr: Tensor, val: tuple[Tensor, Tensor] | None, fte: Tensor, yte: Tensor,
                 num_classes: int, st: FeatureSettings, seed: int = 0) -> dict[str, Any]:
    """Score one labeled subset with protocol ``name``: ``{"accuracy", <what was chosen>...}``.

    Every choice is made on ``val`` (else inside ``ftr`` / ``ytr``, see the module docstring) before the
    test labels ``yte`` are read."""
    if name == "knn":
        from selfsup.eval.selection import knn_select, validation_split

        if val is None:  # the choice inside the labeled subset
            fit, va = validation_split(ytr, st.inner_val_fraction, seed)
            r = knn_select(ftr[fit], ytr[fit], ftr[va], ytr[va], ftr[va[:0]], ytr[va[:0]], st.knn_k_grid,
                           st.knn_temperature, num_classes)
            one = knn_select(ftr, ytr, ftr[:0], ytr[:0], fte, yte, (r["k"],), st.knn_temperature, num_classes)
            return {"accuracy": one["accuracy"], "k": r["k"], "val_accuracy": r["val_accuracy"]}
        return knn_select(ftr, ytr, val[0], val[1], fte, yte, st.knn_k_grid, st.knn_temperature, num_classes)
    if name == "linear":
        if val is None:  # today's series probe: L2 on an inner stratified split of the labeled subset
            from selfsup.eval.linear import LinearProbeConfig, linear_probe_accuracy

            cfg = LinearProbeConfig(l2_grid=tuple(st.l2_grid), max_iter=st.linear_max_iter,
                                    val_fraction=st.inner_val_fraction)
            # the inner split's seed stays 0 for every label seed, as the series probe always had it
            acc, l2 = linear_probe_accuracy(ftr, ytr, fte, yte, num_classes=num_classes, cfg=cfg, seed=0)
            return {"accuracy": acc, "l2": l2}
        from selfsup.eval.selection import linear_select

        return linear_select(ftr, ytr, val[0], val[1], fte, yte, st.l2_grid, num_classes, st.linear_max_iter,
                             st.linear_grid_max_samples, seed=seed)
    if name == "svm":
        from selfsup.eval.series import svm_select

        return svm_select(ftr, ytr, fte, yte, st.svm_max_samples, seed)
    if name == "1nn":
        from selfsup.eval.series import one_nn_accuracy

        return {"accuracy": one_nn_accuracy(ftr, ytr, fte, yte)}
    raise ValueError(f"{name!r} is not a per-label fixed-feature protocol")


def label_loop(ytr: Tensor, labels: Sequence[str], seeds: Sequence[int],
               score: Callable[[Tensor, int], dict[str, Any]], selected_on: str = "validation",
               log: Callable[[str], None] | None = None, name: str = "") -> dict[str, Any]:
    """The one label-fraction x seed loop.

    For each label fraction, a class-balanced subset of ``ytr`` per seed (:func:`balanced_subset`; 100% is
    the whole set, once), scored by ``score(indices, seed) -> {"accuracy", <choices>...}``.

    Returns:
        ``{label: {"mean", "std", "values", "selected": [{"seed", <choices>}], "selected_on"}}``
        (``selected`` only when the protocol made choices).
    """
    out: dict[str, Any] = {}
    for lab in labels:
        t0 = time.monotonic()
        frac = parse_fraction(lab)
        runs = []
        for s in (seeds if frac < 1 else seeds[:1]):  # 100% is the same subset for every seed
            runs.append({"seed": s, **score(balanced_subset(ytr, frac, s), s)})
        entry: dict[str, Any] = mean_std([r.pop("accuracy") for r in runs])
        if any(len(r) > 1 for r in runs):
            entry.update(selected=runs, selected_on=selected_on)
        out[lab] = entry
        if log is not None:
            chosen = ", ".join(f"{k}={r[k]:g}" if not isinstance(r[k], str) else f"{k}={r[k]}"
                               for r in runs for k in ("k", "l2", "C") if k in r)
            log(f"  {name:<7} {lab:>5}: {entry['mean']:.4f} ± {entry['std']:.4f}"
                + (f"  ({chosen} on {selected_on}; {time.monotonic() - t0:.0f} s)" if chosen else ""))
    return out


def feature_protocols(ftr: Tensor, ytr: Tensor, fte: Tensor, yte: Tensor, protocols: Sequence[str],
                      labels: Sequence[str], seeds: Sequence[int], num_classes: int, st: FeatureSettings,
                      val: tuple[Tensor, Tensor] | None = None, log: Callable[[str], None] | None = None,
                      fewshot: tuple[int, int, int, int] = (5, 5, 15, 600),
                      cluster_normalize: str = "l2") -> dict[str, Any]:
    """Every requested fixed-feature protocol on (train, test) features: the per-label ones through
    :func:`label_loop` (in the order asked), then few-shot and clustering on the test features.

    Args:
        val: the validation split (features, labels) the choices are made on; None: inside each subset.
        fewshot: (way, shot, query, episodes), as asked (results.json's key names them; too few test classes: skipped with its reason).
    """
    where = "validation" if val is not None else "the labeled subset (inner split / CV)"
    out: dict[str, Any] = {}
    for p in protocols:
        if p in PROTOCOLS and PROTOCOLS[p].needs == "features" and PROTOCOLS[p].per_label:
            out[p] = label_loop(ytr, labels, seeds,
                                lambda idx, s, p=p: score_subset(p, ftr[idx], ytr[idx], val, fte, yte, num_classes, st, s),
                                "5-fold CV on the labeled subset" if p == "svm" else where, log, p)
    if "fewshot" in protocols:
        from selfsup.eval.fewshot import fewshot_accuracy

        way, shot, query, episodes = fewshot
        key = f"{way}way{shot}shot"
        out["fewshot"] = {key: fewshot_accuracy(fte, yte, way, shot, query, episodes, seed=0)}
        if log is not None:
            log(f"  fewshot {key}: {out['fewshot'][key]['mean']:.4f} ± {out['fewshot'][key]['ci95']:.4f}")
    if "cluster" in protocols:
        from selfsup.eval.cluster import cluster_scores

        out["cluster"] = cluster_scores(fte, yte, num_classes, tuple(seeds), cluster_normalize)
        if log is not None:
            log(f"  cluster   NMI {out['cluster']['nmi']['mean']:.4f} ± {out['cluster']['nmi']['std']:.4f}, "
                f"ARI {out['cluster']['ari']['mean']:.4f} ± {out['cluster']['ari']['std']:.4f}")
    return out
