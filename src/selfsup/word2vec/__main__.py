"""``python -m selfsup.word2vec``: compile the engine's numba kernels (the training loop and the random walks) into
numba's on-disk cache beside the package, so that the first word2vec / DeepWalk command after installing does not
spend ~2-3 s compiling them. ``make install`` (and so ``make demo`` / ``make test``) runs it once; a cache already
warm makes it a ~1 s no-op. This is the counterpart of gensim's Cython loop, which its wheels ship compiled."""

from __future__ import annotations

import time

import numpy as np


def compile_kernels() -> float:
    """Run each kernel once on a tiny input (compiling it, or loading it from the cache); returns the seconds taken."""
    from selfsup.word2vec.model import warmup
    from selfsup.word2vec.walks import random_walks

    t0 = time.perf_counter()
    warmup()
    ring = np.arange(6)
    indptr = np.arange(0, 13, 2, dtype=np.int64)  # a 6-node ring: each node's two neighbours
    indices = np.sort(np.stack([(ring - 1) % 6, (ring + 1) % 6], axis=1), axis=1).reshape(-1).astype(np.int32)
    random_walks(indptr, indices, num_walks=1, walk_length=4, p=1.0, q=0.5)
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(f"selfsup word2vec / DeepWalk kernels compiled and cached ({compile_kernels():.1f} s)")
