"""The word2vec engine choice, by measurement: skip-gram negative sampling (window 5, 5
negatives, 100 dimensions, sample 1e-3) for one epoch over the first tokens of enwiki-sample.

    flock /tmp/selfsup-heavy.lock nice -n 5 .venv/bin/python benchmarks/word2vec_engines.py [--tokens 200000]

Engines measured (raw words/s, wall clock, same vocabulary and subsampling):

* ``numba``: selfsup's engine (compiled per-pair loop, Hogwild threads), 1 and 2 workers;
* ``gensim``: gensim 4's Cython loop, 1 and 2 workers (the yardstick);
* ``torch-batched``: all (centre, context) pairs of the epoch generated with numpy, then
  batches of pairs: gather rows, the SGNS gradient in closed form, ``index_add_`` sparse updates;
* ``torch-autograd``: the same batches through :func:`selfsup.functional.sgns.sgns_loss` and
  ``backward`` on the gathered rows;
* ``python``: a per-pair Python/numpy loop (on a small slice; for scale).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

HP = dict(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, alpha=0.025, min_alpha=0.0001)


def skipgram_pairs(ids, offsets, keep, window, rng):
    """(context, centre) index pairs of one epoch: subsampling + dynamic window, vectorised."""
    sent = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    m = rng.random(len(ids)) < keep[ids]
    ids, sent = ids[m], sent[m]
    eff = window - rng.integers(0, window, len(ids))  # effective window per centre
    ctx, cen = [], []
    for o in range(1, window + 1):
        same = sent[o:] == sent[:-o]
        fwd = same & (o <= eff[:-o])  # centre i, context i + o
        bwd = same & (o <= eff[o:])  # centre i + o, context i
        cen += [ids[:-o][fwd], ids[o:][bwd]]
        ctx += [ids[o:][fwd], ids[:-o][bwd]]
    return np.concatenate(ctx), np.concatenate(cen)


def torch_epoch(ctx, cen, syn0, syn1, cum, negative, alpha0, min_alpha, batch, autograd):
    from selfsup.functional.sgns import sgns_loss

    ctx, cen = torch.from_numpy(ctx.astype(np.int64)), torch.from_numpy(cen.astype(np.int64))
    cumt = torch.from_numpy(cum)
    n, d = len(ctx), syn0.shape[1]
    g = torch.Generator().manual_seed(0)
    for s in range(0, n, batch):
        alpha = alpha0 - (alpha0 - min_alpha) * s / n
        c, w = ctx[s : s + batch], cen[s : s + batch]
        b = len(c)
        neg = torch.searchsorted(cumt, torch.randint(0, int(cum[-1]), (b, negative), generator=g), right=True)
        v, u, un = syn0[c], syn1[w], syn1[neg]  # (B, D), (B, D), (B, K, D)
        if autograd:
            v.requires_grad_(True), u.requires_grad_(True), un.requires_grad_(True)
            sgns_loss(v, u, un, reduction="sum").backward()
            dv, du, dun = -alpha * v.grad, -alpha * u.grad, -alpha * un.grad
        else:
            gp = (1 - torch.sigmoid((u * v).sum(-1, keepdim=True))) * alpha  # (B, 1)
            gn = -torch.sigmoid(torch.einsum("bd,bkd->bk", v, un)) * alpha  # (B, K)
            dv = gp * u + torch.einsum("bk,bkd->bd", gn, un)
            du, dun = gp * v, gn.unsqueeze(-1) * v.unsqueeze(1)
        syn0.index_add_(0, c, dv)
        syn1.index_add_(0, w, du)
        syn1.index_add_(0, neg.reshape(-1), dun.reshape(-1, d))


def python_epoch(ctx, cen, syn0, syn1, cum, negative, alpha, rng):
    for c, w in zip(ctx.tolist(), cen.tolist()):
        v = syn0[c]
        work = np.zeros_like(v)
        targets = [(w, 1.0)] + [(int(np.searchsorted(cum, rng.integers(cum[-1]), side="right")), 0.0)
                                for _ in range(negative)]
        for t, label in targets:
            gr = (label - 1 / (1 + np.exp(-float(v @ syn1[t])))) * alpha
            work += gr * syn1[t]
            syn1[t] += gr * v
        v += work


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=200_000)
    ap.add_argument("--python-tokens", type=int, default=3_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()
    import gensim
    import numba

    from selfsup.data.text import load_text_corpus
    from selfsup.word2vec import Word2Vec
    from selfsup.word2vec.model import warmup

    torch.set_num_threads(2)
    sents, n = [], 0
    for s in load_text_corpus("enwiki-sample"):
        for i in range(0, len(s), 1000):  # sentences of 1000 tokens, so that slices are fair
            piece = s[i : i + 1000]
            sents.append(piece)
            n += len(piece)
        if n >= args.tokens:
            break
    warmup()
    out: dict = {"command": f"python benchmarks/word2vec_engines.py --tokens {args.tokens} --batch {args.batch}",
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                          text=True).stdout.strip(),
                 "versions": {"gensim": gensim.__version__, "numba": numba.__version__, "torch": torch.__version__},
                 "tokens": n, "hyperparameters": HP, "engines": {}}

    def record(name, seconds, words):
        out["engines"][name] = {"seconds": seconds, "words": words, "words_per_second": words / seconds}
        print(f"{name:<22} {words / seconds:>12,.0f} words/s  ({seconds:.2f} s)", flush=True)

    for workers in (1, 2):
        m = Word2Vec(None, sg=1, epochs=1, workers=workers, seed=1, **HP)
        m.build_vocab(sents)
        t = time.perf_counter()
        enc = m.encode(sents)
        m.train(encoded=enc)
        record(f"numba ({workers} worker{'s' * (workers > 1)})", time.perf_counter() - t, n)
        g = gensim.models.Word2Vec(sg=1, epochs=1, workers=workers, seed=1, **HP)
        g.build_vocab(sents)
        t = time.perf_counter()
        g.train(sents, total_examples=g.corpus_count, epochs=1)
        record(f"gensim ({workers} worker{'s' * (workers > 1)})", time.perf_counter() - t, n)

    m = Word2Vec(None, sg=1, epochs=1, workers=1, seed=1, **HP)
    m.build_vocab(sents)
    ids, offsets, _ = m.encode(sents)
    v, d = len(m.vocab), HP["vector_size"]
    for name, autograd in (("torch-batched", False), ("torch-autograd", True)):
        syn0 = torch.from_numpy(m.syn0.copy())
        syn1 = torch.zeros(v, d)
        t = time.perf_counter()
        ctx, cen = skipgram_pairs(ids, offsets, m.keep, HP["window"], np.random.default_rng(0))
        torch_epoch(ctx, cen, syn0, syn1, m.cum_table, HP["negative"], HP["alpha"], HP["min_alpha"], args.batch,
                    autograd)
        record(f"{name} (B={args.batch})", time.perf_counter() - t, n)
    # pure Python on a slice
    k = args.python_tokens
    cut = np.searchsorted(offsets, k)
    off_small = np.append(offsets[:cut], k) if offsets[cut - 1] < k else offsets[:cut]
    syn0, syn1 = m.syn0.copy(), np.zeros((v, d), np.float32)
    t = time.perf_counter()
    ctx, cen = skipgram_pairs(ids[:k], off_small, m.keep, HP["window"], np.random.default_rng(0))
    python_epoch(ctx, cen, syn0, syn1, m.cum_table, HP["negative"], HP["alpha"], np.random.default_rng(0))
    record("python (per pair)", time.perf_counter() - t, k)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
