"""Random walks over a graph, fed to the word2vec engine: DeepWalk and node2vec.

DeepWalk (Perozzi et al., 2014): from every node, ``num_walks`` uniform random walks of
``walk_length`` nodes; the walks are "sentences" of node ids and skip-gram learns node vectors
whose neighbourhoods on walks (the pretext label) predict each other.

node2vec (Grover & Leskovec, 2016): second-order walks biased by ``p`` (return) and ``q``
(in-out). Stepping from ``t`` to ``v``, the next node ``x`` among v's neighbours has weight
``1/p`` if ``x == t``, ``1`` if ``x`` is a neighbour of ``t``, ``1/q`` otherwise. We sample by
rejection (uniform proposal, accept with weight / max weight), which needs no per-edge alias
tables; ``p = q = 1`` is DeepWalk.

Graphs are read as CSR arrays (``indptr``, ``indices``, sorted neighbours, both directions).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from selfsup.errors import UserError
from selfsup.word2vec.model import Word2Vec
from selfsup.word2vec.vocab import Vocab


def to_csr(graph: Any, num_nodes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CSR adjacency (indptr (N+1,), indices (E,)) of an undirected graph, neighbours sorted.

    Args:
        graph: an object with ``edge_index`` (2, E) (selfsup ``GraphData``, PyG ``Data``), a
            networkx graph (nodes numbered in ``graph.nodes`` order), or an integer array of
            0-based node ids: an (E, 2) edge list (a (2, E) array when E != 2).
        num_nodes: number of nodes (default: from the graph, or the largest id + 1).
    """
    if hasattr(graph, "edge_index"):
        ei = np.asarray(graph.edge_index.cpu() if hasattr(graph.edge_index, "cpu") else graph.edge_index)
        if num_nodes is None:
            x = getattr(graph, "x", None)
            num_nodes = int(x.shape[0]) if x is not None else getattr(graph, "num_nodes", None)
    elif hasattr(graph, "nodes") and hasattr(graph, "edges"):  # networkx
        nodes = list(graph.nodes)
        index = {v: i for i, v in enumerate(nodes)}
        ei = np.array([(index[a], index[b]) for a, b in graph.edges], dtype=np.int64).reshape(-1, 2).T
        num_nodes = len(nodes) if num_nodes is None else num_nodes
    else:
        ei = np.asarray(graph)
        if ei.ndim != 2 or 2 not in ei.shape:
            raise UserError(f"an edge list must have shape (E, 2) or (2, E), got {ei.shape}")
        ei = ei.T if ei.shape[1] == 2 else ei  # rows are edges; a (2, E) array with E != 2 is edge_index
    ei = np.asarray(ei, dtype=np.int64)
    if ei.size and ei.min() < 0:
        raise UserError("node ids in an edge list must be >= 0")
    n = int(num_nodes) if num_nodes is not None else (int(ei.max()) + 1 if ei.size else 0)
    if ei.size and ei.max() >= n:
        raise UserError(f"edge references node {int(ei.max())} but the graph has {n} nodes")
    src = np.concatenate([ei[0], ei[1]])
    dst = np.concatenate([ei[1], ei[0]])
    keep = src != dst
    key = np.unique(src[keep] * max(n, 1) + dst[keep])  # sorted, duplicates removed
    src, dst = key // max(n, 1), key % max(n, 1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst.astype(np.int32)


@njit(inline="always")
def _rand(r):
    r = r * np.uint64(25214903917) + np.uint64(11)
    return r, np.float64(r >> np.uint64(11) & np.uint64((1 << 53) - 1)) / 9007199254740992.0


