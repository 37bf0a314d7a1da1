"""word2vec (Mikolov et al., 2013) and DeepWalk / node2vec: the context pretext task.

The label of a word is its neighbourhood: skip-gram predicts each context word from the
centre word, CBOW predicts the centre word from the (mean or sum of the) context; the softmax
is replaced by negative sampling (the true pair against ``negative`` words drawn from the
unigram^0.75 distribution) and/or hierarchical softmax (a walk down the Huffman tree).
DeepWalk / node2vec make "sentences" of random walks over a graph and train the same model on
node ids.

Unlike the torch methods, training is not a gradient step on a batch: it is word2vec's sparse
SGD over the corpus in a numba-compiled Hogwild loop (:mod:`selfsup.word2vec.engine`) -- the
engine was chosen by measurement (BENCHMARKS.md, "word2vec"). ``build`` therefore returns a
:class:`selfsup.word2vec.Word2Vec`, not an ``nn.Module``. Hyperparameters carry gensim's names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from selfsup.config import Checked, bounded
from selfsup.methods.base import MethodSpec, register_method
from selfsup.word2vec import Word2Vec, check_params


@dataclass
class Word2VecConfig(Checked):
    """word2vec hyperparameters, with gensim's names and defaults.

    Attributes:
        vector_size: dimension of the word vectors.
        window: maximum distance between centre and context word (shrunk at random per word).
        min_count: words rarer than this are dropped.
        max_vocab_size: keep at most this many of the most frequent words (None: no limit).
        sample: frequent-word subsampling threshold (0 disables).
        negative: negative samples per positive (0: no negative sampling).
        hs: 1 = hierarchical softmax.
        sg: 1 = skip-gram, 0 = CBOW.
        cbow_mean: CBOW hidden layer: 1 = mean of the context vectors, 0 = their sum.
        alpha: initial learning rate, decayed linearly to ``min_alpha``.
        min_alpha: final learning rate.
        epochs: passes over the corpus.
        workers: training threads.
        seed: seed of the initial vectors and of the sampling streams.
    """

    vector_size: int = 100
    window: int = 5
    min_count: int = 5
    max_vocab_size: int | None = bounded(None, ge=1)
    sample: float = 1e-3
    negative: int = 5
    hs: int = 0
    sg: int = 0
    cbow_mean: int = 1
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    workers: int = 3
    seed: int = 1

    def validate(self) -> None:
        super().validate()
        kw = self.model_kwargs()
        check_params(**{k: v for k, v in kw.items() if k not in ("max_vocab_size", "seed")})

    def model_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`Word2Vec`."""
        return {f.name: getattr(self, f.name) for f in fields(Word2VecConfig)}


@dataclass
class DeepWalkConfig(Word2VecConfig):
    """DeepWalk / node2vec: random walks + skip-gram (defaults after Perozzi et al. and Grover & Leskovec).

    Attributes:
        num_walks: walks started from every node.
        walk_length: nodes per walk.
        p: node2vec return parameter (1 with q=1: DeepWalk's uniform walks).
        q: node2vec in-out parameter (< 1 explores outward, > 1 stays local).
    """

    vector_size: int = 128
    window: int = 10
    min_count: int = 1
    sample: float = 0.0
    sg: int = 1
    epochs: int = 1
    workers: int = 2
    num_walks: int = bounded(10, ge=1)
    walk_length: int = bounded(80, ge=2)
    p: float = bounded(1.0, gt=0)
    q: float = bounded(1.0, gt=0)


def build_word2vec(cfg: Word2VecConfig, encoder: Any = None, info: Any = None, *, aug: Any = None,
                   seed: int | None = None) -> Word2Vec:
    """An untrained :class:`Word2Vec` (call ``build_vocab`` and ``train``); ``encoder``, ``info`` and ``aug``
    are unused; ``seed`` None keeps ``cfg.seed`` (a gensim hyperparameter with gensim's default, 1)."""
    cfg.validate()
    kw = cfg.model_kwargs()
    if seed is not None:
        kw["seed"] = seed
    return Word2Vec(None, **kw)


register_method(MethodSpec(
    name="word2vec", family="context", modality="words", regime="word2vec", config_cls=Word2VecConfig, build=build_word2vec,
    description="word2vec skip-gram (sg=1) / CBOW (sg=0), negative sampling or hierarchical softmax",
    presets={"skipgram": {"sg": 1}, "cbow": {"sg": 0}, "cbow-sum": {"sg": 0, "cbow_mean": 0},
             "skipgram-hs": {"sg": 1, "hs": 1, "negative": 0}},
))
register_method(MethodSpec(
    name="deepwalk", family="context", modality="graph", regime="walks", config_cls=DeepWalkConfig, build=build_word2vec,
    description="DeepWalk / node2vec (set p, q): skip-gram over random walks on a graph",
    presets={"node2vec": {"p": 1.0, "q": 0.5}},
))
