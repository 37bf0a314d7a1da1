"""Selection on the validation split: the test labels never influence a choice."""

from __future__ import annotations

import pytest
import torch

from selfsup.eval.knn import knn_accuracy
from selfsup.eval.selection import knn_select, linear_select, validation_split


def _clusters(n_per=60, classes=4, dim=8, spread=0.6, seed=0):
    centers = torch.randn(classes, dim, generator=torch.Generator().manual_seed(100)) * 3  # the same task
    g = torch.Generator().manual_seed(seed)  # another sample of it
    y = torch.arange(classes).repeat_interleave(n_per)
    x = centers[y] + spread * torch.randn(len(y), dim, generator=g)
    return x, y


def test_validation_split_is_stratified_disjoint_and_seeded():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 1)
    pool, val = validation_split(y, 0.2, seed=3)
    assert set(pool.tolist()).isdisjoint(val.tolist())
    assert sorted(pool.tolist() + val.tolist()) == list(range(len(y)))
    assert torch.bincount(y[val], minlength=3).tolist() == [10, 6, 0]  # a class of one sample stays in the pool
    assert torch.equal(validation_split(y, 0.2, seed=3)[1], val)
    assert not torch.equal(validation_split(y, 0.2, seed=4)[1], val)


def test_knn_select_matches_plain_knn_and_picks_on_validation():
    x, y = _clusters()
    pool, val = validation_split(y, 0.25, 0)
    xte, yte = _clusters(seed=1)
    r = knn_select(x[pool], y[pool], x[val], y[val], xte, yte, (1, 5, 25), 0.1, 4)
    assert r["accuracy"] > 0.95 and r["val_accuracy"] > 0.95
    assert r["accuracy"] == pytest.approx(knn_accuracy(x[pool], y[pool], xte, yte, r["k"], 0.1, 4))


def test_knn_select_prefers_small_k_when_large_k_hurts():
    # a tiny class: k larger than its size lets the big class outvote it on validation
    x, y = _clusters(n_per=60, classes=2, dim=4, spread=0.3)
    keep = torch.cat([torch.arange(0, 6), torch.arange(60, 120)])  # class 0 has 6 samples, class 1 has 60
    x, y = x[keep], y[keep]
    val_x, val_y = _clusters(n_per=20, classes=2, dim=4, spread=0.3, seed=0)
    r = knn_select(x, y, val_x, val_y, val_x, val_y, (3, 60), 10.0, 2)  # flat votes: the majority wins at k=60
    assert r["k"] == 3


@pytest.mark.parametrize("select", ["knn", "linear"])
def test_permuted_test_labels_leave_every_choice_unchanged(select):
    x, y = _clusters(spread=2.5)  # overlapping: the choice matters
    pool, val = validation_split(y, 0.3, 0)
    xte, yte = _clusters(spread=2.5, seed=5)
    perm = yte[torch.randperm(len(yte), generator=torch.Generator().manual_seed(0))]
    if select == "knn":
        run = lambda labels: knn_select(x[pool], y[pool], x[val], y[val], xte, labels, (1, 3, 9, 27, 81), 0.1, 4)
        key = "k"
    else:
        run = lambda labels: linear_select(x[pool], y[pool], x[val], y[val], xte, labels, (10.0, 1e-1, 1e-4), 4)
        key = "l2"
    a, b = run(yte), run(perm)
    assert a[key] == b[key] and a["val_accuracy"] == b["val_accuracy"]
    assert a["accuracy"] != b["accuracy"]  # the test labels are read (once) for the reported number only


def test_linear_select_picks_the_penalty_with_the_best_validation_accuracy():
    x, y = _clusters(n_per=8, dim=60, spread=6.0)  # few labels, many noisy dimensions: the penalty matters
    xv, yv = _clusters(n_per=50, dim=60, spread=6.0, seed=7)
    grid = (10.0, 1.0, 1e-2, 1e-4)
    alone = [linear_select(x, y, xv, yv, xv[:0], yv[:0], (l2,), 4)["val_accuracy"] for l2 in grid]
    r = linear_select(x, y, xv, yv, xv[:0], yv[:0], grid, 4)
    assert len(set(alone)) > 1  # the grid really has better and worse penalties here
    assert r["l2"] == grid[alone.index(max(alone))] and r["val_accuracy"] == max(alone)


def test_linear_select_learns_clusters_and_not_shuffled_labels():
    x, y = _clusters(spread=0.5)
    pool, val = validation_split(y, 0.3, 0)
    xte, yte = _clusters(spread=0.5, seed=3)
    assert linear_select(x[pool], y[pool], x[val], y[val], xte, yte, (1e-3,), 4)["accuracy"] > 0.95
    shuffled = y[pool][torch.randperm(len(pool), generator=torch.Generator().manual_seed(1))]
    assert linear_select(x[pool], shuffled, x[val], y[val], xte, yte, (1e-3,), 4)["accuracy"] < 0.5


