"""Graphs: data loading and errors, DGI/GRACE parts against hand computations, training separates
planted communities, early stopping, node evaluation, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from selfsup.augment.graph import drop_edges, mask_features, shuffle_rows
from selfsup.data.graph import (
    GraphData,
    as_graph,
    find_planetoid,
    from_networkx,
    load_edgelist,
    load_planetoid,
)
from selfsup.encoders.gcn import GCNEncoder
from selfsup.errors import UserError
from selfsup.functional.dgi import bilinear_scores, dgi_loss
from selfsup.functional.nt_xent import nt_xent
from selfsup.methods import get_method
from selfsup.methods.base import DataInfo, StepOutput
from selfsup.methods.dgi import DGI, DGIConfig, build_dgi
from selfsup.methods.grace import GRACEConfig
from selfsup.pipelines.graph import train_graph_method
from selfsup.train.graph import GraphTrainConfig

# Planetoid roots found the way the product looks: $SELFSUP_DATA_DIR(/planetoid) (conftest's default is the
# team's data folder), then the download cache; None when absent
PLANETOID = find_planetoid("cora")
CITESEER = find_planetoid("citeseer")


def need_planetoid(canon: str) -> str:
    """The skip reason when graph ``canon`` is missing: how to get it."""
    return (f"{canon} raw files not found: pass --data-dir / set SELFSUP_DATA_DIR to a folder with "
            f"planetoid/{canon}/raw (Planetoid format, ind.{canon.lower()}.*), or run once with a network "
            f"`selfsup pretrain dgi --data {canon.lower()} --download ...` (which caches them in "
            "~/.cache/selfsup/planetoid)")


@pytest.fixture(autouse=True)
def _one_thread():
    """The graphs here are tiny: one thread is faster, and on a crowded 2-core machine a second
    spinning thread more than doubled the CPU time of these tests."""
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


def planted_graph(n_per: int = 40, p_in: float = 0.25, p_out: float = 0.01, feat: int = 16, seed: int = 0) -> GraphData:
    """Two communities; features are pure noise, so only the edges tell the communities apart."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per
    y = np.repeat([0, 1], n_per)
    p = np.where(y[:, None] == y[None, :], p_in, p_out)
    a = np.triu(rng.random((n, n)) < p, 1)
    ei = torch.as_tensor(np.array(a.nonzero()))
    x = torch.as_tensor(rng.normal(size=(n, feat)), dtype=torch.float32)
    return GraphData(x=x, edge_index=torch.cat([ei, ei.flip(0)], 1), y=torch.as_tensor(y), name="planted")


# ------------------------------------------------------------------------------------------- augment


def test_corruption_is_a_row_permutation():
    x = torch.arange(30.0).reshape(10, 3)
    xc, perm = shuffle_rows(x, torch.Generator().manual_seed(1))
    assert sorted(perm.tolist()) == list(range(10))
    assert torch.equal(xc, x[perm])
    assert not torch.equal(xc, x)  # it did move rows
    assert sorted(map(tuple, xc.tolist())) == sorted(map(tuple, x.tolist()))  # same multiset of rows
    again, perm2 = shuffle_rows(x, torch.Generator().manual_seed(1))
    assert torch.equal(perm, perm2)  # seeded


def test_edge_drop_and_feature_mask():
    ei = torch.randint(0, 50, (2, 4000))
    kept = drop_edges(ei, 0.3, torch.Generator().manual_seed(0))
    assert 0.65 < kept.shape[1] / 4000 < 0.75
    assert drop_edges(ei, 0.0) is ei
    x = torch.ones(5, 200)
    m = mask_features(x, 0.4, torch.Generator().manual_seed(0))
    zero_cols = (m == 0).all(0)
    assert torch.equal((m == 0).any(0), zero_cols)  # whole columns, the same for every node
    assert 0.25 < zero_cols.float().mean() < 0.55


# ---------------------------------------------------------------------------------- DGI, by hand


