"""word2vec engine: vocabulary, sampling tables, Huffman tree, training on planted structure,
determinism, the word2vec file formats (and gensim interop), random walks / DeepWalk."""

import math

import numpy as np
import pytest

pytest.importorskip("numba")

from selfsup.errors import UserError
from selfsup.word2vec import (
    KeyedVectors,
    Word2Vec,
    build_vocab,
    engine,
    huffman_tree,
    keep_probabilities,
    negative_cum_table,
)
from selfsup.word2vec.vocab import encode_corpus
from selfsup.word2vec.walks import node_embeddings, random_walks, to_csr


# ------------------------------------------------------------------ vocabulary and tables
def test_vocab_counts_min_count_and_order():
    sents = [["b", "a", "c", "a"], ["a", "b", "d"], ["c", "b", "e"]]
    v = build_vocab(sents, min_count=2)
    assert v.words == ["b", "a", "c"]  # b:3, a:3 (ties: first seen first), c:2; d, e dropped
    assert v.counts.tolist() == [3, 3, 2]
    assert v.raw_tokens == 10
    assert build_vocab(sents, min_count=1, max_vocab_size=2).words == ["b", "a"]
    ids, offsets, raw = encode_corpus(sents, v)
    assert ids.tolist() == [0, 1, 2, 1, 1, 0, 2, 0] and offsets.tolist() == [0, 4, 6, 8] and raw == 10


def test_keep_probabilities_hand_computed():
    # T = 110 tokens, sample 0.01 -> threshold t = 1.1; p = (sqrt(c / t) + 1) * t / c
    p = keep_probabilities(np.array([100, 10]), 0.01)
    assert p[0] == pytest.approx((math.sqrt(100 / 1.1) + 1) * 1.1 / 100)  # 0.11588
    assert p[1] == pytest.approx((math.sqrt(10 / 1.1) + 1) * 1.1 / 10)  # 0.44166
    assert p[0] == pytest.approx(0.115881, abs=1e-6)
    assert keep_probabilities(np.array([100, 10]), 0.0).tolist() == [1.0, 1.0]
    assert keep_probabilities(np.array([1, 1]), 0.5).tolist() == [1.0, 1.0]  # rare words are always kept


def test_engine_subsampling_rate_matches_keep_probabilities():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(20)]
    probs = 1.0 / np.arange(1, 21)
    probs /= probs.sum()
    sents = [list(rng.choice(words, size=50, p=probs)) for _ in range(400)]
    m = Word2Vec(None, vector_size=8, min_count=1, sample=1e-2, epochs=2, workers=1, seed=3)
    m.build_vocab(sents)
    st = m.train(sents)
    expected = float((m.vocab.counts * m.keep).sum()) * 2
    assert expected < 0.8 * st.raw_words  # subsampling is active
    assert st.effective_words == pytest.approx(expected, rel=0.03)


def test_negative_table_follows_unigram_power():
    counts = np.array([1000, 300, 100, 10, 1])
    table = negative_cum_table(counts)
    expected = counts**0.75 / (counts**0.75).sum()
    # the engine's own draw: LCG stream + binary search in the table
    r = np.uint64(12345)
    draws = np.zeros(len(counts))
    n = 200_000
    for _ in range(n):
        r = engine._next(r)
        draws[engine._draw_negative(r, table)] += 1
    np.testing.assert_allclose(draws / n, expected, atol=0.005)
    # and the table itself, with uniform targets
    u = np.random.default_rng(0).integers(0, table[-1], size=n)
    freq = np.bincount(np.searchsorted(table, u, side="right"), minlength=len(counts)) / n
    np.testing.assert_allclose(freq, expected, atol=0.005)


def test_huffman_tree_is_a_prefix_code_with_short_codes_for_frequent_words():
    counts = np.array([50, 20, 15, 10, 5])
    codes, points, lengths = huffman_tree(counts)
    assert sum(2.0 ** -ln for ln in lengths) == pytest.approx(1.0)  # a complete binary tree (Kraft equality)
    bits = ["".join(str(b) for b in codes[i, : lengths[i]]) for i in range(len(counts))]
    assert len(set(bits)) == len(bits)
    assert not any(a != b and b.startswith(a) for a in bits for b in bits)  # prefix-free
    assert lengths[0] == min(lengths) and lengths[-1] == max(lengths)
    assert points.max() <= len(counts) - 2 and all(points[i, 0] == points[0, 0] for i in range(len(counts)))  # root
    # optimal: average code length within 1 bit of the entropy
    p = counts / counts.sum()
    assert (p * lengths).sum() < -(p * np.log2(p)).sum() + 1


