"""Word-similarity and analogy evaluation; text corpora."""

import numpy as np
import pytest
from conftest import NEED_KJV

from selfsup.errors import UserError
from selfsup.eval.wordsim import (
    analogy,
    benchmark_path,
    nearest_neighbours,
    spearman,
    word_protocols,
    word_similarity,
)
from selfsup.word2vec import KeyedVectors


def angle_vectors(words, angles):
    a = np.asarray(angles, dtype=np.float64)
    return KeyedVectors(words, np.stack([np.cos(a), np.sin(a)], 1).astype(np.float32))


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 50).astype(float), rng.normal(size=50)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)


def test_word_similarity_perfect_reversed_and_oov(tmp_path):
    kv = angle_vectors(["a", "b", "c", "d"], [0.0, 0.3, 1.0, 2.0])
    # cos(a,b) > cos(a,c) > cos(a,d): human scores in the same order -> rho = 1
    f = tmp_path / "pairs.tsv"
    f.write_text("# comment\nA\tb\t9.0\na\tc\t5\na\td\t1\na\tzzz\t3\n")
    r = word_similarity(kv, f)
    assert r["spearman"] == pytest.approx(1.0) and r["oov"] == 1 and r["evaluated"] == 3 and r["pairs"] == 4
    f.write_text("a b 1\na c 5\na d 9\n")
    assert word_similarity(kv, f)["spearman"] == pytest.approx(-1.0)
    f.write_text("a b\n")
    with pytest.raises(UserError, match="line 1"):
        word_similarity(kv, f)


def test_analogy_3cosadd_sections_and_oov(tmp_path):
    # man:king :: woman:queen holds exactly (king - man + woman = queen); the other is wrong on purpose
    words = ["man", "king", "woman", "queen", "apple", "pear", "car"]
    vec = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [5, 0, 1], [5, 0.2, 1], [-1, 3, 0]], dtype=np.float32)
    kv = KeyedVectors(words, vec)
    f = tmp_path / "q.txt"
    f.write_text(": family\nman king woman queen\nMan King Woman Queen\nman king woman unicorn\n"
                 ": gram-fruit\napple pear man car\n")
    r = analogy(kv, f)
    assert r["sections"]["family"] == {"accuracy": 1.0, "correct": 2, "evaluated": 2, "oov": 1}
    assert r["sections"]["gram-fruit"]["correct"] == 0
    assert r["accuracy"] == pytest.approx(2 / 3) and r["oov"] == 1 and r["questions"] == 4
    assert r["semantic"]["accuracy"] == 1.0 and r["syntactic"]["evaluated"] == 1


def test_evaluation_agrees_with_gensim_on_its_files():
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(0)
    ws = benchmark_path("wordsim353")
    words = sorted({w.lower() for line in open(ws) if not line.startswith("#") for w in line.split("\t")[:2]})
    words += ["athens", "greece", "baghdad", "iraq", "bangkok", "thailand", "berlin", "germany"]
    vec = rng.normal(size=(len(words), 10)).astype(np.float32)
    ours = KeyedVectors(words, vec)
    theirs = gensim.models.KeyedVectors(10)
    theirs.add_vectors(words, vec)
    r = word_protocols(ours, ("wordsim353", "analogy"))
    g_pearson, g_spearman, g_oov = theirs.evaluate_word_pairs(str(ws))
    assert r["wordsim353"]["spearman"] == pytest.approx(g_spearman.statistic, abs=1e-6)
    assert r["wordsim353"]["oov"] / r["wordsim353"]["pairs"] * 100 == pytest.approx(g_oov)
    g_score, _ = theirs.evaluate_word_analogies(str(benchmark_path("analogy")))
    assert r["analogy"]["accuracy"] == pytest.approx(g_score)
    assert r["analogy"]["evaluated"] > 0 and r["analogy"]["oov"] > 0
    # each score is also the label-free cell that `selfsup compare` ranks by
    assert r["wordsim353"]["all"] == {"mean": r["wordsim353"]["spearman"], "std": 0.0,
                                      "values": [r["wordsim353"]["spearman"]]}
    assert r["analogy"]["all"]["mean"] == r["analogy"]["accuracy"]


def test_nearest_neighbours_and_unknown_protocol():
    kv = angle_vectors(["a", "b", "c"], [0.0, 0.1, 3.0])
    assert [w for w, _ in nearest_neighbours(kv, "a", 2)] == ["b", "c"]
    with pytest.raises(UserError, match="did you mean 'simlex999'"):
        word_protocols(kv, ("simlex99",))
    with pytest.raises(UserError, match="not found"):
        benchmark_path("wordsim353", "/nonexistent/file.tsv")


# ------------------------------------------------------------------ corpora (data/text.py)
def test_text_corpus_lowercases_splits_and_reiterates(tmp_path):
    from selfsup.data.text import load_text_corpus

    f = tmp_path / "c.txt"
    f.write_text("The Cat sat.\n\n  on the MAT  \n")
    c = load_text_corpus(f"text:{f}")
    assert list(c) == [["the", "cat", "sat."], ["on", "the", "mat"]]
    assert list(c) == list(c)  # re-iterable
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.txt").write_text("x y\n")
    (d / "b.txt").write_text("z\n")
    assert list(load_text_corpus(f"text:{d}")) == [["x", "y"], ["z"]]
    with pytest.raises(UserError, match="not found"):
        load_text_corpus(f"text:{tmp_path / 'missing.txt'}")
    with pytest.raises(UserError, match="did you mean 'kjv'"):
        load_text_corpus("kvj")


def test_lee_corpus_from_gensim_test_data():
    pytest.importorskip("gensim")
    from selfsup.data.text import load_text_corpus

    docs = list(load_text_corpus("lee"))
    assert len(docs) == 300 and sum(map(len, docs)) > 50_000
    assert all(t == t.lower() for t in docs[0])


def test_kjv_verses_without_references():
    import shutil

    if not shutil.which("bible"):
        pytest.skip(NEED_KJV)
    from selfsup.data.text import load_text_corpus

    verses = list(load_text_corpus("kjv"))
    assert len(verses) == 31102  # every verse of the KJV, one a line
    assert verses[0] == ["in", "the", "beginning", "god", "created", "the", "heaven", "and", "the", "earth"]
    assert not any(ch.isdigit() for v in verses[:200] for w in v for ch in w)  # "Ge1:1" references dropped


def test_wiki_dump_streams_articles():
    pytest.importorskip("gensim")
    from gensim.test.utils import datapath

    from selfsup.data.text import load_text_corpus

    c = load_text_corpus(f"wiki:{datapath('enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2')}")
    first = next(iter(c))
    assert len(first) > 50 and all(t == t.lower() for t in first[:50])
    with pytest.raises(UserError, match="not found"):
        load_text_corpus("wiki:/nonexistent/dump.xml.bz2")