@njit(inline="always")
def _has_edge(indptr, indices, a, b):
    lo = indptr[a]
    hi = indptr[a + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < b:
            lo = mid + 1
        else:
            hi = mid
    return lo < indptr[a + 1] and indices[lo] == b


@njit(parallel=True, cache=True)
def _walks(indptr, indices, starts, walk_length, p, q, seeds):
    n_walks = starts.shape[0]
    out = np.empty((n_walks, walk_length), dtype=np.int32)
    lengths = np.empty(n_walks, dtype=np.int64)
    inv_p = 1.0 / p
    inv_q = 1.0 / q
    max_w = max(inv_p, 1.0, inv_q)
    biased = p != 1.0 or q != 1.0
    for w in prange(n_walks):
        r = np.uint64(seeds[w])
        cur = starts[w]
        out[w, 0] = cur
        k = 1
        while k < walk_length:
            deg = indptr[cur + 1] - indptr[cur]
            if deg == 0:
                break
            while True:
                r, u = _rand(r)
                nxt = indices[indptr[cur] + min(int(u * deg), deg - 1)]
                if not biased or k == 1:
                    break
                prev = out[w, k - 2]
                if nxt == prev:
                    wt = inv_p
                elif _has_edge(indptr, indices, prev, nxt):
                    wt = 1.0
                else:
                    wt = inv_q
                r, u = _rand(r)
                if u * max_w < wt:
                    break
            out[w, k] = nxt
            cur = nxt
            k += 1
        lengths[w] = k
    return out, lengths


def random_walks(indptr: np.ndarray, indices: np.ndarray, num_walks: int = 10, walk_length: int = 80,
                 p: float = 1.0, q: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``num_walks`` walks from every node (start order shuffled per round).

    Returns:
        walks (num_walks * N, walk_length) int32 (rows end early at nodes without neighbours:
        read ``lengths``), lengths (num_walks * N,) int64.
    """
    if num_walks < 1 or walk_length < 1:
        raise UserError(f"num_walks and walk_length must be at least 1 (got {num_walks}, {walk_length})")
    if p <= 0 or q <= 0:
        raise UserError(f"node2vec p and q must be > 0 (got p={p}, q={q})")
    n = len(indptr) - 1
    rng = np.random.default_rng(seed)
    starts = np.concatenate([rng.permutation(n) for _ in range(num_walks)]).astype(np.int64)
    seeds = rng.integers(1, 2**62, size=len(starts), dtype=np.int64).astype(np.uint64)
    return _walks(indptr, indices, starts, int(walk_length), float(p), float(q), seeds)


def node_embeddings(graph: Any, *, num_walks: int = 10, walk_length: int = 80, p: float = 1.0, q: float = 1.0,
                    num_nodes: int | None = None, **w2v: Any) -> tuple[np.ndarray, Word2Vec]:
    """DeepWalk / node2vec: walks over ``graph`` trained by :class:`Word2Vec` (``w2v``: its hyperparameters;
    defaults differ from word2vec's as in DeepWalk: ``sg=1``, ``min_count=1``, ``sample=0``).

    Returns:
        (N, vector_size) float32 node vectors (row i = node i) and the trained model.
    """
    indptr, indices = to_csr(graph, num_nodes)
    n = len(indptr) - 1
    if n == 0:
        raise UserError("the graph has no nodes")
    seed = int(w2v.get("seed", 1))
    walks, lengths = random_walks(indptr, indices, num_walks, walk_length, p, q, seed)
    mask = np.arange(walks.shape[1])[None, :] < lengths[:, None]
    ids = walks[mask]  # (T,) row-major: walk after walk
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    counts = np.bincount(ids, minlength=n)
    order = np.argsort(-counts, kind="stable")  # vocabulary sorted by count, as for words
    vocab = Vocab(words=[str(i) for i in order], counts=counts[order].astype(np.int64),
                  index={str(i): r for r, i in enumerate(order)}, raw_tokens=len(ids))
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n, dtype=np.int32)
    for key, value in (("min_count", 1), ("sample", 0.0), ("sg", 1)):  # DeepWalk: skip-gram, every node, no subsampling
        w2v.setdefault(key, value)
    model = Word2Vec(None, **w2v)
    model.set_vocab(vocab)
    model.train(encoded=(rank[ids], offsets, len(ids)))
    return model.syn0[rank].copy(), model