# ------------------------------------------------------------------ training
GROUPS = [[f"g{g}w{i}" for i in range(6)] for g in range(4)]


def planted_corpus(n: int = 600, seed: int = 0) -> list[list[str]]:
    """Sentences of 12 words drawn from one group each: groups co-occur, groups never mix."""
    rng = np.random.default_rng(seed)
    return [list(rng.choice(GROUPS[rng.integers(4)], size=12)) for _ in range(n)]


def group_purity(kv: KeyedVectors) -> float:
    hits = 0
    for g in GROUPS:
        for w in g:
            nn = [v for v, _ in kv.most_similar(w, topn=5)]
            hits += sum(v in g for v in nn)
    return hits / (5 * sum(len(g) for g in GROUPS))


@pytest.mark.parametrize("kw", [dict(sg=1), dict(sg=0, cbow_mean=1), dict(sg=0, cbow_mean=0, alpha=0.01),
                                dict(sg=1, hs=1, negative=0), dict(sg=0, hs=1, negative=0)],
                         ids=["sg-ns", "cbow-mean-ns", "cbow-sum-ns", "sg-hs", "cbow-hs"])
def test_planted_groups_are_recovered_as_nearest_neighbours(kw):
    sents = planted_corpus()
    m = Word2Vec(sents, vector_size=16, window=4, min_count=1, sample=0, epochs=5, workers=1, seed=1, **kw)
    assert group_purity(m.wv) >= 0.95
    rnd = KeyedVectors(m.vocab.words, np.random.default_rng(0).normal(size=m.syn0.shape))
    assert group_purity(rnd) < 0.5  # the check can fail


def test_one_worker_is_deterministic_and_seeded():
    sents = planted_corpus(200)
    kw = dict(vector_size=8, min_count=1, epochs=2, workers=1, sg=1)
    a = Word2Vec(sents, seed=5, **kw).syn0
    b = Word2Vec(sents, seed=5, **kw).syn0
    c = Word2Vec(sents, seed=6, **kw).syn0
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_input_vectors_start_uniform_in_gensims_range():
    # gensim 4 draws the input vectors uniformly in [-1/D, 1/D); half that range (word2vec.c's) trained a measurably
    # weaker CBOW (BENCHMARKS.md, "word2vec"). The output vectors start at zero.
    d = 50
    m = Word2Vec(None, vector_size=d, min_count=1, seed=3)
    m.build_vocab([[f"w{i}" for i in range(400)]])
    v = m.syn0 * d
    assert v.dtype == np.float32 and v.shape == (400, d)
    assert -1.0 <= v.min() < -0.98 and 0.98 < v.max() < 1.0
    assert abs(float(v.mean())) < 0.02 and abs(float(v.std()) - 1 / math.sqrt(3)) < 0.01
    assert not m.syn1neg.any()


def test_two_workers_train_and_count_all_words():
    sents = planted_corpus(300)
    m = Word2Vec(sents, vector_size=16, window=4, min_count=1, sample=0, epochs=4, workers=2, seed=1, sg=1)
    assert m.stats.effective_words == 300 * 12 * 4  # no subsampling: every token trained once per epoch
    assert group_purity(m.wv) >= 0.9


def test_job_bounds_cut_consecutive_sentences_at_the_job_size():
    offsets = np.cumsum([0, 4000, 4000, 3000, 12000, 10, 10])
    b = engine.job_bounds(offsets, job_words=10000)
    assert b.tolist() == [0, 2, 3, 4, 6]  # 8000 | 3000 | a 12000-token sentence alone | 20
    assert engine.job_bounds(np.zeros(1, np.int64)).tolist() == [0]


def test_threads_take_jobs_in_corpus_order_from_one_queue(monkeypatch):
    # A static split (worker t: sentences t, t + workers, ...) lost CBOW quality with 2 workers;
    # the threads must take consecutive jobs from one queue, as gensim's job producer gives them.
    offsets = np.cumsum([0] + [700] * 100).astype(np.int64)  # 100 sentences, 7 jobs of 14 (+1 of 2)
    seen = []

    def fake_job(ids, offs, first, last, *rest):
        seen.append((int(first), int(last)))
        return int(offs[last] - offs[first]), rest[-2]

    monkeypatch.setattr(engine, "_train_job", fake_job)
    kw = dict(sg=0, cbow_mean=1, window=2, negative=1, hs=0, alpha=0.025, min_alpha=1e-4, epoch=0, epochs=1, seed=1)
    z = np.zeros((1, 1), np.float32)
    n = engine.train_epoch(np.zeros(70000, np.int32), offsets, z, z, z, None, None, None, None, None, workers=2, **kw)
    assert n == 70000
    assert sorted(seen) == [(i, min(i + 14, 100)) for i in range(0, 100, 14)]  # each job once, none interleaved


