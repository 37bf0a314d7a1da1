"""The word2vec engine: vocabulary and sampling tables, a numba-compiled Hogwild training loop,
the model (gensim's hyperparameter names), word vectors with the word2vec file formats, and
random walks over graphs (DeepWalk / node2vec) for the same engine.

This package depends only on numpy/numba and :mod:`selfsup.errors`.
"""

from selfsup.word2vec.keyed import KeyedVectors
from selfsup.word2vec.model import TrainStats, Word2Vec, check_params
from selfsup.word2vec.vocab import (
           Vocab,
           build_vocab,
           huffman_tree,
           keep_probabilities,
           negative_cum_table,
)

__all__ = ["KeyedVectors", "TrainStats", "Vocab", "Word2Vec", "build_vocab", "check_params", "huffman_tree",
           "keep_probabilities", "negative_cum_table"]
