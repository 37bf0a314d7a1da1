"""CBOW quality against the input vectors' initial range, beside gensim, one worker (deterministic), several seeds.

    SELFSUP_DATA_DIR=... python benchmarks/word2vec_init_range.py --corpus kjv --seeds 1,2,3,4,5,6 \
        --out benchmarks/word2vec_init_range_kjv.json

Variants per seed: gensim 4 (its own initial vectors: uniform in [-1/D, 1/D)), and ours with the input vectors
redrawn uniform in [-s/D, s/D) for each scale s of ``--scales`` (0.5 = word2vec.c's range, selfsup's before
2026-12-07; 1.0 = gensim 4's, selfsup's since). Same hyperparameters as benchmarks/word2vec_vs_gensim.py, CBOW
(mean). Scores by the same code (selfsup.eval.wordsim): WordSim353 and SimLex-999 Spearman, analogy accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from word2vec_vs_gensim import HP, quality  # noqa: E402

KEYS = ("wordsim353", "simlex999", "analogy")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="kjv")
    ap.add_argument("--seeds", default="1,2,3,4,5,6")
    ap.add_argument("--scales", default="0.5,1.0")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import gensim

    from selfsup.data.text import load_text_corpus
    from selfsup.word2vec import Word2Vec

    sents = list(load_text_corpus(a.corpus))
    variants = ["gensim", *a.scales.split(",")]
    rows = []
    for seed in (int(s) for s in a.seeds.split(",")):
        for var in variants:
            if var == "gensim":
                kv = gensim.models.Word2Vec(sents, sg=0, seed=seed, workers=1, **HP).wv
            else:
                m = Word2Vec(None, sg=0, seed=seed, workers=1, **HP)
                m.build_vocab(sents)
                rng = np.random.default_rng(seed)
                m.syn0[:] = (rng.random(m.syn0.shape, dtype=np.float32) * 2 - 1) * float(var) / m.vector_size
                m.train(encoded=m.encode(sents))
                kv = m.wv
            q = quality(kv)
            row = {"seed": seed, "variant": var, **{k: q[k] for k in KEYS}}
            print(json.dumps(row), flush=True)
            rows.append(row)
    summary = {}
    for var in variants:
        r = [x for x in rows if x["variant"] == var]
        summary[var] = {k: {"mean": statistics.mean(x[k] for x in r), "std": statistics.stdev(x[k] for x in r)}
                        for k in KEYS}
        print(var, "  ".join(f"{k} {summary[var][k]['mean']:.4f} ± {summary[var][k]['std']:.4f}" for k in KEYS))
    out = {"command": "python benchmarks/word2vec_init_range.py " + " ".join(sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=Path(__file__).parent).stdout.strip(),
           "versions": {"gensim": gensim.__version__, "numpy": np.__version__},
           "hyperparameters": {**HP, "sg": 0, "cbow_mean": 1, "workers": 1}, "runs": rows, "summary": summary}
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
