"""A word2vec model with gensim's hyperparameter names, trained by :mod:`selfsup.word2vec.engine`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from selfsup.word2vec import engine
from selfsup.word2vec.vocab import Vocab, build_vocab, encode_corpus, huffman_tree, keep_probabilities, negative_cum_table


@dataclass
class TrainStats:
    vocab_seconds: float = 0.0
    encode_seconds: float = 0.0
    train_seconds: float = 0.0
    raw_words: int = 0  # raw tokens per epoch x epochs
    effective_words: int = 0  # tokens trained on after OOV removal and subsampling
    per_epoch_seconds: list[float] = field(default_factory=list)

    @property
    def words_per_second(self) -> float:
        return self.raw_words / max(self.train_seconds, 1e-9)


class KeyedVectors:
    """Word vectors with lookup, cosine similarity and nearest neighbours."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray) -> None:
        self.words = list(words)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.index = {w: i for i, w in enumerate(self.words)}
        self._unit: np.ndarray | None = None

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def __len__(self) -> int:
        return len(self.words)

    @property
    def unit(self) -> np.ndarray:
        if self._unit is None:
            norm = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norm, 1e-12)
        return self._unit

    def similarity(self, a: str, b: str) -> float:
        return float(self.unit[self.index[a]] @ self.unit[self.index[b]])

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        from selfsup.errors import UserError

        if word not in self.index:
            raise UserError(f"'{word}' is not in the vocabulary ({len(self)} words)")
        sims = self.unit @ self.unit[self.index[word]]
        sims[self.index[word]] = -np.inf
        top = np.argsort(-sims)[:topn]
        return [(self.words[i], float(sims[i])) for i in top]


class Word2Vec:
    """Skip-gram / CBOW with negative sampling or hierarchical softmax (gensim's parameter names).

    ``Word2Vec(sentences, ...)`` builds the vocabulary and trains at once, as gensim does; pass
    ``sentences=None`` and call :meth:`build_vocab` and :meth:`train` to time them separately.
    """

    def __init__(self, sentences: Iterable[list[str]] | None = None, *, vector_size: int = 100, window: int = 5,
                 min_count: int = 5, max_vocab_size: int | None = None, sample: float = 1e-3, negative: int = 5,
                 hs: int = 0, sg: int = 0, cbow_mean: int = 1, alpha: float = 0.025, min_alpha: float = 0.0001,
                 epochs: int = 5, workers: int = 3, seed: int = 1) -> None:
        self.vector_size, self.window, self.min_count = vector_size, window, min_count
        self.max_vocab_size, self.sample, self.negative, self.hs = max_vocab_size, sample, negative, hs
        self.sg, self.cbow_mean, self.alpha, self.min_alpha = sg, cbow_mean, alpha, min_alpha
        self.epochs, self.workers, self.seed = epochs, workers, seed
        if negative <= 0 and not hs:
            from selfsup.errors import UserError

            raise UserError("no training objective: set negative > 0 or hs=1")
        self.stats = TrainStats()
        self.vocab: Vocab | None = None
        if sentences is not None:
            sentences = sentences if isinstance(sentences, list) else list(sentences)
            self.build_vocab(sentences)
            self.train(sentences)

    def build_vocab(self, sentences: Iterable[list[str]]) -> Vocab:
        t0 = time.perf_counter()
        self.vocab = build_vocab(sentences, self.min_count, self.max_vocab_size)
        v, d = len(self.vocab), self.vector_size
        if v == 0:
            from selfsup.errors import UserError

            raise UserError(f"empty vocabulary: no word occurs min_count={self.min_count} times",
                            hint="lower min_count or pass a larger corpus")
        rng = np.random.default_rng(self.seed)
        self.syn0 = ((rng.random((v, d), dtype=np.float32) - 0.5) / d).astype(np.float32)
        self.syn1neg = np.zeros((v, d) if self.negative > 0 else (1, d), dtype=np.float32)
        self.syn1 = np.zeros((max(v - 1, 1), d) if self.hs else (1, d), dtype=np.float32)
        self.keep = keep_probabilities(self.vocab.counts, self.sample)
        self.cum_table = negative_cum_table(self.vocab.counts)
        if self.hs:
            self.codes, self.points, self.lengths = huffman_tree(self.vocab.counts)
        else:
            self.codes = np.zeros((1, 1), np.uint8)
            self.points = np.zeros((1, 1), np.int32)
            self.lengths = np.zeros(1, np.int32)
        self.stats.vocab_seconds = time.perf_counter() - t0
        return self.vocab

    def encode(self, sentences: Iterable[list[str]]) -> tuple[np.ndarray, np.ndarray, int]:
        assert self.vocab is not None, "call build_vocab first"
        t0 = time.perf_counter()
        out = encode_corpus(sentences, self.vocab)
        self.stats.encode_seconds = time.perf_counter() - t0
        return out

    def train(self, sentences: Iterable[list[str]] | None = None, *, encoded: tuple | None = None,
              callback=None) -> TrainStats:
        """Train for ``epochs`` passes. ``encoded`` (from :meth:`encode`) skips re-encoding."""
        ids, offsets, raw = encoded if encoded is not None else self.encode(sentences)
        t0 = time.perf_counter()
        eff = 0
        for epoch in range(self.epochs):
            te = time.perf_counter()
            eff += engine.train_epoch(ids, offsets, self.syn0, self.syn1neg, self.syn1, self.keep, self.cum_table,
                                      self.codes, self.points, self.lengths, sg=int(self.sg),
                                      cbow_mean=int(self.cbow_mean), window=int(self.window),
                                      negative=int(self.negative), hs=int(self.hs), alpha=float(self.alpha),
                                      min_alpha=float(self.min_alpha), epoch=epoch, epochs=self.epochs,
                                      workers=self.workers, seed=self.seed)
            self.stats.per_epoch_seconds.append(time.perf_counter() - te)
            if callback is not None:
                callback(epoch)
        self.stats.train_seconds = time.perf_counter() - t0
        self.stats.raw_words = raw * self.epochs
        self.stats.effective_words = eff
        return self.stats

    @property
    def wv(self) -> KeyedVectors:
        assert self.vocab is not None
        return KeyedVectors(self.vocab.words, self.syn0)


def warmup() -> None:
    """Compile the numba kernels on a tiny corpus (so timings exclude JIT compilation)."""
    sents = [["a", "b", "c", "d", "a", "b"]] * 20
    for sg in (0, 1):
        for hs, neg in ((0, 2), (1, 0)):
            Word2Vec(sents, vector_size=8, min_count=1, sg=sg, hs=hs, negative=neg, epochs=1, workers=1)
            Word2Vec(sents, vector_size=8, min_count=1, sg=sg, hs=hs, negative=neg, epochs=1, workers=2)
