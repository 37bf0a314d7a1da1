"""Vocabulary, frequent-word subsampling, the negative-sampling table and the Huffman tree.

Formulas follow word2vec (Mikolov et al., 2013) as gensim implements them, so that users moving
over get the same behaviour:

* keep probability of word ``w`` with count ``c`` among ``T`` retained tokens and ``sample=s``:
  ``p = (sqrt(c / (s T)) + 1) * (s T) / c``, capped at 1 (``sample=0`` keeps everything);
* negatives are drawn from ``count ** 0.75`` (normalised), via a cumulative table.
"""

from __future__ import annotations

import heapq
from itertools import chain, repeat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

MAX_SENTENCE_LEN = 10000  # longer documents are cut into pieces of this many tokens (as gensim)


@dataclass
class Vocab:
    """Words sorted by descending count (ties: first seen first)."""

    words: list[str]
    counts: np.ndarray  # (V,) int64
    index: dict[str, int]
    raw_tokens: int  # all tokens seen, including words below min_count

    def __len__(self) -> int:
        return len(self.words)


def _with_lengths(sentences: Iterable[list[str]], lengths: list[int]) -> Iterator[list[str]]:
    """Yield the sentences, appending each one's length to ``lengths`` (one pass over any iterable)."""
    for sent in sentences:
        lengths.append(len(sent))
        yield sent


def build_vocab(sentences: Iterable[list[str]], min_count: int = 5, max_vocab_size: int | None = None) -> Vocab:
    """Count tokens; keep words with ``count >= min_count`` (then the ``max_vocab_size`` most frequent).

    One ``Counter`` over the chained sentences (counted in C, not one ``update`` call per sentence).
    """
    lengths: list[int] = []
    counter: Counter[str] = Counter(chain.from_iterable(_with_lengths(sentences, lengths)))
    raw = sum(lengths)
    # Counter preserves first-insertion order; sorted() is stable -> ties keep first-seen order.
    items = [(w, c) for w, c in counter.items() if c >= min_count]
    items.sort(key=lambda wc: -wc[1])
    if max_vocab_size is not None:
        items = items[:max_vocab_size]
    words = [w for w, _ in items]
    counts = np.array([c for _, c in items], dtype=np.int64)
    return Vocab(words=words, counts=counts, index={w: i for i, w in enumerate(words)}, raw_tokens=raw)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of each word under frequent-word subsampling."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    p = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
    return np.minimum(p, 1.0)


def negative_cum_table(counts: np.ndarray, power: float = 0.75, domain: int = 2**31 - 1) -> np.ndarray:
    """Cumulative table of ``count ** power``, scaled to ``domain``; draw with ``searchsorted(table, u)``."""
    w = np.asarray(counts, dtype=np.float64) ** power
    cum = np.cumsum(w) / w.sum()
    table = np.round(cum * domain).astype(np.int64)
    table[-1] = domain
    return table


def huffman_tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Huffman codes for hierarchical softmax.

    Returns:
        codes: (V, L) uint8 bits, points: (V, L) int32 inner-node ids, lengths: (V,) int32.
    """
    v = len(counts)
    heap = [(int(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent = np.zeros(2 * v, dtype=np.int64)
    bit = np.zeros(2 * v, dtype=np.uint8)
    nxt = v
    while len(heap) > 1:
        c1, a = heapq.heappop(heap)
        c2, b = heapq.heappop(heap)
        parent[a] = nxt
        parent[b] = nxt
        bit[b] = 1
        heapq.heappush(heap, (c1 + c2, nxt))
        nxt += 1
    root = nxt - 1
    paths = []
    for i in range(v):
        code, pts = [], []
        node = i
        while node != root:
            code.append(bit[node])
            node = parent[node]
            pts.append(node - v)  # inner node index in [0, V-1)
        paths.append((code[::-1], pts[::-1]))
    maxlen = max(1, max(len(c) for c, _ in paths))
    codes = np.zeros((v, maxlen), dtype=np.uint8)
    points = np.zeros((v, maxlen), dtype=np.int32)
    lengths = np.zeros(v, dtype=np.int32)
    for i, (c, p) in enumerate(paths):
        codes[i, : len(c)] = c
        points[i, : len(p)] = p
        lengths[i] = len(c)
    return codes, points, lengths


def encode_corpus(sentences: Iterable[list[str]], vocab: Vocab) -> tuple[np.ndarray, np.ndarray, int]:
    """Map sentences to one flat int32 array of in-vocabulary ids plus sentence offsets.

    Out-of-vocabulary tokens are dropped (as in gensim) but counted in ``raw_tokens``; sentences
    longer than :data:`MAX_SENTENCE_LEN` are split.

    Returns:
        ids (N,) int32, offsets (S+1,) int64, raw_tokens.
    """
    lengths: list[int] = []
    tokens = chain.from_iterable(_with_lengths(sentences, lengths))
    ids = np.fromiter(map(vocab.index.get, tokens, repeat(-1)), dtype=np.int64)  # -1: out of the vocabulary
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    known = ids >= 0
    sentence = np.repeat(np.arange(len(lengths_arr)), lengths_arr)[known]
    flat = ids[known].astype(np.int32)
    kept = np.bincount(sentence, minlength=len(lengths_arr))
    kept = kept[kept > 0]  # sentences left without a known word are dropped
    if len(kept) and kept.max() > MAX_SENTENCE_LEN:
        pieces: list[int] = []
        for n in kept.tolist():
            whole, rest = divmod(n, MAX_SENTENCE_LEN)
            pieces += [MAX_SENTENCE_LEN] * whole + ([rest] if rest else [])
        kept = np.asarray(pieces, dtype=np.int64)
    offsets = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum(kept, out=offsets[1:])
    return flat, offsets, int(lengths_arr.sum())
