"""word2vec as a user waits for it: gensim's whole process vs ``selfsup pretrain word2vec``'s, side by side.

    nice -n 5 .venv/bin/python benchmarks/word2vec_whole_process.py \
        [--corpora kjv,enwiki-sample] [--modes sg,cbow] [--rounds 2] [--workers 2] [--cold] \
        [--out benchmarks/word2vec_whole_process.json]

Each corpus is written once as a one-sentence-a-line text file (the tokens of selfsup's loader,
joined by spaces), so both sides read the same tokens. Then, per corpus and mode, in rounds whose
order alternates (gensim first in even rounds, selfsup first in odd ones), two whole processes are
timed from start to exit (wall seconds, and the CPU seconds of the process):

* gensim: a script (written next to the corpus) that imports gensim, reads the file with
  ``LineSentence``, builds the vocabulary, trains, and writes the vectors in word2vec text format;
* selfsup: ``python -m selfsup.cli.main pretrain word2vec --data text:FILE --preset skipgram|cbow
  --out DIR --no-progress`` (what the ``selfsup`` command runs), every hyperparameter passed
  explicitly with ``--set``.

Both use vector_size 100, window 5, negative 5, hs 0, min_count 5, sample 1e-3, alpha 0.025,
min_alpha 0.0001, 5 epochs, the same seed and worker count. Our numba kernels are compiled once
and cached on disk; all our runs here use a cache folder of this benchmark's own
(``NUMBA_CACHE_DIR``), and with ``--cold`` it is emptied before a first, extra round of each
corpus and mode, so that round includes the compilation (a user's very first run) and the other
rounds load the compiled code (every later run). Both vector files are then scored by the same code
(:func:`selfsup.eval.wordsim.word_protocols`: WordSim353 and SimLex-999 Spearman, Google analogies).
The speed ratio is gensim's seconds / ours (> 1: ours is faster), per round; the load average is
recorded, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HP = dict(vector_size=100, window=5, negative=5, hs=0, min_count=5, sample=1e-3, alpha=0.025, min_alpha=0.0001,
          epochs=5)
ROOT = Path(__file__).resolve().parents[1]

GENSIM_SCRIPT = """\
import sys
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence

path, sg, workers, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
hp = {hp!r}
model = Word2Vec(LineSentence(path), sg=sg, workers=workers, seed=seed, **hp)
model.wv.save_word2vec_format(out)
"""


def write_corpus(name: str, folder: Path) -> tuple[Path, int, int]:
    """The corpus as one sentence a line (selfsup's tokens joined by spaces); returns (path, lines, tokens)."""
    from selfsup.data.text import load_text_corpus

    path = folder / f"{name}.txt"
    lines = tokens = 0
    if path.is_file():  # written by an earlier run into the same --work folder
        with open(path, encoding="utf-8") as f:
            for line in f:
                lines += 1
                tokens += len(line.split())
        return path, lines, tokens
    with open(path, "w", encoding="utf-8") as f:
        for sent in load_text_corpus(name):
            f.write(" ".join(sent) + "\n")
            lines += 1
            tokens += len(sent)
    return path, lines, tokens


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd`` to completion; its wall seconds, CPU seconds (user + system) and the load before it."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": wall, "cpu_seconds": cpu, "load_before": load}


def quality(vectors: Path) -> dict:
    from selfsup.eval.wordsim import word_protocols
    from selfsup.word2vec import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(vectors, binary=False)
    r = word_protocols(kv)
    return {"vocab_size": len(kv), "wordsim353": r["wordsim353"]["spearman"], "simlex999": r["simlex999"]["spearman"],
            "analogy": r["analogy"]["accuracy"]}


def run_gensim(corpus: Path, sg: int, workers: int, seed: int, work: Path, env: dict[str, str]) -> dict:
    out = work / f"gensim-{corpus.stem}-{sg}-{seed}.txt"
    r = timed([sys.executable, str(work / "gensim_word2vec.py"), str(corpus), str(sg), str(workers), str(seed),
               str(out)], env)
    return {**r, **quality(out)}


