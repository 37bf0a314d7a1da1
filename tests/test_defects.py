"""Defects of issue 16, point 5, each pinned by a test that failed before its fix:

* the frozen-feature classifiers (kNN, linear probe, few-shot, clustering, node and series protocols,
  the harness) make every tensor on the features' device, so CUDA features do not crash them;
* the text evaluation's word2vec baseline has no silent gensim fallback;
* a missing imageio/PyAV is a clear error naming the ``video`` extra, even with ``--skip-bad-files``;
* Planetoid graphs are looked for in ``--data-dir``, ``$SELFSUP_DATA_DIR``, then the download cache
  (never a working-directory-relative team folder), and ``--download`` fetches them.

No GPU is needed: features on a "fake accelerator" (a tensor subclass whose ``.numpy()`` fails
until ``.cpu()``, as a CUDA tensor's does) are evaluated inside ``with torch.device("meta")``, so any
tensor made without ``device=`` lands on the meta device and mixing it with the features raises,
as mixing a CPU tensor with CUDA features does.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.errors import UserError

SRC = Path(__file__).resolve().parents[1] / "src" / "selfsup"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny problems: one thread is faster, and a crowded 2-core machine makes extra threads spin."""
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------ a. device-correct evaluation
class OnAccelerator(torch.Tensor):
    """A CPU tensor that behaves like one on an accelerator where numpy is concerned: ``.numpy()``
    (and ``np.asarray``) fail until ``.cpu()`` brings it back as a plain tensor."""

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert an accelerator tensor to numpy; use .cpu() first")

    def cpu(self, *args, **kwargs):
        return super().cpu(*args, **kwargs).as_subclass(torch.Tensor)

    def __array__(self, *args, **kwargs):
        raise TypeError("can't convert an accelerator tensor to numpy; use .cpu() first")


