"""A word2vec model with gensim's hyperparameter names, trained by :mod:`selfsup.word2vec.engine`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from selfsup.errors import UserError
from selfsup.word2vec import engine
from selfsup.word2vec.keyed import KeyedVectors
from selfsup.word2vec.vocab import (
    Vocab,
    build_vocab,
    encode_corpus,
    huffman_tree,
    keep_probabilities,
    negative_cum_table,
)


@dataclass
class TrainStats:
    """Timings and token counts of the last :meth:`Word2Vec.train` call."""

    vocab_seconds: float = 0.0
    encode_seconds: float = 0.0
    train_seconds: float = 0.0
    raw_words: int = 0  # raw tokens per epoch x epochs (the words/s numerator, as gensim's)
    effective_words: int = 0  # tokens trained on after OOV removal and subsampling
    per_epoch_seconds: list[float] = field(default_factory=list)

    @property
    def words_per_second(self) -> float:
        return self.raw_words / max(self.train_seconds, 1e-9)


def check_params(*, vector_size: int, window: int, min_count: int, sample: float, negative: int, hs: int, sg: int,
                 cbow_mean: int, alpha: float, min_alpha: float, epochs: int, workers: int) -> None:
    """Raise a :class:`UserError` naming the first bad hyperparameter."""
    checks = [
        (vector_size >= 1, f"vector_size must be at least 1 (got {vector_size})"),
        (window >= 1, f"window must be at least 1 (got {window})"),
        (min_count >= 1, f"min_count must be at least 1 (got {min_count})"),
        (sample >= 0, f"sample must be >= 0 (0 disables subsampling; got {sample})"),
        (negative >= 0, f"negative must be >= 0 (got {negative})"),
        (hs in (0, 1), f"hs must be 0 or 1 (got {hs})"),
        (sg in (0, 1), f"sg must be 0 (CBOW) or 1 (skip-gram) (got {sg})"),
        (cbow_mean in (0, 1), f"cbow_mean must be 0 (sum) or 1 (mean) (got {cbow_mean})"),
        (alpha > 0, f"alpha must be > 0 (got {alpha})"),
        (0 <= min_alpha <= alpha, f"min_alpha must be in [0, alpha] (got {min_alpha}, alpha {alpha})"),
        (epochs >= 1, f"epochs must be at least 1 (got {epochs})"),
        (workers >= 1, f"workers must be at least 1 (got {workers})"),
        (negative > 0 or hs == 1, "no training objective: set negative > 0 or hs=1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UserError(msg)


class Word2Vec:
    """Skip-gram / CBOW with negative sampling and/or hierarchical softmax (gensim's parameter names).

    ``Word2Vec(sentences, ...)`` builds the vocabulary and trains at once, as gensim does; pass
    ``sentences=None`` and call :meth:`build_vocab` and :meth:`train` to time them separately.
    ``sentences`` is any re-iterable of token lists (a list, a :class:`selfsup.data.text.TextCorpus`).

    Training runs ``workers`` threads without locks (Hogwild, as word2vec.c and gensim); with
    ``workers=1`` the result depends only on ``seed``.
    """

    def __init__(self, sentences: Iterable[list[str]] | None = None, *, vector_size: int = 100, window: int = 5,
                 min_count: int = 5, max_vocab_size: int | None = None, sample: float = 1e-3, negative: int = 5,
                 hs: int = 0, sg: int = 0, cbow_mean: int = 1, alpha: float = 0.025, min_alpha: float = 0.0001,
                 epochs: int = 5, workers: int = 3, seed: int = 1) -> None:
        check_params(vector_size=vector_size, window=window, min_count=min_count, sample=sample, negative=negative,
                     hs=hs, sg=sg, cbow_mean=cbow_mean, alpha=alpha, min_alpha=min_alpha, epochs=epochs,
                     workers=workers)
        self.vector_size, self.window, self.min_count = vector_size, window, min_count
        self.max_vocab_size, self.sample, self.negative, self.hs = max_vocab_size, sample, negative, hs
        self.sg, self.cbow_mean, self.alpha, self.min_alpha = sg, cbow_mean, alpha, min_alpha
        self.epochs, self.workers, self.seed = epochs, workers, seed
        self.stats = TrainStats()
        self.vocab: Vocab | None = None
        if sentences is not None:
            if iter(sentences) is sentences:  # a one-shot iterator: keep it for the second pass
                sentences = list(sentences)
            self.build_vocab(sentences)
            self.train(sentences)

    def build_vocab(self, sentences: Iterable[list[str]]) -> Vocab:
        """Count words, then initialise the weights, the subsampling, negative and Huffman tables."""
        t0 = time.perf_counter()
        self.set_vocab(build_vocab(sentences, self.min_count, self.max_vocab_size))
        self.stats.vocab_seconds = time.perf_counter() - t0
        return self.vocab

    def set_vocab(self, vocab: Vocab) -> None:
        """Use a ready vocabulary (e.g. node ids counted over random walks) and initialise the weights."""
        self.vocab = vocab
        v, d = len(self.vocab), self.vector_size
        if v == 0:
            raise UserError(f"empty vocabulary: no word occurs min_count={self.min_count} times",
                            hint="lower min_count or pass a larger corpus")
        rng = np.random.default_rng(self.seed)
        # input vectors (V, D), uniform in [-1/D, 1/D) as gensim 4 draws them (word2vec.c: [-0.5/D, 0.5/D)). Measured
        # with CBOW on KJV, 6 seeds a side, one worker: WordSim353 0.276 with this range vs 0.259 with the narrower one
        # (gensim 0.295), SimLex-999 0.022 vs 0.034 (gensim 0.019) (BENCHMARKS.md, "word2vec").
        self.syn0 = ((rng.random((v, d), dtype=np.float32) * 2 - 1) / d).astype(np.float32)
        self.syn1neg = np.zeros((v, d) if self.negative > 0 else (1, d), dtype=np.float32)  # NS output (V, D)
        self.syn1 = np.zeros((max(v - 1, 1), d) if self.hs else (1, d), dtype=np.float32)  # HS inner nodes (V-1, D)
        self.keep = keep_probabilities(self.vocab.counts, self.sample)
        self.cum_table = negative_cum_table(self.vocab.counts)
        if self.hs:
            self.codes, self.points, self.lengths = huffman_tree(self.vocab.counts)
        else:
            self.codes = np.zeros((1, 1), np.uint8)
            self.points = np.zeros((1, 1), np.int32)
            self.lengths = np.zeros(1, np.int32)

    def encode(self, sentences: Iterable[list[str]]) -> tuple[np.ndarray, np.ndarray, int]:
        """The corpus as (ids, sentence offsets, raw token count); pass it to :meth:`train` as ``encoded``."""
        if self.vocab is None:
            raise UserError("call build_vocab before encode/train")
        t0 = time.perf_counter()
        out = encode_corpus(sentences, self.vocab)
        self.stats.encode_seconds = time.perf_counter() - t0
        return out

    def train(self, sentences: Iterable[list[str]] | None = None, *, encoded: tuple | None = None,
              callback: Callable[[int], None] | None = None) -> TrainStats:
        """Train for ``epochs`` passes with a linearly decaying learning rate.

        Args:
            sentences: the corpus (re-iterable token lists); or
            encoded: the output of :meth:`encode`, to skip re-encoding.
            callback: called with the epoch number after each epoch.
        """
        if encoded is None:
            if sentences is None:
                raise UserError("train needs sentences (or encoded=model.encode(sentences))")
            encoded = self.encode(sentences)
        ids, offsets, raw = encoded
        self.stats.per_epoch_seconds = []
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
        """The trained input vectors (shares memory with the model)."""
        if self.vocab is None:
            raise UserError("the model has no vocabulary yet; call build_vocab and train")
        return KeyedVectors(self.vocab.words, self.syn0)


def warmup() -> None:
    """Compile the numba kernels on a tiny corpus (so timings exclude JIT compilation)."""
    sents = [["a", "b", "c", "d", "a", "b"]] * 20
    for sg in (0, 1):
        for workers in (1, 2):
            Word2Vec(sents, vector_size=8, min_count=1, sg=sg, hs=1, negative=2, epochs=1, workers=workers)
