"""Node-level evaluation: the public split and the low-label protocol on frozen node features.

* ``public``: a probe trained on the graph's public training nodes (Planetoid: 20 per class),
  tested on its public test nodes -> {"mean", "std", "values"}. The linear probe's L2 penalty is
  chosen on the public validation nodes (500 on Planetoid, the standard practice); the probe is
  then deterministic, so it runs once (std 0: the spread that matters comes from pretraining
  seeds, see ``benchmarks/graph.py``). Without validation nodes the penalty is chosen on a
  seeded split of the training labels, once per seed, as in the harness.
  A graph without split masks gets a seeded split instead (20 training nodes per class, or half
  the class when smaller; the rest is test), reported under ``random``.
* low-label (``1%``, ``10%``, ``100%``, ...): class-balanced subsets of *all* non-test nodes
  (the harness's :func:`~selfsup.eval.harness.protocols_on_features`), tested on the same test
  nodes, so the numbers read like the image and series protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup.eval.harness import EvalConfig, feature_settings, knn_grid, protocols_on_features
from selfsup.eval.linear import LinearProbeConfig, linear_probe_accuracy
from selfsup.eval.lowlabel import mean_std
from selfsup.eval.protocols import FEATURE_PROTOCOLS, score_subset
from selfsup.eval.selection import knn_select, validation_split

# node embeddings are per-sample features with labels: every fixed-feature protocol of the registry
NODE_PROTOCOLS = FEATURE_PROTOCOLS

# L2 penalties tried by the node linear probe (picked on a split of the training labels, as in the
# harness). Wider than the harness default (1e-5 .. 1e-2): the public split has 20 labelled nodes per
# class for 128-512-d embeddings, where the useful penalties are 0.1-1.
NODE_L2_GRID = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def node_eval_config(**kw: Any) -> EvalConfig:
    """The harness config for node evaluation: linear probe with :data:`NODE_L2_GRID`."""
    kw.setdefault("linear", LinearProbeConfig(l2_grid=NODE_L2_GRID))
    kw.setdefault("protocols", ("linear",))
    kw.setdefault("seeds", (0, 1, 2, 3, 4))
    return EvalConfig(**kw)


@dataclass
class NodeSplit:
    """Training, validation and test node indices and the split's name ("public" or "random")."""

    name: str
    train: Tensor  # (n_train,) long
    test: Tensor  # (n_test,) long
    val: Tensor | None = None  # (n_val,) long


