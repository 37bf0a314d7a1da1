"""``selfsup pretrain word2vec|deepwalk``, ``evaluate`` and ``embed`` end to end on tiny data."""

import json

import numpy as np
import pytest

pytest.importorskip("numba")

from selfsup.cli.main import main


def write_planted(path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    groups = [[f"g{g}w{i}" for i in range(6)] for g in range(3)]
    lines = [" ".join(rng.choice(groups[rng.integers(3)], size=10)).upper() for _ in range(n)]  # lowercased on read
    path.write_text("\n".join(lines) + "\n")
    return groups


def test_word2vec_pretrain_evaluate_embed(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    groups = write_planted(corpus)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("g0w0\tg0w1\t9\ng1w0\tg1w2\t8\ng0w0\tg1w1\t1\ng2w3\tg0w4\t0.5\ng2w0\tnotaword\t3\n")
    questions = tmp_path / "q.txt"
    questions.write_text(": toy\ng0w0 g0w1 g1w0 g1w1\ng0w0 g0w1 zz g1w1\n")
    run = tmp_path / "run"
    rc = main(["pretrain", "word2vec", "--data", f"text:{corpus}", "--out", str(run), "--set", "sg=1",
               "--set", "workers=2", "--set", "vector_size=16", "--set", "min_count=1", "--set", "sample=0",
               "--epochs", "3", "--no-progress"])
    assert rc == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["modality"] == "words" and meta["config"]["sg"] == 1 and meta["config"]["workers"] == 2
    assert meta["vocab_size"] == 18 and meta["corpus_tokens"] == 4000 and meta["words_per_second"] > 0
    first = (run / "vectors.txt").read_text().splitlines()[0]
    assert first == "18 16"
    rc = main(["evaluate", str(run), "--protocols", f"wordsim353={pairs},simlex999={pairs},analogy={questions}"])
    assert rc == 0
    res = json.loads((run / "results.json").read_text())
    p = res["protocols"]
    assert p["wordsim353"]["spearman"] > 0.5 and p["wordsim353"]["oov"] == 1
    assert p["simlex999"]["oov"] == 1 and p["analogy"]["oov"] == 1 and "accuracy" in p["analogy"]
    assert (run / "report.md").read_text().startswith("# word2vec on text:")
    out = tmp_path / "e.npy"
    assert main(["embed", str(run), "g0w0,g0w1,nope", "-o", str(out)]) == 0
    e = np.load(out)
    assert e.shape == (3, 16) and not e[2].any() and e[0].any()
    assert "1 words are not in the vocabulary" in capsys.readouterr().out
    gensim = pytest.importorskip("gensim")
    g = gensim.models.KeyedVectors.load_word2vec_format(str(run / "vectors.txt"))
    assert g.most_similar("g2w0", topn=3)[0][0] in groups[2]


def test_word2vec_cli_user_errors(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    write_planted(corpus, n=20)
    base = ["pretrain", "word2vec", "--data", f"text:{corpus}", "--out", str(tmp_path / "r")]
    assert main(base + ["--set", "windw=3"]) == 2
    assert "did you mean 'window'" in capsys.readouterr().err
    assert main(base + ["--batch-size", "32"]) == 2
    assert "--batch-size" in capsys.readouterr().err
    assert main(base + ["--set", "negative=0"]) == 2
    assert "no training objective" in capsys.readouterr().err
    assert main(["pretrain", "word2vec", "--data", "enwiki-smple", "--out", str(tmp_path / "r")]) == 2
    assert "did you mean 'enwiki-sample'" in capsys.readouterr().err


def test_deepwalk_on_an_edge_list(tmp_path):
    rng = np.random.default_rng(0)
    n = 15
    edges = [(b + i, b + j) for b in (0, n) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    edges.append((0, n))
    (tmp_path / "e.txt").write_text("\n".join(f"{a} {b}" for a, b in edges))
    np.savetxt(tmp_path / "y.txt", np.repeat([0, 1], n), fmt="%d")
    feats = rng.normal(size=(2 * n, 4))
    np.savetxt(tmp_path / "x.txt", feats)
    run = tmp_path / "dw"
    data = f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x.txt'},{tmp_path / 'y.txt'}"
    rc = main(["pretrain", "deepwalk", "--data", data, "--out", str(run), "--set", "vector_size=16",
               "--set", "num_walks=5", "--set", "walk_length=20", "--set", "workers=1", "--set", "epochs=2"])
    assert rc == 0
    assert main(["evaluate", str(run), "--seeds", "0,1"]) == 0
    res = json.loads((run / "results.json").read_text())
    split = next(iter(res["protocols"]["linear"]))
    assert res["protocols"]["linear"][split]["mean"] >= 0.9  # communities are linearly separable
    assert res["baselines"]["raw"]["linear"][split]["mean"] < 0.9  # random features are not
    out = tmp_path / "z.npy"
    assert main(["embed", str(run), data, "-o", str(out)]) == 0
    assert np.load(out).shape == (2 * n, 16)