def test_bilinear_scores_and_loss_match_hand_values():
    h = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s = torch.tensor([0.5, 1.0])
    w = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    pos = bilinear_scores(h, s, w)  # W s = (2.5, 1)
    assert torch.allclose(pos, torch.tensor([2.5, 1.0]))
    neg = torch.tensor([0.0, -1.0])
    sp = lambda z: math.log1p(math.exp(z))
    # -log sigma(p) = softplus(-p) for positives; -log(1 - sigma(n)) = softplus(n) for negatives
    expected = (sp(-2.5) + sp(-1.0) + sp(0.0) + sp(-1.0)) / 4
    assert float(dgi_loss(pos, neg)) == pytest.approx(expected, abs=1e-6)
    assert float(dgi_loss(torch.tensor([50.0]), torch.tensor([-50.0]))) < 1e-6  # perfect discriminator


def test_dgi_scores_on_hand_built_graph():
    """Path 0-1-2 plus node 3 tied to 1: GCN (identity weights, PReLU 0.25), readout, discriminator."""
    x = torch.tensor([[1.0, -2.0], [0.0, 1.0], [2.0, 0.5], [-1.0, 1.0]])
    ei = torch.tensor([[0, 1, 1, 2, 1, 3], [1, 0, 2, 1, 3, 1]])
    enc = GCNEncoder(2, 2, layers=1, activation="prelu")
    with torch.no_grad():
        enc.convs[0].lin.weight.copy_(torch.eye(2))
        enc.convs[0].bias.zero_()
        enc.acts[0].weight.fill_(0.25)
    model = DGI(enc)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.5], [-0.5, 2.0]]))
    perm = torch.tensor([2, 3, 0, 1])
    pos, neg = model.scores(x, perm, ei)

    # by hand: degrees with self-loops (2, 4, 2, 2); A_hat[i, j] = 1 / sqrt(d_i d_j) on edges and the diagonal
    a = np.eye(4)
    for i, j in [(0, 1), (1, 2), (1, 3)]:
        a[i, j] = a[j, i] = 1
    d = a.sum(1)
    a_hat = a / np.sqrt(np.outer(d, d))
    prelu = lambda v: np.where(v > 0, v, 0.25 * v)
    h_pos = prelu(a_hat @ x.numpy())
    h_neg = prelu(a_hat @ x.numpy()[perm.numpy()])
    s = 1 / (1 + np.exp(-h_pos.mean(0)))
    wd = np.array([[1.0, 0.5], [-0.5, 2.0]])
    np.testing.assert_allclose(pos.detach().numpy(), h_pos @ wd @ s, atol=1e-5)
    np.testing.assert_allclose(neg.detach().numpy(), h_neg @ wd @ s, atol=1e-5)
    sig = lambda v: 1 / (1 + np.exp(-v))
    bce = -(np.log(sig(h_pos @ wd @ s)).sum() + np.log(1 - sig(h_neg @ wd @ s)).sum()) / 8
    assert float(dgi_loss(pos, neg).detach()) == pytest.approx(bce, abs=1e-5)
    # the shared-transform path equals two separate encoder calls
    h, hp = enc.forward_pair(x, perm, ei)
    assert torch.allclose(h, enc(x, ei), atol=1e-6) and torch.allclose(hp, enc(x[perm], ei), atol=1e-6)


def test_grace_loss_matches_paper_equation_loop():
    torch.manual_seed(0)
    u, v = torch.randn(6, 4), torch.randn(6, 4)
    tau = 0.4
    theta = lambda a, b: float(torch.nn.functional.cosine_similarity(a, b, dim=0)) / tau

    def ell(a, b):  # GRACE eq. (1): intra-view and inter-view negatives
        num = math.exp(theta(a[i], b[i]))
        den = num + sum(math.exp(theta(a[i], b[k])) for k in range(6) if k != i) \
            + sum(math.exp(theta(a[i], a[k])) for k in range(6) if k != i)
        return -math.log(num / den)

    total = 0.0
    for i in range(6):
        total += 0.5 * (ell(u, v) + ell(v, u))
    assert float(nt_xent(torch.cat([u, v]), tau)) == pytest.approx(total / 6, abs=1e-5)


# ---------------------------------------------------------------------------------- encoder


