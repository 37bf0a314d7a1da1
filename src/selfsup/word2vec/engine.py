"""The word2vec hot loop: numba-compiled, one Hogwild thread per worker (Python threads, GIL released).

The corpus is cut into jobs of consecutive sentences (at most ``JOB_WORDS`` tokens each, as
gensim's ``batch_words``); worker threads take the next job in corpus order from a shared counter,
so the threads stay at the same place in the corpus however the OS schedules them, and the
learning rate follows the global progress (tokens before the sentence / tokens in the epoch), as
in gensim. Each worker keeps its own linear-congruential random stream (the one word2vec.c uses)
across its jobs and updates the shared float32 matrices without locks (Hogwild, as word2vec.c and
gensim do). With ``workers=1`` and a seed, training is deterministic.

Per (center, context) update, skip-gram with negative sampling (SGNS), for input vector ``v_c``
of the context word and output vectors ``u_k`` of the center word (label 1) and ``negative``
drawn words (label 0): ``g = (label - sigmoid(u_k . v_c)) * alpha``; ``u_k += g v_c``;
``v_c += sum_k g u_k``. CBOW replaces ``v_c`` by the mean (``cbow_mean=1``) or sum of the
window's input vectors and adds the error to each of them (for the sum divided by the window
size, as gensim does). Hierarchical softmax walks the Huffman code of the predicted word.
As in gensim, a pair whose score is saturated (``|u . v| >= 6``) is skipped.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

EXP_TABLE_SIZE = 1000
MAX_EXP = 6.0
_EXP = np.exp((np.arange(EXP_TABLE_SIZE, dtype=np.float64) / EXP_TABLE_SIZE * 2 - 1) * MAX_EXP)
SIGMOID_TABLE = (_EXP / (_EXP + 1)).astype(np.float32)

JOB_WORDS = 10000  # tokens per job (gensim's batch_words); a longer sentence is a job of its own
_MULT = np.uint64(25214903917)
_ADD = np.uint64(11)


@njit(inline="always")
def _next(r):
    return r * _MULT + _ADD


@njit(inline="always")
def _sigmoid(f, table):
    if f <= -MAX_EXP:
        return 0.0
    if f >= MAX_EXP:
        return 1.0
    return table[int((f + MAX_EXP) * (EXP_TABLE_SIZE / MAX_EXP / 2))]


@njit(inline="always")
def _draw_negative(r, cum_table):
    # cum_table[-1] == 2**31 - 1; use the high bits of the LCG state
    target = (r >> np.uint64(16)) % np.uint64(cum_table[-1])
    lo = 0
    hi = cum_table.shape[0] - 1
    t = np.int64(target)
    while lo < hi:
        mid = (lo + hi) >> 1
        if cum_table[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(inline="always")
def _ns_update(h, target, syn1neg, neg, cum_table, alpha, work, r, table):
    """Negative sampling: predict ``target`` from hidden vector ``h``; accumulate dh in ``work``."""
    dim = h.shape[0]
    for d in range(neg + 1):
        if d == 0:
            w = target
            label = 1.0
        else:
            r = _next(r)
            w = _draw_negative(r, cum_table)
            if w == target:
                continue
            label = 0.0
        f = np.float32(0.0)
        for k in range(dim):
            f += h[k] * syn1neg[w, k]
        if f <= -MAX_EXP or f >= MAX_EXP:
            continue
        g = np.float32((label - _sigmoid(f, table)) * alpha)
        for k in range(dim):
            work[k] += g * syn1neg[w, k]
            syn1neg[w, k] += g * h[k]
    return r


@njit(inline="always")
def _hs_update(h, target, syn1, codes, points, lengths, alpha, work, table):
    dim = h.shape[0]
    for j in range(lengths[target]):
        node = points[target, j]
        f = np.float32(0.0)
        for k in range(dim):
            f += h[k] * syn1[node, k]
        if f <= -MAX_EXP or f >= MAX_EXP:
            continue
        g = np.float32((1.0 - codes[target, j] - _sigmoid(f, table)) * alpha)
        for k in range(dim):
            work[k] += g * syn1[node, k]
            syn1[node, k] += g * h[k]


# Fast-math flags: reassociation/contraction let LLVM vectorise the dot products and axpys. Not
# the full ``fastmath=True``: with it (nnan/ninf/afn added) training quality collapsed on
# enwiki-sample (CBOW WordSim353 Spearman 0.05 instead of 0.20, gensim 0.19), at no speed gain
# (benchmarks/word2vec_engines.py, BENCHMARKS.md).
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(nogil=True, fastmath=FASTMATH, cache=True)
def _train_job(ids, offsets, first, last, syn0, syn1neg, syn1, keep, cum_table, codes, points, lengths,
               sg, cbow_mean, window, neg, hs, alpha0, min_alpha, epoch, epochs, r, table):
    """Train on sentences ``first..last-1``; returns (tokens trained on, the random state to continue from)."""
    dim = syn0.shape[1]
    work = np.zeros(dim, dtype=np.float32)
    neu1 = np.zeros(dim, dtype=np.float32)
    longest = 0
    for s in range(first, last):
        longest = max(longest, offsets[s + 1] - offsets[s])
    buf = np.empty(longest, dtype=np.int32)
    total = offsets[-1]  # the epoch's tokens: the learning rate follows the global progress
    done = offsets[first]
    processed = 0
    for s in range(first, last):
        a = offsets[s]
        b = offsets[s + 1]
        n = 0
        for i in range(a, b):
            w = ids[i]
            r = _next(r)
            if keep[w] < 1.0:
                if keep[w] * 4294967296.0 <= np.float64((r >> np.uint64(16)) & np.uint64(0xFFFFFFFF)):
                    continue
            buf[n] = w
            n += 1
        progress = (epoch + done / max(total, 1)) / epochs
        alpha = alpha0 - (alpha0 - min_alpha) * progress
        alpha = max(alpha, min_alpha)
        done += b - a
        processed += n
        for pos in range(n):
            r = _next(r)
            red = np.int64((r >> np.uint64(16)) % np.uint64(window))
            lo = pos - window + red
            lo = max(lo, 0)
            hi = pos + window + 1 - red
            hi = min(hi, n)
            center = buf[pos]
            if sg:
                for c in range(lo, hi):
                    if c == pos:
                        continue
                    ctx = buf[c]
                    h = syn0[ctx]
                    for k in range(dim):
                        work[k] = 0.0
                    if hs:
                        _hs_update(h, center, syn1, codes, points, lengths, alpha, work, table)
                    if neg > 0:
                        r = _ns_update(h, center, syn1neg, neg, cum_table, alpha, work, r, table)
                    for k in range(dim):
                        h[k] += work[k]
            else:
                cnt = 0
                for k in range(dim):
                    neu1[k] = 0.0
                    work[k] = 0.0
                for c in range(lo, hi):
                    if c == pos:
                        continue
                    ctx = buf[c]
                    cnt += 1
                    for k in range(dim):
                        neu1[k] += syn0[ctx, k]
                if cnt == 0:
                    continue
                if cbow_mean:
                    inv = np.float32(1.0 / cnt)
                    for k in range(dim):
                        neu1[k] *= inv
                if hs:
                    _hs_update(neu1, center, syn1, codes, points, lengths, alpha, work, table)
                if neg > 0:
                    r = _ns_update(neu1, center, syn1neg, neg, cum_table, alpha, work, r, table)
                if not cbow_mean:  # sum: the error is divided over the summed vectors (gensim's rule)
                    inv = np.float32(1.0 / cnt)
                    for k in range(dim):
                        work[k] *= inv
                for c in range(lo, hi):
                    if c == pos:
                        continue
                    ctx = buf[c]
                    for k in range(dim):
                        syn0[ctx, k] += work[k]
    return processed, r


def job_bounds(offsets: np.ndarray, job_words: int = JOB_WORDS) -> np.ndarray:
    """Sentence indices where jobs start (and the end): consecutive sentences of at most ``job_words`` tokens.

    A sentence longer than ``job_words`` forms a job of its own.
    """
    lens = np.diff(offsets)
    bounds = [0]
    size = 0
    for s, n in enumerate(lens.tolist()):
        if size and size + n > job_words:
            bounds.append(s)
            size = 0
        size += n
    if len(lens):
        bounds.append(len(lens))
    return np.asarray(bounds, dtype=np.int64)


def train_epoch(ids, offsets, syn0, syn1neg, syn1, keep, cum_table, codes, points, lengths, *, sg, cbow_mean,
                window, negative, hs, alpha, min_alpha, epoch, epochs, workers, seed) -> int:
    """One epoch over the encoded corpus; returns the number of tokens trained on (after subsampling).

    Threads take jobs in corpus order from a shared counter (gensim's job queue). A static split was
    measured first (worker t took sentences t, t + workers, ..., its learning rate from its own
    progress): with 2 workers CBOW WordSim353 on enwiki-sample fell to 0.132 (5 seeds) against 0.182
    with one worker; with this queue 0.159 (6 seeds; one run varies by about ±0.02; gensim 0.166).
    """
    workers = max(1, int(workers))
    rng = np.random.default_rng([seed, epoch])
    seeds = rng.integers(1, 2**62, size=workers, dtype=np.int64).astype(np.uint64)
    bounds = job_bounds(offsets)
    args = (syn0, syn1neg, syn1, keep, cum_table, codes, points, lengths, sg, cbow_mean, window, negative, hs, alpha,
            min_alpha, epoch, epochs)
    next_job = itertools.count()  # next() on it is atomic under the GIL

    def worker(t: int) -> int:
        r, trained = seeds[t], 0
        while (j := next(next_job)) < len(bounds) - 1:
            n, r = _train_job(ids, offsets, bounds[j], bounds[j + 1], *args, np.uint64(r), SIGMOID_TABLE)
            trained += n
        return trained

    if workers == 1:
        return int(worker(0))
    # Hogwild threads: the compiled loop releases the GIL (nogil=True), as gensim's Cython loop does.
    # (A numba prange over the slices was measured: same speed, and its training quality was poor.)
    with ThreadPoolExecutor(workers) as pool:
        return int(sum(pool.map(worker, range(workers))))
