"""selfsup word2vec vs gensim, side by side in one run, same corpus and hyperparameters.

    flock /tmp/selfsup-heavy.lock nice -n 5 .venv/bin/python benchmarks/word2vec_vs_gensim.py \
        [--modes sg,cbow] [--seeds 1,2,3] [--workers 2] [--out benchmarks/word2vec_vs_gensim.json]

For each mode and seed, both libraries train on the same token lists (``enwiki-sample``:
the shortened Wikipedia dump + head500 that gensim ships), in alternating order. Throughput is
raw corpus words x epochs / wall-clock training seconds (vocabulary building timed separately;
our id-encoding pass is counted as training time, since gensim maps words to ids inside
``train``). Both models are evaluated by the same code (selfsup.eval.wordsim): WordSim353 and
SimLex-999 Spearman, Google analogies (3CosAdd). Writes a JSON next to this script.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

HP = dict(vector_size=100, window=5, negative=5, hs=0, min_count=5, sample=1e-3, epochs=5, alpha=0.025,
          min_alpha=0.0001)


def quality(kv) -> dict:
    from selfsup.eval.wordsim import word_protocols

    r = word_protocols(kv)
    return {"wordsim353": r["wordsim353"]["spearman"], "wordsim353_oov": r["wordsim353"]["oov"],
            "simlex999": r["simlex999"]["spearman"], "simlex999_oov": r["simlex999"]["oov"],
            "analogy": r["analogy"]["accuracy"], "analogy_oov": r["analogy"]["oov"]}


def run_gensim(sents, sg, seed, workers) -> dict:
    import gensim

    t0 = time.perf_counter()
    m = gensim.models.Word2Vec(sg=sg, seed=seed, workers=workers, **{k: v for k, v in HP.items()})
    m.build_vocab(sents)
    t1 = time.perf_counter()
    m.train(sents, total_examples=m.corpus_count, epochs=HP["epochs"])
    t2 = time.perf_counter()
    words = m.corpus_total_words * HP["epochs"]
    return {"vocab_seconds": t1 - t0, "train_seconds": t2 - t1, "words_per_second": words / (t2 - t1),
            "vocab_size": len(m.wv), **quality(m.wv)}


def run_ours(sents, sg, seed, workers) -> dict:
    from selfsup.word2vec import Word2Vec

    t0 = time.perf_counter()
    m = Word2Vec(None, sg=sg, seed=seed, workers=workers, **HP)
    m.build_vocab(sents)
    t1 = time.perf_counter()
    enc = m.encode(sents)
    st = m.train(encoded=enc)
    t2 = time.perf_counter()
    words = enc[2] * HP["epochs"]
    return {"vocab_seconds": t1 - t0, "train_seconds": t2 - t1, "loop_seconds": st.train_seconds,
            "encode_seconds": st.encode_seconds, "words_per_second": words / (t2 - t1),
            "loop_words_per_second": st.words_per_second, "vocab_size": len(m.vocab), **quality(m.wv)}


def mean_std(xs) -> dict:
    a = np.asarray(xs, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "values": a.tolist()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="sg,cbow")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", default="enwiki-sample")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()
    import gensim
    import numba

    from selfsup.data.text import load_text_corpus
    from selfsup.word2vec.model import warmup

    t0 = time.perf_counter()
    sents = list(load_text_corpus(args.corpus))
    read_s = time.perf_counter() - t0
    n_tok = sum(map(len, sents))
    print(f"{args.corpus}: {len(sents)} documents, {n_tok} tokens (read in {read_s:.1f} s)", flush=True)
    warmup()  # numba compilation is not training time
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict = {
        "command": "python benchmarks/word2vec_vs_gensim.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if k != "out"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "machine": f"{platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "versions": {"gensim": gensim.__version__, "numba": numba.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "corpus": {"name": args.corpus, "documents": len(sents), "tokens": n_tok, "read_seconds": read_s},
        "hyperparameters": {**HP, "workers": args.workers}, "runs": [], "summary": {}}
    for mode in args.modes.split(","):
        sg = 1 if mode == "sg" else 0
        for i, seed in enumerate(seeds):
            order = [("gensim", run_gensim), ("selfsup", run_ours)]
            if i % 2:
                order.reverse()
            for lib, fn in order:
                r = fn(sents, sg, seed, args.workers)
                r.update(lib=lib, mode=mode, seed=seed)
                results["runs"].append(r)
                print(f"{mode:<4} seed {seed} {lib:<8} {r['words_per_second']:>10,.0f} words/s  "
                      f"train {r['train_seconds']:6.1f} s  vocab {r['vocab_seconds']:5.1f} s  "
                      f"ws353 {r['wordsim353']:.3f}  simlex {r['simlex999']:.3f}  analogy {r['analogy']:.4f}",
                      flush=True)
        runs = [r for r in results["runs"] if r["mode"] == mode]
        summ = {}
        for lib in ("gensim", "selfsup"):
            rs = sorted((r for r in runs if r["lib"] == lib), key=lambda r: r["seed"])
            summ[lib] = {k: mean_std([r[k] for r in rs]) for k in
                         ("words_per_second", "train_seconds", "vocab_seconds", "wordsim353", "simlex999", "analogy")}
        g = sorted((r for r in runs if r["lib"] == "gensim"), key=lambda r: r["seed"])
        o = sorted((r for r in runs if r["lib"] == "selfsup"), key=lambda r: r["seed"])
        summ["speed_ratio"] = mean_std([b["words_per_second"] / a["words_per_second"] for a, b in zip(g, o)])
        for k in ("wordsim353", "simlex999", "analogy"):
            summ[f"{k}_diff"] = summ["selfsup"][k]["mean"] - summ["gensim"][k]["mean"]
        results["summary"][mode] = summ
        print(f"{mode}: speed ratio selfsup/gensim {summ['speed_ratio']['mean']:.2f} ± {summ['speed_ratio']['std']:.2f}; "
              + "; ".join(f"{k} {summ['selfsup'][k]['mean']:.3f} vs {summ['gensim'][k]['mean']:.3f}"
                          for k in ("wordsim353", "simlex999", "analogy")), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