def test_gcn_encoder_matches_pyg_and_never_serves_a_stale_graph():
    from torch_geometric.nn import GCNConv

    g = planted_graph(10, feat=5)
    torch.manual_seed(0)
    enc = GCNEncoder(5, 8, layers=2, activation="relu")
    ref = [GCNConv(5, 8), GCNConv(8, 8)]
    for c, r in zip(enc.convs, ref):
        r.load_state_dict(c.state_dict())
    expect = torch.relu(ref[1](torch.relu(ref[0](g.x, g.edge_index)), g.edge_index))
    assert torch.allclose(enc(g.x, g.edge_index), expect, atol=1e-5)
    other = g.edge_index[:, : g.edge_index.shape[1] // 2].clone()
    expect2 = torch.relu(ref[1](torch.relu(ref[0](g.x, other)), other))
    assert torch.allclose(enc(g.x, other), expect2, atol=1e-5)  # a new graph is normalised afresh
    with pytest.raises(UserError, match="expects 5 node features"):
        enc(torch.zeros(3, 4), g.edge_index)


def test_gcn_row_normalisation():
    g = planted_graph(6, feat=4)
    x = g.x.abs()
    x[3] = 0  # an all-zero row stays zero (no division by zero)
    enc = GCNEncoder(4, 8, layers=1)
    norm = GCNEncoder(4, 8, layers=1, normalize_rows=True)
    norm.load_state_dict(enc.state_dict())
    by_hand = x / x.sum(1, keepdim=True).clamp_min(1e-12)
    assert torch.allclose(norm(x, g.edge_index), enc(by_hand, g.edge_index), atol=1e-6)
    assert not torch.allclose(norm(x, g.edge_index), enc(x, g.edge_index), atol=1e-3)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    h, hp = norm.forward_pair(x, perm, g.edge_index)
    assert torch.allclose(hp, norm(x[perm], g.edge_index), atol=1e-6) and torch.isfinite(h).all()
    assert build_dgi(DGIConfig(hidden_dim=8), None, DataInfo((4,)), seed=0).encoder.normalize_rows  # the default


# ---------------------------------------------------------------------------------- training


def _kmeans_agreement(z: torch.Tensor, y: torch.Tensor) -> float:
    from sklearn.cluster import KMeans

    pred = KMeans(2, n_init=4, random_state=0).fit_predict(torch.nn.functional.normalize(z, dim=1).numpy())
    acc = float((pred == y.numpy()).mean())
    return max(acc, 1 - acc)


@pytest.mark.parametrize("method", ["dgi", "grace"])
def test_training_separates_planted_communities(method):
    """Featureless nodes (one-hot ids): only training brings out the two communities."""
    g0 = planted_graph(60, p_in=0.15, p_out=0.02)
    g = GraphData(x=torch.eye(120), edge_index=g0.edge_index, y=g0.y)
    spec = get_method(method)
    cfg = DGIConfig(hidden_dim=32) if method == "dgi" else GRACEConfig(hidden_dim=32, out_dim=16, proj_hidden_dim=16)
    model = spec.build(cfg, None, DataInfo((g.num_features,)), seed=0)
    before = _kmeans_agreement(model.embed(g), g.y)
    model, fit = train_graph_method(spec, cfg, GraphTrainConfig(epochs=80, lr=0.01, patience=0, restore_best=False), g)
    assert np.mean(fit["losses"][-5:]) < np.mean(fit["losses"][:5])
    z = model.embed(g)
    assert z.shape == (120, 32 if method == "dgi" else 16)
    assert before < 0.8  # the untrained encoder does not separate them ...
    assert _kmeans_agreement(z, g.y) >= 0.9  # ... the trained one does


def test_dgi_step_gradients_reach_encoder_and_discriminator():
    g = planted_graph(8)
    model = build_dgi(DGIConfig(hidden_dim=8), None, DataInfo((g.num_features,)), seed=0)
    out = model.training_step(g)
    assert isinstance(out, StepOutput) and math.isfinite(float(out.loss))
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ---------------------------------------------------------------------------------- data


@pytest.mark.skipif(PLANETOID is None, reason=need_planetoid("Cora"))
def test_cora_public_split_and_registry_names():
    g = load_planetoid("Cora", PLANETOID)
    assert (g.num_nodes, g.num_features, g.num_classes) == (2708, 1433, 7)
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (140, 500, 1000)
    assert g.edge_index.shape[1] == 10556  # 5278 undirected edges, both directions
    assert not (g.train_mask & g.test_mask).any()
    g2 = as_graph(f"planetoid:cora:{PLANETOID}")
    assert torch.equal(g2.edge_index, g.edge_index)
    assert torch.equal(as_graph("cora").edge_index, g.edge_index)  # the registered name finds the same files


@pytest.mark.skipif(CITESEER is None, reason=need_planetoid("CiteSeer"))
def test_citeseer_from_its_raw_folder():
    raw = next(d for d in (CITESEER / "CiteSeer" / "raw", CITESEER / "CiteSeer", CITESEER / "raw", CITESEER)
               if (d / "ind.citeseer.graph").is_file())
    g3 = as_graph(f"planetoid:CiteSeer:{raw}")  # ROOT may be the raw folder itself
    assert (g3.num_nodes, g3.num_classes) == (3327, 6)


def test_planetoid_errors(tmp_path):
    with pytest.raises(UserError, match="missing ind.cora.x"):
        load_planetoid("cora", tmp_path)
    with pytest.raises(UserError, match="unknown Planetoid graph"):
        load_planetoid("reddit", tmp_path)
    with pytest.raises(UserError, match="planetoid:NAME:ROOT"):
        as_graph("planetoid:cora")
    with pytest.raises(UserError, match="not a graph"):
        as_graph("digits")


def test_edgelist_files_and_errors(tmp_path):
    (tmp_path / "e.txt").write_text("# src dst\n0 1\n1 2\n2 0\n3 4\n")
    np.save(tmp_path / "x.npy", np.eye(5, 3))
    (tmp_path / "y.txt").write_text("0\n0\n0\n1\n1\n")
    g = as_graph(f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x.npy'},{tmp_path / 'y.txt'}")
    assert (g.num_nodes, g.num_features, g.edge_index.shape[1]) == (5, 3, 8)
    assert g.y.tolist() == [0, 0, 0, 1, 1]
    g = load_edgelist(str(tmp_path / "e.txt"))  # identity features
    assert g.x.shape == (5, 5)
    (tmp_path / "bad.txt").write_text("0 1\n1 7\n")
    with pytest.raises(UserError, match="references node 7.*5 nodes"):
        load_edgelist(str(tmp_path / "bad.txt"), str(tmp_path / "x.npy"))
    (tmp_path / "y4.txt").write_text("0\n1\n0\n1\n")
    with pytest.raises(UserError, match="4 labels .* for 5 nodes"):
        load_edgelist(str(tmp_path / "e.txt"), str(tmp_path / "x.npy"), str(tmp_path / "y4.txt"))
    with pytest.raises(UserError, match="edge list file not found"):
        load_edgelist(str(tmp_path / "nope.txt"))
    (tmp_path / "neg.txt").write_text("0 1\n-1 2\n")
    with pytest.raises(UserError, match="references node -1"):
        load_edgelist(str(tmp_path / "neg.txt"), str(tmp_path / "x.npy"))


def test_networkx_and_pyg_inputs():
    import networkx as nx
    from torch_geometric.data import Data

    kc = nx.karate_club_graph()
    g = from_networkx(kc, label_attr="club")
    assert (g.num_nodes, g.num_classes, g.edge_index.shape[1]) == (34, 2, 2 * kc.number_of_edges())
    assert g.classes == ["Mr. Hi", "Officer"]
    with pytest.raises(UserError, match="feature matrix of shape"):
        from_networkx(kc, features=np.ones((30, 2)))
    d = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]), y=torch.tensor([0, 1, 0, 1]))
    g = as_graph(d)
    assert g.edge_index.shape[1] == 6  # made undirected
    with pytest.raises(UserError, match="references node 9"):
        as_graph(Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 9], [1, 2]])))
    with pytest.raises(UserError, match="labels for 4 nodes"):
        GraphData(x=torch.randn(4, 3), edge_index=torch.zeros(2, 0), y=torch.tensor([0, 1]))