def _selected(results):
    """Every choice recorded in a results dict: (where, choice) pairs."""
    out = [("pca", results["selection"].get("pca", {}).get("n_components"))]
    for arm, protos in [("method", results["protocols"]), *results["baselines"].items()]:
        for proto, entries in protos.items():
            for lab, e in entries.items():
                for r in e.get("selected", []):
                    out.append((arm, proto, lab, r["seed"], r.get("k"), r.get("l2"), r["val_accuracy"]))
    return out


def test_harness_choices_ignore_the_test_labels():
    import copy

    from selfsup.data import load_dataset
    from selfsup.eval.baselines import raw_features
    from selfsup.eval.harness import EvalConfig, evaluate

    data = load_dataset("digits")
    feats = (raw_features(data.x_train) ** 0.5, raw_features(data.x_test) ** 0.5)  # "features" unlike the raw baseline
    cfg = EvalConfig(protocols=("knn", "linear"), labels=("10%", "100%"), seeds=(0,), baselines=("pca",),
                     pca_grid=(8, 16, 32))
    a = evaluate(None, data, cfg, features=feats, log=lambda s: None)
    permuted = copy.copy(data)
    permuted.y_test = data.y_test[torch.randperm(len(data.y_test), generator=torch.Generator().manual_seed(0))]
    b = evaluate(None, permuted, cfg, features=feats, log=lambda s: None)
    assert _selected(a) == _selected(b) and len(_selected(a)) == 1 + 2 * 2 * 2  # pca size; (method, pca) x (knn, linear) x (10%, 100%)
    assert a["protocols"]["knn"]["100%"]["mean"] > 0.9 > b["protocols"]["knn"]["100%"]["mean"]
    assert a["selection"]["val_size"] + a["selection"]["pool_size"] == len(data.y_train)


def test_validation_split_mode_never_reads_the_test_set():
    import copy

    from selfsup.data import load_dataset
    from selfsup.eval.baselines import raw_features
    from selfsup.eval.harness import EvalConfig, evaluate

    data = copy.copy(load_dataset("digits"))
    ftr = raw_features(data.x_train)
    data.x_test = data.y_test = None  # any read of the test set fails
    cfg = EvalConfig(protocols=("knn",), labels=("100%",), seeds=(0,), baselines=("raw",), split="validation")
    r = evaluate(None, data, cfg, features=(ftr, None), log=lambda s: None)
    assert r["selection"]["reported_split"] == "validation"
    assert r["baselines"]["raw"]["knn"]["100%"]["mean"] > 0.9  # scored on the validation split
    n_val = len(validation_split(data.y_train, cfg.val_fraction, cfg.val_seed)[1])
    assert len(r["_test_features"]) == n_val  # the validation split played the test set


def test_report_names_choices_at_an_end_of_their_grid():
    from selfsup.eval.report import grid_edge_choices, markdown_report

    def entry(**chosen):
        return {"mean": 0.5, "std": 0.0, "values": [0.5], "selected": [{"seed": 0, **chosen, "val_accuracy": 0.5}]}

    results = {"method": "simclr", "dataset": "d", "split": "test",
               "selection": {"val_size": 10, "val_seed": 0, "pool_size": 90, "knn_k_grid": [1, 5, 10, 20],
                             "l2_grid": [1e-4, 1e-3, 1e-2],
                             "pca": {"n_components": 32, "selected_on": "validation",
                                     "val_accuracy": {"8": 0.1, "16": 0.2, "32": 0.3}}},
               "protocols": {"knn": {"100%": entry(k=5)}, "linear": {"1%": entry(l2=1e-2), "100%": entry(l2=1e-3)}},
               "baselines": {"raw": {"knn": {"100%": entry(k=1)}, "linear": {"1%": entry(l2=1e-3)}}}}
    edges = grid_edge_choices(results)
    assert edges == ["linear L2=0.01 (largest of the grid): simclr 1%",
                     "kNN k=1 (smallest of the grid): raw input 100%", "PCA size 32 (largest of the grid)"]
    assert "At an end of its grid" in markdown_report(results)
    results["protocols"]["linear"]["1%"] = entry(l2=1e-3)
    results["baselines"]["raw"]["knn"]["100%"] = entry(k=10)
    results["selection"]["pca"]["n_components"] = 16
    assert grid_edge_choices(results) == [] and "At an end of its grid" not in markdown_report(results)