def test_bad_hyperparameters_are_user_errors():
    with pytest.raises(UserError, match="no training objective"):
        Word2Vec(None, negative=0, hs=0)
    with pytest.raises(UserError, match="window"):
        Word2Vec(None, window=0)
    with pytest.raises(UserError, match="empty vocabulary"):
        Word2Vec([["a", "b"]], min_count=5)


# ------------------------------------------------------------------ formats and gensim interop
@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_round_trip_and_gensim_loads_it(tmp_path, binary):
    rng = np.random.default_rng(0)
    words = ["the", "über", "a-b", "x1"]
    vec = rng.normal(size=(4, 7)).astype(np.float32)
    path = tmp_path / ("v.bin" if binary else "v.txt")
    KeyedVectors(words, vec).save_word2vec_format(path, binary=binary)
    back = KeyedVectors.load_word2vec_format(path)  # format guessed
    assert back.words == words
    np.testing.assert_array_equal(back.vectors, vec) if binary else np.testing.assert_allclose(back.vectors, vec)
    gensim = pytest.importorskip("gensim")
    g = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert list(g.index_to_key) == words
    np.testing.assert_allclose(g.vectors, vec, rtol=1e-6)
    # and we read what gensim writes
    out = tmp_path / ("g.bin" if binary else "g.txt")
    g.save_word2vec_format(str(out), binary=binary)
    again = KeyedVectors.load_word2vec_format(out, binary=binary)
    assert again.words == words
    np.testing.assert_allclose(again.vectors, vec, rtol=1e-6)


