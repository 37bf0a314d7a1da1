import numpy as np
import pytest
import torch

from selfsup.eval import balanced_subset, fewshot_accuracy, knn_accuracy, linear_probe_accuracy, sample_episode
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
    assert 0.0 <= acc <= 1.0


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