# ---------------------------------------------------------------------------------- eval + CLI


def test_node_protocols_on_planted_graph():
    from selfsup.eval.graph import node_protocols, node_split
    from selfsup.eval.harness import EvalConfig

    g = planted_graph()
    split = node_split(g.y, seed=0)
    assert split.name == "random" and len(split.train) == 40
    onehot = torch.nn.functional.one_hot(g.y, 2).float() + 0.01 * torch.randn(80, 2)
    cfg = EvalConfig(protocols=("linear", "knn"), labels=("10%",), seeds=(0, 1), knn_k=5)
    res = node_protocols(onehot, g.y, split, cfg)
    assert res["linear"]["random"]["mean"] == 1.0 and res["knn"]["random"]["mean"] == 1.0
    assert len(res["linear"]["random"]["values"]) == 2 and "10%" in res["linear"]
    noise_cfg = EvalConfig(protocols=("linear",), labels=(), seeds=(0,))
    shuffled = node_protocols(torch.randn(80, 8), g.y, split, noise_cfg)
    assert shuffled["linear"]["random"]["mean"] < 0.8


def test_cli_pretrain_and_evaluate_edgelist(tmp_path):
    from selfsup.cli.main import main

    g = planted_graph(20)
    ei = g.edge_index[:, g.edge_index[0] < g.edge_index[1]]
    np.savetxt(tmp_path / "e.txt", ei.t().numpy(), fmt="%d")
    np.save(tmp_path / "x.npy", g.x.numpy())
    np.savetxt(tmp_path / "y.txt", g.y.numpy(), fmt="%d")
    run = tmp_path / "run"
    data = f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x.npy'},{tmp_path / 'y.txt'}"
    assert main(["pretrain", "dgi", "--data", data, "--out", str(run), "--epochs", "20", "--set", "hidden_dim=16"]) == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["epochs"] <= 20 and meta["stop_reason"] and meta["config"]["method_config"]["hidden_dim"] == 16
    assert main(["evaluate", str(run), "--seeds", "0,1", "--labels", "100%", "--baselines", "raw"]) == 0
    res = json.loads((run / "results.json").read_text())
    entry = res["protocols"]["linear"]["random"]
    assert set(entry) >= {"mean", "std"} and len(entry["values"]) == 2
    assert "raw" in res["baselines"] and (run / "embedding_map.png").is_file()
    # embed: the run's own graph ('-'), the same node vectors as embeddings.pt; a graph of another width fails clearly
    assert main(["embed", str(run), "-", "-o", str(tmp_path / "z.npy")]) == 0
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (40, 16)
    np.testing.assert_allclose(z, torch.load(run / "embeddings.pt")["z"].numpy(), atol=1e-6)
    np.save(tmp_path / "x3.npy", g.x.numpy()[:, :3])
    assert main(["embed", str(run), f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x3.npy'}", "-o", str(tmp_path / "z3.npy")]) == 2
    # clear errors, exit status 2
    assert main(["pretrain", "dgi", "--data", data, "--out", str(run), "--batch-size", "8"]) == 2
    assert main(["pretrain", "dgi", "--data", data, "--out", str(run), "--set", "hiden_dim=3"]) == 2
    assert main(["pretrain", "grace", "--data", f"edgelist:{tmp_path / 'missing.txt'}", "--out", str(run)]) == 2
    assert main(["evaluate", str(run), "--protocols", "finetune"]) == 2  # fewshot applies to node features since the registry


def test_node_pca_size_and_validation_split_never_read_test_labels():
    """The graph PCA baseline's size is chosen on validation nodes, and a validation-split evaluation scores the
    validation nodes: permuting the test nodes' labels changes neither (issue 18)."""
    from selfsup.eval.graph import NodeSplit, node_protocols, select_node_pca, validation_node_split
    from selfsup.eval.harness import EvalConfig

    g = planted_graph(40)
    torch.manual_seed(0)
    x = torch.cat([torch.nn.functional.one_hot(g.y, 2).float(), torch.randn(80, 30)], 1)
    perm = torch.randperm(80)
    train, val, test = perm[:20], perm[20:40], perm[40:]
    split = NodeSplit("public", train, test, val)
    cfg = EvalConfig(protocols=("linear", "knn"), labels=(), seeds=(0,), pca_grid=(2, 8, 16, 32))
    y2 = g.y.clone()
    y2[test] = y2[test][torch.randperm(len(test))]  # permuted test labels
    a, b = select_node_pca(x, g.y, split, cfg), select_node_pca(x, y2, split, cfg)
    assert a["selected_on"] == "validation nodes" and a["n_components"] == b["n_components"]
    assert a["val_accuracy"] == b["val_accuracy"] and set(a["val_accuracy"]) == {"2", "8", "16", "32"}
    assert a["_features"].shape == (80, a["n_components"])
    vs = validation_node_split(split, g.y)
    assert vs.val is None and torch.equal(vs.test, val) and not set(vs.test.tolist()) & set(test.tolist())
    ra, rb = node_protocols(x, g.y, vs, cfg), node_protocols(x, y2, vs, cfg)
    assert ra == rb and ra["linear"]["public"]["mean"] > 0.9
    # without validation nodes, part of the training nodes is scored instead (still never a test node)
    vs2 = validation_node_split(NodeSplit("random", torch.cat([train, val]), test), g.y)
    assert len(vs2.train) + len(vs2.test) == 40 and not set(vs2.test.tolist()) & set(test.tolist())


def test_cli_graph_validation_split_and_chosen_k(tmp_path):
    from selfsup.cli.main import main

    g = planted_graph(20)
    ei = g.edge_index[:, g.edge_index[0] < g.edge_index[1]]
    np.savetxt(tmp_path / "e.txt", ei.t().numpy(), fmt="%d")
    np.save(tmp_path / "x.npy", g.x.numpy())
    np.savetxt(tmp_path / "y.txt", g.y.numpy(), fmt="%d")
    run = tmp_path / "run"
    data = f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x.npy'},{tmp_path / 'y.txt'}"
    assert main(["pretrain", "dgi", "--data", data, "--out", str(run), "--epochs", "5", "--set", "hidden_dim=8"]) == 0
    assert main(["evaluate", str(run), "--split", "validation", "--protocols", "linear,knn", "--seeds", "0",
                 "--baselines", "raw,pca"]) == 0
    val = json.loads((run / "validation.json").read_text())
    assert not (run / "results.json").exists()  # a validation evaluation never writes the test results
    assert val["split"]["scored_on"] == "validation" and val["split"]["test"] < 40 - val["split"]["train"] + 1
    assert val["selection"]["pca"]["selected_on"] == "a split of the training nodes"
    assert main(["evaluate", str(run), "--protocols", "knn", "--labels", "none", "--seeds", "0", "--baselines", "none"]) == 0
    res = json.loads((run / "results.json").read_text())
    assert res["protocols"]["knn"]["random"]["selected"][0]["k"] != 200  # k chosen on validation, not fixed


@pytest.mark.skipif(PLANETOID is None, reason=need_planetoid("Cora"))
def test_cli_cora_public_split(tmp_path, monkeypatch):
    import selfsup.eval.report
    from selfsup.cli.main import main

    drawn = []  # the t-SNE map of 1000 nodes takes ~30 s; the edgelist test draws a real one
    monkeypatch.setattr(selfsup.eval.report, "plot_embedding_map", lambda z, y, path, **kw: drawn.append(z.shape))

    run = tmp_path / "run"
    assert main(["pretrain", "grace", "--data", "cora", "--data-dir", str(PLANETOID), "--out", str(run),
                 "--epochs", "2", "--set", "hidden_dim=16", "--set", "out_dim=8"]) == 0
    assert main(["evaluate", str(run), "--seeds", "0,1", "--labels", "none", "--baselines", "none"]) == 0
    res = json.loads((run / "results.json").read_text())
    pub = res["protocols"]["linear"]["public"]
    # chance 1/7; shuffled training labels score 0.11-0.15 on these embeddings, a random-init GCN 0.30
    assert 0.25 < pub["mean"] <= 1 and pub["std"] == 0.0  # one public split: the same for both seeds
    assert res["split"] == {"name": "public", "train": 140, "test": 1000, "scored_on": "test"}
    assert drawn == [(1000, 8)]  # the map shows the test nodes' embeddings