def run_ours(corpus: Path, sg: int, workers: int, seed: int, work: Path, env: dict[str, str]) -> dict:
    out = work / f"selfsup-{corpus.stem}-{sg}-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    sets = [f"{k}={v}" for k, v in {**HP, "workers": workers, "seed": seed, "cbow_mean": 1}.items()]
    cmd = [sys.executable, "-m", "selfsup.cli.main", "pretrain", "word2vec", "--data", f"text:{corpus}",
           "--preset", "skipgram" if sg else "cbow", "--out", str(out), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    r = timed(cmd, env)
    meta = json.loads((out / "run.json").read_text())
    r["phases"] = {k: meta.get(k) for k in ("read_seconds", "vocab_seconds", "encode_seconds", "train_seconds")}
    r.update(quality(out / "vectors.txt"))
    shutil.rmtree(out, ignore_errors=True)
    return r


def mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    for kind in ("cold", "warm"):
        rounds = sorted({r["round"] for r in runs if r["kind"] == kind})
        if not rounds:
            continue
        g = [next(r for r in runs if r["round"] == i and r["lib"] == "gensim") for i in rounds]
        o = [next(r for r in runs if r["round"] == i and r["lib"] == "selfsup") for i in rounds]
        out[kind] = {
            "rounds": len(rounds),
            "gensim_wall_seconds": mean([r["wall_seconds"] for r in g]),
            "selfsup_wall_seconds": mean([r["wall_seconds"] for r in o]),
            "gensim_cpu_seconds": mean([r["cpu_seconds"] for r in g]),
            "selfsup_cpu_seconds": mean([r["cpu_seconds"] for r in o]),
            "ratio_wall": [a["wall_seconds"] / b["wall_seconds"] for a, b in zip(g, o)],
            "ratio_cpu": [a["cpu_seconds"] / b["cpu_seconds"] for a, b in zip(g, o)],
            "load": mean([r["load_before"] for r in g + o]),
        }
        out[kind]["ratio_wall_mean"] = mean(out[kind]["ratio_wall"])
        out[kind]["ratio_cpu_mean"] = mean(out[kind]["ratio_cpu"])
    for lib in ("gensim", "selfsup"):
        for k in ("wordsim353", "simlex999", "analogy"):
            out[f"{lib}_{k}"] = mean([r[k] for r in runs if r["lib"] == lib])
    for k in ("wordsim353", "simlex999", "analogy"):
        out[f"{k}_diff"] = out[f"selfsup_{k}"] - out[f"gensim_{k}"]
    return out


def markdown(results: dict) -> str:
    lines = ["| corpus | mode | runs | wall s gensim / ours | wall ratio (gensim / ours), per round | "
             "CPU s gensim / ours | CPU ratio, per round | load | WS353 ours / gensim | SimLex ours / gensim | "
             "analogy ours / gensim |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, s in results["summary"].items():
        corpus, mode = key.split("/")
        for kind in ("cold", "warm"):
            if kind not in s:
                continue
            k = s[kind]
            per = ", ".join(f"{x:.2f}" for x in k["ratio_wall"])
            per_cpu = ", ".join(f"{x:.2f}" for x in k["ratio_cpu"])
            lines.append(
                f"| {corpus} | {mode} | {kind} x{k['rounds']} | {k['gensim_wall_seconds']:.1f} / "
                f"{k['selfsup_wall_seconds']:.1f} | {k['ratio_wall_mean']:.2f}x ({per}) | "
                f"{k['gensim_cpu_seconds']:.1f} / {k['selfsup_cpu_seconds']:.1f} | "
                f"{k['ratio_cpu_mean']:.2f}x ({per_cpu}) | {k['load']:.1f} | "
                f"{s['selfsup_wordsim353']:.3f} / {s['gensim_wordsim353']:.3f} | "
                f"{s['selfsup_simlex999']:.3f} / {s['gensim_simlex999']:.3f} | "
                f"{s['selfsup_analogy']:.4f} / {s['gensim_analogy']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", default="kjv,enwiki-sample")
    ap.add_argument("--modes", default="sg,cbow")
    ap.add_argument("--rounds", type=int, default=2, help="warm rounds per corpus and mode")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="one more round first, with our numba cache emptied")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    ap.add_argument("--work", default=None, help="folder for the corpus files and outputs (default: a temporary one)")
    ap.add_argument("--first-round", type=int, default=1, help="number of the first warm round (its parity sets "
                    "which side goes first, its number the seed): to run rounds as separate processes")
    ap.add_argument("--numba-cache", default=None, help="our numba cache folder (default: WORK/numba-cache); "
                    "'package': selfsup's own (next to the engine), already filled by earlier runs")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="only combine the runs of these result files "
                    "into --out (summary and table)")
    args = ap.parse_args()
    if args.merge:
        merged = json.loads(Path(args.merge[0]).read_text())
        merged["runs"] = [r for f in args.merge for r in json.loads(Path(f).read_text())["runs"]]
        merged["merged_from"] = args.merge
        for f in args.merge[1:]:
            merged["corpora"].update(json.loads(Path(f).read_text())["corpora"])
        keys = sorted({(r["corpus"], r["mode"]) for r in merged["runs"]})
        merged["summary"] = {f"{c}/{m}": summarise([r for r in merged["runs"] if (r["corpus"], r["mode"]) == (c, m)])
                             for c, m in keys}
        merged["markdown"] = markdown(merged)
        Path(args.out).write_text(json.dumps(merged, indent=2))
        print(merged["markdown"])
        return
    import gensim
    import numba

    work = Path(args.work or tempfile.mkdtemp(prefix="w2v-whole-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "gensim_word2vec.py").write_text(GENSIM_SCRIPT.format(hp=HP))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if args.numba_cache == "package":
        if args.cold:
            raise SystemExit("--cold empties the cache: give it a folder of its own, not 'package'")
        env.pop("NUMBA_CACHE_DIR", None)
    else:
        cache = Path(args.numba_cache) if args.numba_cache else work / "numba-cache"  # emptied for the cold rounds
        env["NUMBA_CACHE_DIR"] = str(cache)
    results: dict = {
        "command": "python benchmarks/word2vec_whole_process.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k not in ("out", "work", "cold", "merge") and v is not None) + (" --cold" if args.cold else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=ROOT).stdout.strip(),
        "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "versions": {"gensim": gensim.__version__, "numba": numba.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "hyperparameters": {**HP, "workers": args.workers}, "corpora": {}, "runs": [], "summary": {}}
    for name in args.corpora.split(","):
        path, n_lines, n_tok = write_corpus(name, work)
        results["corpora"][name] = {"lines": n_lines, "tokens": n_tok}
        print(f"{name}: {n_lines} lines, {n_tok} tokens -> {path}", flush=True)
        for mode in args.modes.split(","):
            sg = 1 if mode == "sg" else 0
            rounds = [("cold", 0)] if args.cold else []
            rounds += [("warm", i) for i in range(args.first_round, args.first_round + args.rounds)]
            for kind, i in rounds:
                if kind == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                order = [("gensim", run_gensim), ("selfsup", run_ours)]
                if i % 2:
                    order.reverse()
                for lib, fn in order:
                    r = fn(path, sg, args.workers, i + 1, work, env)
                    r.update(lib=lib, corpus=name, mode=mode, round=i, kind=kind, seed=i + 1)
                    results["runs"].append(r)
                    print(f"{name} {mode:<4} {kind} round {i} {lib:<8} {r['wall_seconds']:6.1f} s wall "
                          f"{r['cpu_seconds']:6.1f} s CPU (load {r['load_before']:.1f})  ws353 {r['wordsim353']:.3f} "
                          f"simlex {r['simlex999']:.3f} analogy {r['analogy']:.4f}", flush=True)
            runs = [r for r in results["runs"] if r["corpus"] == name and r["mode"] == mode]
            results["summary"][f"{name}/{mode}"] = summarise(runs)
            Path(args.out).write_text(json.dumps(results, indent=2))
    results["markdown"] = markdown(results)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(results["markdown"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
