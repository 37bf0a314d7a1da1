"""Clustering protocol (k-means NMI / ARI) and the PCA / GMM / k-means baselines and methods."""

import json
import math

import numpy as np
import pytest
import torch

from selfsup.encoders import build_encoder
from selfsup.encoders.fitted import GMMEncoder, KMeansEncoder, PCAEncoder
from selfsup.eval.cluster import ari, cluster_scores, contingency, nmi


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_metrics_match_hand_computed_values():
    same = np.array([0, 0, 1, 1])
    assert nmi(same, np.array([5, 5, 7, 7])) == pytest.approx(1.0)  # label names do not matter
    assert ari(same, np.array([1, 1, 0, 0])) == pytest.approx(1.0)
    cross = np.array([0, 1, 0, 1])
    assert nmi(same, cross) == pytest.approx(0.0, abs=1e-12)
    # pairs: sum C(n_ij,2) = 0, rows 2, cols 2, total C(4,2) = 6 -> (0 - 4/6) / (2 - 4/6) = -0.5
    assert ari(same, cross) == pytest.approx(-0.5)
    pred, lab = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 2, 2])
    assert contingency(pred, lab).tolist() == [[2, 1, 0], [0, 1, 2]]
    # MI = (2/3) ln 2; H(pred) = ln 2, H(lab) = ln 3 -> NMI = (2/3) ln 2 / ((ln 2 + ln 3) / 2)
    assert nmi(pred, lab) == pytest.approx((2 / 3) * math.log(2) / ((math.log(2) + math.log(3)) / 2))
    # sum C(n_ij,2) = 2, rows 3 + 3 = 6, cols 1 + 1 + 1 = 3, total 15: (2 - 1.2) / (4.5 - 1.2)
    assert ari(pred, lab) == pytest.approx(0.8 / 3.3)


def test_metrics_agree_with_sklearn_on_random_partitions():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 300), rng.integers(0, 7, 300)
    assert nmi(a, b) == pytest.approx(normalized_mutual_info_score(b, a), abs=1e-10)
    assert ari(a, b) == pytest.approx(adjusted_rand_score(b, a), abs=1e-10)


def test_cluster_scores_separated_vs_shuffled():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(50)
    centers = torch.randn(4, 16, generator=g) * 10
    x = centers[y] + torch.randn(200, 16, generator=g)
    good = cluster_scores(x, y, 4, seeds=(0, 1))
    assert good["nmi"]["mean"] > 0.95 and good["ari"]["mean"] > 0.95
    bad = cluster_scores(x, y[torch.randperm(200, generator=g)], 4, seeds=(0,))
    assert bad["nmi"]["mean"] < 0.1 and abs(bad["ari"]["mean"]) < 0.1


def _data(n=300, d=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) @ torch.randn(d, d, generator=g)


def test_pca_is_exact_and_deterministic():
    x = _data()
    a, b = PCAEncoder(20, 5).fit(x), PCAEncoder(20, 5).fit(x.clone())
    assert torch.equal(a(x), b(x))
    w = a.components
    assert torch.allclose(w.T @ w, torch.eye(5), atol=1e-4)  # orthonormal directions
    var = a(x).var(0)
    assert torch.all(var[:-1] >= var[1:] - 1e-4)  # ordered by variance
    evals = torch.linalg.eigvalsh(torch.cov(x.T.double())).flip(0)[:5].float()
    assert torch.allclose(var, evals, rtol=1e-3)


def test_gmm_and_kmeans_deterministic_for_a_seed_and_rebuildable():
    x = _data()
    f1 = GMMEncoder(20, 4, 3).fit(x, seed=1)(x)
    f2 = GMMEncoder(20, 4, 3).fit(x, seed=1)(x)
    assert torch.equal(f1, f2) and f1.shape == (300, 7)
    resp = f1[:, 4:] / GMMEncoder(20, 4, 3).fit(x, seed=1).resp_scale
    assert torch.allclose(resp.sum(1), torch.ones(300), atol=1e-4)
    from sklearn.mixture import GaussianMixture

    g = GMMEncoder(20, 4, 3).fit(x, seed=1)
    sk = GaussianMixture(3, random_state=1, reg_covar=1e-4).fit(g.pca(x).double().numpy())
    assert np.allclose(g.log_resp(g.pca(x)).exp().numpy(), sk.predict_proba(g.pca(x).double().numpy()), atol=1e-3)
    for enc, name in ((g, "gmm"), (KMeansEncoder(20, 4, 6).fit(x, seed=0), "kmeans"), (PCAEncoder(20, 3).fit(x), "pca")):
        rebuilt = build_encoder(name, (20,))
        rebuilt.load_state_dict(enc.state_dict())
        assert torch.allclose(rebuilt(x), enc(x)) and rebuilt.out_dim == enc.out_dim


def test_harness_cluster_protocol_and_fitted_baselines():
    from selfsup.data.base import ArrayDataset
    from selfsup.eval.harness import EvalConfig, evaluate

    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(40)
    x = (torch.randn(3, 12, generator=g) * 8)[y] + torch.randn(120, 12, generator=g)
    data = ArrayDataset("blobs", x[::2], y[::2], x[1::2], y[1::2], modality="vector")
    cfg = EvalConfig(protocols=("knn", "cluster"), labels=("100%",), seeds=(0,), baselines=("pca", "gmm", "kmeans"),
                     knn_k=5, pca_components=4, gmm_mixtures=3, kmeans_clusters=6)
    res = evaluate(None, data, cfg, features=(x[::2], x[1::2]), log=lambda s: None)
    assert res["protocols"]["cluster"]["nmi"]["mean"] > 0.95
    for b in ("pca", "gmm", "kmeans"):
        assert set(res["baselines"][b]) == {"knn", "cluster"}
        assert res["baselines"][b]["knn"]["100%"]["mean"] > 0.95


def test_cli_pretrain_pca_then_evaluate_cluster(tmp_path):
    from selfsup.cli.main import main

    out = tmp_path / "pca"
    assert main(["pretrain", "pca", "--data", "digits", "--out", str(out), "--set", "n_components=16"]) == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["encoder"] == "pca" and meta["out_dim"] == 16
    assert main(["evaluate", str(out), "--protocols", "cluster,knn", "--labels", "100%", "--seeds", "0",
                 "--baselines", "none"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert 0.5 < res["protocols"]["cluster"]["nmi"]["mean"] <= 1.0
    assert res["protocols"]["knn"]["100%"]["mean"] > 0.9
    assert main(["pretrain", "pca", "--data", "digits", "--out", str(tmp_path / "x"), "--epochs", "3"]) == 2