def _clusters(n: int = 60, d: int = 8, c: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    x = torch.randn(n, d, generator=g)
    x[:, :c] += 6 * torch.nn.functional.one_hot(y, c)  # (N, D): well separated
    return x, y


def _on_accelerator(fn, x, y):
    """``fn`` on the features as if they lived on an accelerator (see the module docstring)."""
    xa, ya = x.as_subclass(OnAccelerator), y.as_subclass(OnAccelerator)
    with torch.device("meta"):
        return fn(xa, ya)


def _knn(x, y):
    from selfsup.eval.knn import knn_accuracy, knn_predict

    pred = knn_predict(x, y, x[:0], k=5, num_classes=3)  # an empty test set too
    assert pred.shape == (0,)
    return knn_accuracy(x, y, x, y, k=5, num_classes=3)


def _linear(x, y):
    from selfsup.eval.linear import LinearProbeConfig, linear_probe_accuracy

    return linear_probe_accuracy(x, y, x, y, 3, LinearProbeConfig(grid_max_samples=30, max_iter=30))[0]


def _fewshot(x, y):
    from selfsup.eval.fewshot import fewshot_accuracy

    return fewshot_accuracy(x, y, n_way=3, k_shot=2, n_query=3, episodes=5)["mean"]


def _cluster(x, y):
    from selfsup.eval.cluster import cluster_scores

    return cluster_scores(x, y, 3, seeds=(0,))["nmi"]["mean"]


def _nodes(x, y):
    from selfsup.eval.graph import node_eval_config, node_protocols, node_split

    cfg = node_eval_config(protocols=("linear", "knn"), labels=("50%",), seeds=(0,))
    out = node_protocols(x, y, node_split(y, seed=0, per_class=5), cfg)
    return out["linear"]["random"]["mean"] + out["knn"]["50%"]["mean"]


def _series(x, y):
    from selfsup.eval.series import series_protocols

    out = series_protocols(x, y, x, y, ("svm", "linear", "1nn"), ("50%", "100%"), (0,), 3)
    return sum(out[p][lab]["mean"] for p in out for lab in out[p])


def _harness(x, y):
    from selfsup.eval.harness import EvalConfig, protocols_on_features

    cfg = EvalConfig(protocols=("knn", "linear", "fewshot", "cluster"), labels=("10%", "100%"), seeds=(0,),
                     fewshot_way=3, fewshot_shot=2, fewshot_query=3, fewshot_episodes=3)
    out = protocols_on_features(x, y, x, y, cfg, 3)
    return (out["knn"]["100%"]["mean"], out["linear"]["10%"]["mean"], out["fewshot"]["3way2shot"]["mean"],
            out["cluster"]["ari"]["mean"])


def _balanced_subset(x, y):
    from selfsup.eval.lowlabel import balanced_subset

    return [x[balanced_subset(y, f, 0)].sum().item() for f in (0.2, 1.0)]


def _embedding_map(x, y):
    import tempfile

    from selfsup.eval.report import plot_embedding_map

    path = Path(tempfile.mkdtemp()) / "map.png"
    plot_embedding_map(x, y, path, n=30)
    return path.stat().st_size > 0


@pytest.mark.parametrize("fn", [_knn, _linear, _fewshot, _cluster, _nodes, _series, _harness, _balanced_subset,
                                _embedding_map], ids=lambda f: f.__name__.strip("_"))
def test_classifiers_make_every_tensor_on_the_features_device(fn):
    x, y = _clusters()
    expected = fn(x, y)
    assert _on_accelerator(fn, x, y) == expected


def test_the_device_check_catches_a_tensor_made_on_the_cpu():
    """The check the test above relies on: a tensor made without ``device=`` is on the meta device, so
    its data never reaches a result (reading it or mixing it with the features raises)."""
    x, y = _clusters()

    def careless(x, y):  # the old kNN vote
        votes = torch.zeros(len(x), 3)
        votes.scatter_add_(1, y.view(-1, 1), x[:, :1].exp())
        return float((votes.argmax(1) == y).float().mean())

    def numpy_first(x, y):
        return np.asarray(x).sum()

    for fn in (careless, numpy_first):
        fn(x, y)  # fine on the CPU
        with pytest.raises((RuntimeError, TypeError)):
            _on_accelerator(fn, x, y)


# ------------------------------------------------------------------ b. word2vec baseline: no silent fallback
def _text_meta(corpus: Path) -> dict:
    return {"dataset": f"text:{corpus}", "text": {"data": {"seg_words": 24}}}


def test_word2vec_engine_error_is_not_replaced_by_gensim(tmp_path, corpus, monkeypatch):
    import selfsup.word2vec
    from selfsup.pipelines.text_eval import word2vec_lookup

    class Broken:
        def __init__(self, *a, **kw):
            raise RuntimeError("word2vec engine broke")

    monkeypatch.setattr(selfsup.word2vec, "Word2Vec", Broken)
    logged = []
    with pytest.raises(RuntimeError, match="word2vec engine broke"):
        word2vec_lookup(tmp_path, _text_meta(corpus), 8, log=logged.append)
    assert not (tmp_path / "word2vec.npz").exists()
    assert not any("gensim" in s for s in logged)


def test_word2vec_baseline_on_a_corpus_without_vocabulary_is_a_user_error(tmp_path):
    from selfsup.pipelines.text_eval import word2vec_lookup

    corpus = tmp_path / "unique.txt"
    corpus.write_text("alpha beta gamma\ndelta epsilon zeta\n")  # no word twice: min_count=2 leaves nothing
    with pytest.raises(UserError, match="word2vec baseline .* empty vocabulary") as err:
        word2vec_lookup(tmp_path, _text_meta(corpus), 8, log=lambda s: None)
    assert "--baselines" in err.value.hint


def test_word2vec_baseline_uses_our_engine_and_caches(tmp_path, corpus):
    from selfsup.pipelines.text_eval import word2vec_lookup

    lookup, engine = word2vec_lookup(tmp_path, _text_meta(corpus), 8, log=lambda s: None)
    assert engine.startswith("selfsup.word2vec")
    assert lookup("cat").shape == (8,) and lookup("no-such-word") is None
    assert (tmp_path / "word2vec.npz").is_file()
    assert word2vec_lookup(tmp_path, _text_meta(corpus), 8, log=lambda s: None)[1] == engine  # from the cache


# ------------------------------------------------------------------ c. missing video decoders
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("missing,named", [(("imageio", "imageio.v3"), "imageio"), (("av",), r"av \(PyAV\)")])
def test_missing_video_package_is_named_whatever_skip_bad_files_says(tmp_path, monkeypatch, skip, missing, named):
    from selfsup.data.video import load_video_folder

    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    for mod in missing:
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    with pytest.raises(UserError, match=f"{named} is not installed") as err:
        load_video_folder(str(tmp_path), skip_bad_files=skip)
    assert "unreadable" not in err.value.message
    assert '".[video]"' in err.value.hint and "imageio av" in err.value.hint


def test_gifs_need_imageio_but_not_pyav(tmp_path, monkeypatch):
    pytest.importorskip("imageio")
    from PIL import Image

    from selfsup.data.video import load_video_folder

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)) for _ in range(6)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    monkeypatch.setitem(sys.modules, "av", None)
    d = load_video_folder(str(tmp_path), frames=3, size=8, test_fraction=0.0)
    assert d.x_train.shape == (2, 3, 3, 8, 8)


