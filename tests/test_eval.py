import numpy as np
import pytest
import torch

from selfsup.eval import (
    balanced_subset,
    fewshot_accuracy,
    knn_accuracy,
    linear_probe_accuracy,
    sample_episode,
)
from selfsup.eval.baselines import pca_features


def clusters(n_per=60, c=5, d=16, sep=8.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * sep
    y = torch.arange(c).repeat_interleave(n_per)
    x = centers[y] + torch.randn(len(y), d, generator=g)
    return x, y


def test_knn_and_linear_separable_vs_shuffled():
    xtr, ytr = clusters(seed=0)
    xte, yte = clusters(seed=0)[0] + 0.1 * torch.randn(300, 16), clusters(seed=0)[1]
    assert knn_accuracy(xtr, ytr, xte, yte, k=10) > 0.98
    assert linear_probe_accuracy(xtr, ytr, xte, yte)[0] > 0.98
    perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(1))
    shuffled = ytr[perm]
    x2, y2 = clusters(seed=0)  # fresh labels for test to be independent of shuffled training labels
    assert knn_accuracy(xtr, shuffled, x2, y2, k=10) < 0.4
    assert linear_probe_accuracy(xtr, shuffled, x2, y2)[0] < 0.4


def test_tiny_sets_work():
    xtr, ytr = clusters(n_per=1, c=3)
    acc = knn_accuracy(xtr, ytr, xtr[:1], ytr[:1], k=200)
    assert acc == 1.0
    acc, _ = linear_probe_accuracy(xtr, ytr, xtr, ytr)
    assert acc == 1.0  # 3 separated points, one per class: the probe fits them
    assert linear_probe_accuracy(xtr, ytr, xtr, ytr[torch.tensor([1, 2, 0])])[0] == 0.0  # every test label wrong
    assert linear_probe_accuracy(xtr, ytr, xtr[2:], ytr[2:])[0] == 1.0  # a single test sample


def test_linear_probe_grid_subsample_only_changes_the_search():
    from selfsup.eval.linear import LinearProbeConfig

    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 5, generator=g)
    y = (x[:, 0] + 0.3 * torch.randn(600, generator=g) > 0).long()
    full = LinearProbeConfig(grid_max_samples=None)
    small = LinearProbeConfig(grid_max_samples=100)
    # with a single penalty there is no search: the sample size cannot matter
    one = dict(l2_grid=(1e-3,))
    a = linear_probe_accuracy(x[:400], y[:400], x[400:], y[400:], 2, LinearProbeConfig(**one, grid_max_samples=None))
    b = linear_probe_accuracy(x[:400], y[:400], x[400:], y[400:], 2, LinearProbeConfig(**one, grid_max_samples=100))
    assert a == b
    # at or under the cap the search is the same as without one
    assert (linear_probe_accuracy(x[:90], y[:90], x[400:], y[400:], 2, small)
            == linear_probe_accuracy(x[:90], y[:90], x[400:], y[400:], 2, full))
    acc, l2 = linear_probe_accuracy(x[:400], y[:400], x[400:], y[400:], 2, small)
    # the penalty found on the 80 search-training labels is rescaled to the 400 labels of the final fit
    assert acc > 0.85 and any(l2 == pytest.approx(g * 80 / 400) for g in small.l2_grid), l2


def test_balanced_subset():
    y = torch.arange(10).repeat_interleave(100)
    idx = balanced_subset(y, 0.1, seed=0)
    assert torch.bincount(y[idx]).tolist() == [10] * 10
    assert not torch.equal(idx, balanced_subset(y, 0.1, seed=1))
    assert torch.equal(idx, balanced_subset(y, 0.1, seed=0))
    assert len(balanced_subset(y, 1.0, 0)) == 1000
    assert torch.bincount(y[balanced_subset(y, 0.001, 0)]).tolist() == [1] * 10


