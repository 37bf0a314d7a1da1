"""word2vec engine: vocabulary, numba hot loop, model, word2vec-format I/O."""

from selfsup.word2vec.model import KeyedVectors, TrainStats, Word2Vec
from selfsup.word2vec.vocab import Vocab, build_vocab, keep_probabilities, negative_cum_table

__all__ = ["KeyedVectors", "TrainStats", "Vocab", "Word2Vec", "build_vocab", "keep_probabilities",
           "negative_cum_table"]