def test_bad_vector_files_are_user_errors(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("hello world\n")
    with pytest.raises(UserError, match="word2vec format"):
        KeyedVectors.load_word2vec_format(p)
    p.write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(UserError, match="truncated"):
        KeyedVectors.load_word2vec_format(p)
    with pytest.raises(UserError, match="not found"):
        KeyedVectors.load_word2vec_format(tmp_path / "missing.txt")


def test_most_similar_and_vectors_for():
    kv = KeyedVectors(["a", "b", "c"], np.array([[1, 0], [0.9, 0.1], [-1, 0]], dtype=np.float32))
    assert [w for w, _ in kv.most_similar("a", topn=2)] == ["b", "c"]
    assert kv.similarity("a", "c") == pytest.approx(-1.0)
    vecs, oov = kv.vectors_for(["c", "zz"])
    assert oov == ["zz"] and vecs[1].tolist() == [0, 0] and vecs[0].tolist() == [-1, 0]
    with pytest.raises(UserError, match="not in the vocabulary"):
        kv.most_similar("zz")


# ------------------------------------------------------------------ random walks / DeepWalk
def two_communities(n: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two dense random communities of n nodes joined by one edge; labels = community."""
    rng = np.random.default_rng(seed)
    edges = []
    for base in (0, n):
        for i in range(n):
            for j in range(i + 1, n):
                if rng.random() < 0.4:
                    edges.append((base + i, base + j))
    edges.append((0, n))
    return np.array(edges), np.repeat([0, 1], n)


def test_walks_follow_edges_and_node2vec_p_controls_backtracking():
    edges, _ = two_communities()
    indptr, indices = to_csr(edges)
    assert indptr[-1] == 2 * len(edges)
    adj = {tuple(e) for e in edges} | {(b, a) for a, b in edges}
    walks, lengths = random_walks(indptr, indices, num_walks=3, walk_length=12, seed=0)
    assert walks.shape == (3 * 40, 12) and (lengths == 12).all()
    assert sorted(walks[:40, 0].tolist()) == list(range(40))  # every node starts a walk each round
    assert all((int(a), int(b)) in adj for w in walks for a, b in zip(w[:-1], w[1:]))

    def backtrack(p, q):
        w, _ = random_walks(indptr, indices, num_walks=5, walk_length=20, p=p, q=q, seed=1)
        return float((w[:, 2:] == w[:, :-2]).mean())

    assert backtrack(0.1, 1.0) > 2 * backtrack(10.0, 1.0)


def test_to_csr_accepts_networkx_and_edge_index():
    nx = pytest.importorskip("networkx")
    g = nx.path_graph(4)
    ip, ix = to_csr(g)
    assert ip.tolist() == [0, 1, 3, 5, 6] and ix.tolist() == [1, 0, 2, 1, 3, 2]

    class G:
        edge_index = np.array([[0, 1, 2], [1, 2, 3]])
        x = np.zeros((5, 1))  # node 4 is isolated

    ip2, _ = to_csr(G())
    assert len(ip2) == 6 and ip2[-1] == ip2[-2]
    with pytest.raises(UserError):
        to_csr(np.array([[0, 1, 2]]))


def test_deepwalk_separates_planted_communities():
    edges, y = two_communities()
    z, model = node_embeddings(edges, num_walks=10, walk_length=20, vector_size=16, window=5, negative=5,
                               epochs=2, workers=1, seed=0)
    assert z.shape == (40, 16)
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    nn = sims.argmax(1)
    assert (y[nn] == y).mean() >= 0.95


# ------------------------------------------------------------------ the torch form of the loss
def test_sgns_loss_closed_form_and_engine_update_rule():
    import torch

    from selfsup.functional.sgns import sgns_loss

    v = torch.zeros(3, 4)
    u = torch.randn(3, 4)
    n = torch.randn(3, 2, 4)
    assert float(sgns_loss(v, u, n)) == pytest.approx(3 * math.log(2), rel=1e-6)  # all scores 0: 3 x log 2
    g = torch.Generator().manual_seed(0)
    v, u, n = (torch.randn(*s, generator=g, requires_grad=True) for s in ((5, 4), (5, 4), (5, 3, 4)))
    loss = sgns_loss(v, u, n, reduction="sum")
    ref = sum(-torch.log(torch.sigmoid(u[b] @ v[b])) - sum(torch.log(torch.sigmoid(-(n[b, k] @ v[b])))
                                                           for k in range(3)) for b in range(5))
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    loss.backward()
    # word2vec's update: u += alpha * (label - sigmoid(u.v)) v, i.e. minus the gradient
    expected = -(1 - torch.sigmoid((u * v).sum(-1, keepdim=True))) * v
    torch.testing.assert_close(u.grad, expected.detach())


def _sig(f):
    return float(engine.SIGMOID_TABLE[int((f + engine.MAX_EXP) * (engine.EXP_TABLE_SIZE / engine.MAX_EXP / 2))])


@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)], ids=["skip-gram", "cbow-mean", "cbow-sum"])
def test_one_pass_equals_a_reference_loop_written_from_the_equations(sg, cbow_mean):
    """window=1, hierarchical softmax, no subsampling: no randomness, so the engine must match exactly."""
    sent = ["a", "b", "c", "a", "d", "b", "a"]
    m = Word2Vec(None, vector_size=6, window=1, min_count=1, sample=0, hs=1, negative=0, sg=sg,
                 cbow_mean=cbow_mean, alpha=0.5, epochs=1, workers=1, seed=0)
    m.build_vocab([sent])
    m.syn1[:] = np.random.default_rng(1).normal(size=m.syn1.shape) * 0.3  # non-zero outputs: errors reach syn0
    syn0, syn1 = m.syn0.astype(np.float64), m.syn1.astype(np.float64)
    ids = [m.vocab.index[w] for w in sent]
    alpha = 0.5  # one sentence: the learning rate decays only after it

    def hs(h, target, work):
        for j in range(m.lengths[target]):
            node, code = m.points[target, j], m.codes[target, j]
            f = float(h @ syn1[node])
            if abs(f) >= engine.MAX_EXP:
                continue
            g = (1 - code - _sig(f)) * alpha
            work += g * syn1[node]
            syn1[node] += g * h

    for pos, centre in enumerate(ids):
        ctx = [ids[c] for c in (pos - 1, pos + 1) if 0 <= c < len(ids)]
        if sg:
            for c in ctx:
                work = np.zeros(6)
                hs(syn0[c], centre, work)
                syn0[c] += work
        else:
            h = syn0[ctx].sum(0) / (len(ctx) if cbow_mean else 1)
            work = np.zeros(6)
            hs(h, centre, work)
            if not cbow_mean:
                work /= len(ctx)
            for c in ctx:
                syn0[c] += work
    m.train([sent])
    np.testing.assert_allclose(m.syn0, syn0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.syn1, syn1, rtol=1e-4, atol=1e-5)