def test_fewshot_episode_counts_and_accuracy():
    y = np.repeat(np.arange(8), 30)
    s, q, chosen = sample_episode(y, 5, 3, 7, np.random.default_rng(0))
    assert len(s) == 15 and len(q) == 35 and len(set(chosen)) == 5
    assert not set(s) & set(q)
    for i, c in enumerate(chosen):
        assert (y[s[i * 3:(i + 1) * 3]] == c).all() and (y[q[i * 7:(i + 1) * 7]] == c).all()
    x, yy = clusters(n_per=30, c=8)
    res = fewshot_accuracy(x, yy, episodes=50)
    assert res["mean"] > 0.95 and res["ci95"] >= 0
    noise = torch.randn(240, 16)
    assert fewshot_accuracy(noise, yy, episodes=200)["mean"] < 0.35


def test_pca_features_shape_and_variance_order():
    x = torch.randn(200, 30) * torch.linspace(5, 0.1, 30)
    tr, te = pca_features(x, x[:10], 5)
    assert tr.shape == (200, 5) and te.shape == (10, 5)
    v = tr.var(0)
    assert (v[:-1] >= v[1:] - 1e-3).all()


def test_fewshot_on_tiny_test_sets_shrinks_the_episode_or_skips():
    from selfsup.eval.fewshot import episode_shape

    # 3 classes of 4 samples: a 5-way 5-shot 15-query episode cannot be filled -> 3-way 3-shot 1-query
    y = torch.arange(3).repeat_interleave(4)
    assert episode_shape(y.numpy(), 5, 5, 15) == (3, 3, 1)
    assert episode_shape(np.repeat(np.arange(5), 20), 5, 5, 15) == (5, 5, 15)  # big enough: unchanged
    assert episode_shape(np.repeat(np.arange(5), 12), 5, 5, 15) == (5, 5, 7)  # queries shrink before shots
    x = torch.nn.functional.one_hot(y, 3).float() + 0.01 * torch.randn(12, 3, generator=torch.Generator().manual_seed(0))
    res = fewshot_accuracy(x, y, episodes=20)
    assert (res["n_way"], res["k_shot"], res["n_query"]) == (3, 3, 1) and "3-way 3-shot" in res["note"]
    assert res["mean"] == 1.0 and res["episodes"] == 20  # separated clusters: every query right
    # one class, or classes of one sample: no episode at all -> skipped with the reason, no exception
    for y_bad in (torch.zeros(6, dtype=torch.long), torch.arange(6)):
        res = fewshot_accuracy(torch.randn(6, 3), y_bad, episodes=5)
        assert res["episodes"] == 0 and "skipped" in res["skipped"] and np.isnan(res["mean"])


def test_report_shows_a_shrunk_or_skipped_fewshot_entry():
    from selfsup.eval.report import markdown_report

    res = {"method": "m", "protocols": {"fewshot": {"5way5shot": {"mean": 0.5, "ci95": 0.1, "episodes": 3, "n_way": 3,
                                                                  "k_shot": 1, "n_query": 2, "note": "smaller"}}},
           "baselines": {"raw": {"fewshot": {"5way5shot": {"mean": float("nan"), "ci95": float("nan"),
                                                           "episodes": 0, "skipped": "too small"}}}}}
    md = markdown_report(res)
    assert "0.500 ± 0.100 (3-way 1-shot)" in md and "| skipped |" in md


def test_results_json_is_strict_json_with_skipped_numbers(tmp_path):
    import json

    from selfsup.eval.report import write_results

    res = {"method": "m", "protocols": {"fewshot": {"5way5shot": {"mean": float("nan"), "ci95": float("inf")}},
                                        "knn": {"100%": {"mean": 0.5, "std": 0.0, "values": [0.5]}}}}
    write_results(tmp_path, res)

    def refuse(c):
        raise ValueError(c)

    out = json.loads((tmp_path / "results.json").read_text(), parse_constant=refuse)
    assert out["protocols"]["fewshot"]["5way5shot"] == {"mean": None, "ci95": None}
    assert out["protocols"]["knn"]["100%"]["mean"] == 0.5