# ------------------------------------------------------------------ d/e. Planetoid: search order, download
N_LABELED, N_ALL, N_TEST, N_FEAT, N_CLASS = 6, 510, 10, 5, 2  # PyG takes 500 validation nodes after the labeled


def _planetoid_bytes(name: str) -> dict[str, bytes]:
    """The eight raw files of a tiny, valid Planetoid graph ``name`` (the format of Yang et al.)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n = N_ALL + N_TEST

    def feats(rows):
        return sp.csr_matrix((rng.random((rows, N_FEAT)) > 0.5).astype(np.float32))

    def onehot(rows):
        return np.eye(N_CLASS, dtype=np.int64)[rng.integers(0, N_CLASS, rows)]

    allx, ally = feats(N_ALL), onehot(N_ALL)
    objs = {"x": allx[:N_LABELED], "y": ally[:N_LABELED], "allx": allx, "ally": ally, "tx": feats(N_TEST),
            "ty": onehot(N_TEST), "graph": {i: [(i + 1) % n, (i - 1) % n] for i in range(n)}}
    out = {f"ind.{name}.{k}": pickle.dumps(v, protocol=4) for k, v in objs.items()}
    out[f"ind.{name}.test.index"] = "".join(f"{i}\n" for i in range(N_ALL, n)).encode()
    return out


def _write_planetoid(root: Path, canon: str) -> Path:
    raw = root / canon / "raw"
    raw.mkdir(parents=True)
    for fname, data in _planetoid_bytes(canon.lower()).items():
        (raw / fname).write_bytes(data)
    return root


@pytest.fixture
def planetoid_env(tmp_path, monkeypatch):
    """No team folder, no data dir, an empty download cache, and a fake network that serves tiny
    Planetoid files and records what was fetched."""
    pytest.importorskip("torch_geometric")
    from selfsup.data import graph

    monkeypatch.delenv("SELFSUP_DATA_DIR", raising=False)
    cache = tmp_path / "cache" / "planetoid"
    monkeypatch.setattr(graph, "PLANETOID_CACHE", cache, raising=False)
    fetched: list[str] = []
    served: dict[str, bytes] = {}
    for canon in graph.PLANETOID_NAMES.values():
        served.update(_planetoid_bytes(canon.lower()))

    def fake_fetch(url: str, dest: Path) -> None:
        fetched.append(url)
        Path(dest).write_bytes(served[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(graph, "_fetch", fake_fetch, raising=False)
    monkeypatch.chdir(tmp_path)
    return {"cache": cache, "fetched": fetched, "served": served, "tmp": tmp_path}


def test_planetoid_ignores_a_working_directory_team_folder(planetoid_env, monkeypatch):
    from selfsup.data.graph import default_planetoid_dir
    from selfsup.data.registry import load_dataset

    tmp = planetoid_env["tmp"]
    work = tmp / "team" / "main"
    work.mkdir(parents=True)
    _write_planetoid(tmp / "team" / "shared" / "data" / "planetoid", "Cora")  # ../shared/data from work/
    monkeypatch.chdir(work)
    with pytest.raises(UserError, match="Cora not found"):
        load_dataset("cora")
    env = _write_planetoid(tmp / "env" / "planetoid", "Cora")
    monkeypatch.setenv("SELFSUP_DATA_DIR", str(tmp / "env"))
    assert default_planetoid_dir() == env
    assert load_dataset("cora").num_nodes == N_ALL + N_TEST
    assert planetoid_env["fetched"] == []


def test_planetoid_search_order_data_dir_env_cache(planetoid_env, monkeypatch):
    from selfsup.data.graph import find_planetoid, planetoid_search_dirs

    tmp, cache = planetoid_env["tmp"], planetoid_env["cache"]
    user, env = tmp / "user", tmp / "env"
    monkeypatch.setenv("SELFSUP_DATA_DIR", str(env))
    assert planetoid_search_dirs(user) == [user / "planetoid", user, env / "planetoid", env, cache]
    _write_planetoid(cache, "Cora")
    assert find_planetoid("cora", user) == cache
    _write_planetoid(env, "Cora")  # $SELFSUP_DATA_DIR itself holding Cora/raw
    assert find_planetoid("cora", user) == env
    _write_planetoid(user / "planetoid", "Cora")
    assert find_planetoid("cora", user) == user / "planetoid"
    assert find_planetoid("citeseer", user) is None  # each graph is looked for on its own


def test_no_team_folder_in_the_product():
    hits = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
            if any(s in p.read_text() for s in ('"shared" / "data"', "../shared", "shared/data"))]
    assert hits == []


def test_planetoid_without_download_fetches_nothing_and_says_how(planetoid_env):
    from selfsup.data.registry import load_dataset

    with pytest.raises(UserError, match="Cora not found") as err:
        load_dataset("cora")
    assert "--download" in err.value.hint and "planetoid/Cora/raw" in err.value.hint
    assert "--data-dir" in err.value.hint and "SELFSUP_DATA_DIR" in err.value.hint
    assert planetoid_env["fetched"] == [] and not planetoid_env["cache"].exists()


@pytest.mark.parametrize("name,canon", [("cora", "Cora"), ("citeseer", "CiteSeer"), ("pubmed", "PubMed")])
def test_planetoid_download_fetches_the_official_files_into_the_cache(planetoid_env, name, canon):
    from selfsup.data.graph import PLANETOID_SUFFIXES, PLANETOID_URL
    from selfsup.data.registry import load_dataset

    assert PLANETOID_URL == "https://github.com/kimiyoung/planetoid/raw/master/data/"
    g = load_dataset(name, download_ok=True)
    assert (g.num_nodes, g.num_features, g.num_classes) == (N_ALL + N_TEST, N_FEAT, N_CLASS)
    assert int(g.train_mask.sum()) == N_LABELED and int(g.test_mask.sum()) == N_TEST
    assert planetoid_env["fetched"] == [f"{PLANETOID_URL}ind.{name}.{s}" for s in PLANETOID_SUFFIXES]
    raw = planetoid_env["cache"] / canon / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"ind.{name}.{s}" for s in PLANETOID_SUFFIXES)
    planetoid_env["fetched"].clear()
    assert torch.equal(load_dataset(name).edge_index, g.edge_index)  # from the cache, no --download needed
    assert load_dataset(name, download_ok=True).num_nodes == g.num_nodes
    assert planetoid_env["fetched"] == []  # nothing fetched twice


def test_planetoid_damaged_download_is_refused_and_not_kept(planetoid_env):
    from selfsup.data.registry import load_dataset

    planetoid_env["served"]["ind.cora.graph"] = b"\x80\x02garbage"
    with pytest.raises(UserError, match="ind.cora.graph"):
        load_dataset("cora", download_ok=True)
    raw = planetoid_env["cache"] / "Cora" / "raw"
    assert not (raw / "ind.cora.graph").exists() and not list(raw.glob("*.part"))
    planetoid_env["served"]["ind.cora.test.index"] = b"<html>rate limited</html>"  # e.g. an error page
    planetoid_env["served"]["ind.cora.graph"] = _planetoid_bytes("cora")["ind.cora.graph"]
    with pytest.raises(UserError, match="ind.cora.test.index"):
        load_dataset("cora", download_ok=True)
    assert not (raw / "ind.cora.test.index").exists() and not list(raw.glob("*.part"))
    (raw / "ind.cora.graph").unlink()
    with pytest.raises(UserError, match="lacks ind.cora.graph"):  # the partial cache is named
        load_dataset("cora")
    planetoid_env["served"].update(_planetoid_bytes("cora"))
    planetoid_env["fetched"].clear()
    assert load_dataset("cora", download_ok=True).num_nodes == N_ALL + N_TEST
    assert [u.rsplit("/", 1)[-1] for u in planetoid_env["fetched"]] == ["ind.cora.graph", "ind.cora.test.index"]


@pytest.mark.parametrize("method,extra", [
    ("dgi", ["--epochs", "1", "--set", "hidden_dim=8"]),
    ("deepwalk", ["--epochs", "1", "--set", "num_walks=1", "--set", "walk_length=5", "--set", "vector_size=8"]),
])
def test_cli_pretrain_download_flag_reaches_the_planetoid_loader(planetoid_env, capsys, method, extra):
    from selfsup.cli.main import main

    out = planetoid_env["tmp"] / "run"
    assert main(["pretrain", method, "--data", "cora", "--out", str(out), *extra]) == 2
    assert "--download" in capsys.readouterr().err and planetoid_env["fetched"] == []
    assert main(["pretrain", method, "--data", "cora", "--download", "--out", str(out), *extra]) == 0
    assert len(planetoid_env["fetched"]) == 8 and (out / "run.json").is_file()