def node_split(y: Tensor, train_mask: Tensor | None = None, test_mask: Tensor | None = None,
               seed: int = 0, per_class: int = 20, val_mask: Tensor | None = None) -> NodeSplit:
    """The public split when masks are given, else ``per_class`` random training nodes per class."""
    if train_mask is not None and test_mask is not None and bool(train_mask.any()) and bool(test_mask.any()):
        val = val_mask.nonzero().flatten() if val_mask is not None and bool(val_mask.any()) else None
        return NodeSplit("public", train_mask.nonzero().flatten(), test_mask.nonzero().flatten(), val)
    rng = np.random.default_rng(seed)
    y_np = y.cpu().numpy()
    tr, te = [], []
    for c in np.unique(y_np):
        idx = rng.permutation(np.flatnonzero(y_np == c))
        k = min(per_class, max(1, len(idx) // 2))
        tr.append(idx[:k])
        te.append(idx[k:])
    train, test = (torch.from_numpy(np.sort(np.concatenate(i))).to(y.device) for i in (tr, te))
    return NodeSplit("random", train, test)


def best_l2_on_nodes(feats: Tensor, y: Tensor, train: Tensor, val: Tensor, cfg: LinearProbeConfig) -> tuple[float, float]:
    """(L2 penalty of ``cfg.l2_grid`` with the best accuracy on the validation nodes (first on ties), that accuracy)."""
    c = int(y.max()) + 1
    best, best_acc = cfg.l2_grid[0], -1.0
    for l2 in cfg.l2_grid:
        one = LinearProbeConfig(**{**cfg.__dict__, "l2_grid": (l2,)})
        acc = linear_probe_accuracy(feats[train], y[train], feats[val], y[val], c, one)[0]
        if acc > best_acc + 1e-9:
            best, best_acc = l2, acc
    return best, best_acc


def select_l2_on_nodes(feats: Tensor, y: Tensor, train: Tensor, val: Tensor, cfg: LinearProbeConfig) -> float:
    """The L2 penalty of ``cfg.l2_grid`` with the best accuracy on the validation nodes (first on ties)."""
    return best_l2_on_nodes(feats, y, train, val, cfg)[0]


def validation_node_split(split: NodeSplit, y: Tensor, seed: int = 0, val_fraction: float = 0.5) -> NodeSplit:
    """The split that scores on validation nodes instead of test nodes (to choose between runs or settings).

    The validation nodes take the test nodes' place, and the probe's own choices (L2, k) are then made on a
    seeded split of the training nodes; without validation nodes, ``val_fraction`` of the training nodes
    (stratified, ``seed``) are scored instead. The test nodes are not in the result.
    """
    if split.val is not None:
        return NodeSplit(split.name, split.train, split.val, None)
    fit, va = validation_split(y[split.train], val_fraction, seed)
    return NodeSplit(split.name, split.train[fit], split.train[va], None)


def select_node_pca(x: Tensor, y: Tensor, split: NodeSplit, cfg: EvalConfig) -> dict[str, Any]:
    """The PCA baseline's size, chosen like the probe's settings: ``cfg.pca_components`` if fixed, else the
    size of ``cfg.pca_grid`` whose linear probe (its L2 chosen too) is best on the validation nodes (ties:
    fewer components). PCA is fitted on every node's features without labels (the graph is transductive).
    Returns the record for results.json plus the chosen features under ``"_features"`` ((N, n) tensor)."""
    from selfsup.eval.baselines import fit_pca

    x = x.float()
    if cfg.pca_components:
        n = min(cfg.pca_components, x.shape[1], x.shape[0])
        mean, proj = fit_pca(x, n)
        return {"n_components": n, "selected_on": "fixed", "_features": (x - mean) @ proj}
    if split.val is not None:
        fit, va, on = split.train, split.val, "validation nodes"
    else:
        i_fit, i_va = validation_split(y[split.train], cfg.val_fraction, cfg.val_seed)
        fit, va, on = split.train[i_fit], split.train[i_va], "a split of the training nodes"
    grid = sorted({min(n, x.shape[1], x.shape[0]) for n in cfg.pca_grid})
    mean, proj = fit_pca(x, max(grid))
    z = (x - mean) @ proj  # (N, max n): the first n columns are the n-component PCA
    scores = {n: best_l2_on_nodes(z[:, :n], y, fit, va, cfg.linear)[1] for n in grid}
    best = max(grid, key=lambda n: (scores[n], -n))
    return {"n_components": best, "selected_on": on, "val_accuracy": {str(n): round(v, 4) for n, v in scores.items()},
            "_features": z[:, :best]}


def node_protocols(feats: Tensor, y: Tensor, split: NodeSplit, cfg: EvalConfig,
                   log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """``{protocol: {split.name: {...}, "1%": {...}, ...}}`` for protocols linear and knn.

    Args:
        feats: (N, D) node features (embeddings or raw).
        y: (N,) labels.
        split: training/test nodes of the split protocol; the low-label pool is every non-test node.
        cfg: protocols, labels, seeds, kNN settings and the linear probe settings.
    """
    feats = feats.float()
    c = int(y.max()) + 1
    tr, te = split.train, split.test
    out: dict[str, Any] = {}
    val = (feats[split.val], y[split.val]) if split.val is not None else None
    for proto in cfg.protocols:
        chosen: dict[str, Any] = {}
        if proto in ("fewshot", "cluster"):  # test nodes only: through the harness below
            continue
        if proto == "linear" and split.val is not None:
            l2 = select_l2_on_nodes(feats, y, tr, split.val, cfg.linear)
            fixed = LinearProbeConfig(**{**cfg.linear.__dict__, "l2_grid": (l2,)})
            accs = [linear_probe_accuracy(feats[tr], y[tr], feats[te], y[te], c, fixed)[0]]
            chosen = {"selected": [{"l2": l2}], "selected_on": "validation nodes"}
        elif proto == "linear":
            runs = [linear_probe_accuracy(feats[tr], y[tr], feats[te], y[te], c, cfg.linear, s) for s in cfg.seeds]
            accs = [a for a, _ in runs]
            chosen = {"selected": [{"seed": s, "l2": l2} for s, (_, l2) in zip(cfg.seeds, runs, strict=True)],
                      "selected_on": "a split of the training nodes"}
        elif proto == "knn":  # deterministic: one value; k chosen on the validation nodes (else carved from training)
            fit, va = (tr, split.val) if split.val is not None else (tr[i] for i in validation_split(y[tr], cfg.val_fraction,
                                                                                                      cfg.val_seed))
            r = knn_select(feats[fit], y[fit], feats[va], y[va], feats[te], y[te], knn_grid(cfg), cfg.knn_temperature, c)
            accs = [r["accuracy"]]
            chosen = {"selected": [{"k": r["k"], "val_accuracy": r["val_accuracy"]}],
                      "selected_on": "validation nodes" if split.val is not None else "a split of the training nodes"}
        else:  # the registry's other per-label protocols (svm, 1nn) on the split's training nodes
            r = score_subset(proto, feats[tr], y[tr], val, feats[te], y[te], c, feature_settings(cfg), 0)
            accs = [r.pop("accuracy")]
            if r:
                on = "validation nodes" if val is not None and proto != "svm" else "the training nodes (5-fold CV)"
                chosen = {"selected": [r], "selected_on": on}
        out[proto] = {split.name: {**mean_std(accs), **chosen}}
        log(f"  {proto:<7} {split.name:>6}: {out[proto][split.name]['mean']:.4f} ± {out[proto][split.name]['std']:.4f}")
    if cfg.labels or any(p in cfg.protocols for p in ("fewshot", "cluster")):
        is_test = torch.zeros(len(y), dtype=torch.bool, device=te.device)
        is_test[te] = True
        pool = (~is_test).nonzero().flatten()
        low = protocols_on_features(feats[pool], y[pool], feats[te], y[te], cfg, c, log)
        for proto, res in low.items():
            out.setdefault(proto, {}).update(res)
    return out
