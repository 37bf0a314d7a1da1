"""The official TS2Vec (Yue et al., AAAI 2022; github yuezhihan/ts2vec, MIT) as a peer, beside our ``ts2vec``,
``cpc`` and ``temporal-contrast``, on UCR sets bundled with sktime, under the paper's protocol.

Peer: the authors' code from a pinned commit, in a folder outside this repository (never vendored). Get it with

    git clone https://github.com/yuezhihan/ts2vec /tmp/ts2vec_peer && git -C /tmp/ts2vec_peer checkout b0088e14a99706c05451316dc6db8d3da9351163
    # or, from a bare mirror: git --git-dir=MIRROR archive b0088e1 | tar -x -C /tmp/ts2vec_peer

It is run as its authors publish it for UCR (``scripts/ucr.sh`` / ``train.py``): their ``TS2Vec`` class with
batch size 8, lr 0.001, repr dims 320, max_train_length 3000, hidden 64, depth 10, ``n_iters`` as ``fit`` picks it
(200 when the training array has <= 100,000 values, else 600), seeded by their ``init_dl_program``; their
``datautils.load_UCR`` (its label mapping and its z-scoring of the whole set by the training mean/std), and
``tasks.eval_classification(..., eval_protocol='svm')``: max-pooled instance-level representation, their
``fit_svm`` (RBF SVC, gamma="scale", C from {1e-4, ..., 1e4, inf} by 5-fold CV on the training set; C=inf without CV
when train size < 50 or train size // classes < 5), accuracy on the official test split.
The arrays it sees are ours: each set is loaded with ``selfsup``'s ``ucr:NAME`` loader (sktime's bundled files, offline)
and written as the archive's TSV files (label, then the values) into a temporary ``datasets/UCR/NAME/`` that
``load_UCR`` reads unchanged.

Run-time differences from ``python train.py NAME run --loader UCR ... --eval``, none in their files:
* ``device='cpu'`` and ``max_threads=1`` (this machine has no GPU and 2 shared cores);
* ``GridSearchCV(..., n_jobs=5)`` in ``fit_svm`` is given ``n_jobs=1`` (the same fits, one process); the
  fitted SVC's C is recorded by wrapping ``fit_svm`` (its return value is passed on untouched);
* ``bottleneck`` (imported by their ``tasks/anomaly_detection.py``, unused for classification) is taken from
  ``--peer-site`` (``pip install --target DIR bottleneck``), not installed into the project venv;
* no checkpoint / pickle files are written (train.py's ``model.save`` and ``pkl_save``).

Ours: the public CLI with the methods' defaults, run from the code tree given by ``--src`` (a git worktree, so that
concurrent edits of the library do not leak in):
``selfsup pretrain METHOD --data ucr:NAME --out DIR --seed S`` then ``selfsup evaluate DIR --protocols svm --labels 100%``.

Every run is a subprocess with one thread (OMP/MKL/torch), started under ``nice -n 10`` by this script (so do not
start the script itself under nice: niceness adds up), at most ``--workers`` (<= 2) at once; its wall-clock seconds
(whole process; and the training loop alone, ``train_seconds``) are recorded.

    .venv/bin/python benchmarks/ts2vec_official.py --peer-dir /tmp/ts2vec_peer --peer-site /tmp/ts2vec_peer_site \\
        --src /tmp/wt-ts2vec/src --seeds 0 --out benchmarks/ts2vec_official.json      # adds to the json if it exists
    .venv/bin/python benchmarks/ts2vec_official.py --markdown benchmarks/ts2vec_official.json
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

DATASETS = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf", "ACSF1")
PEER = "official-ts2vec"
OURS = ("ts2vec", "cpc", "temporal-contrast")
PEER_COMMIT = "b0088e14a99706c05451316dc6db8d3da9351163"

# Secondary source: the TS2Vec paper's UCR accuracies as copied by later work, not read in the paper's own table
# (see benchmarks/ucr.py TS2VEC_PAPER for where a later paper's copy was found and why its columns are uncertain).
PAPER = {
    "source": "secondary source (as copied by later work); not read in the paper's own appendix table",
    "TS2Vec": {"GunPoint": 0.980, "ArrowHead": 0.857, "ItalyPowerDemand": 0.925, "OSULeaf": 0.851, "ACSF1": 0.910},
    "T-Loss": {"GunPoint": 0.980, "ArrowHead": 0.766, "ItalyPowerDemand": 0.954, "OSULeaf": 0.760, "ACSF1": 0.900},
}


# ----------------------------------------------------------------------------------------------- peer (subprocess)

def peer_run(name: str, seed: int, peer_dir: str, peer_site: str | None, src: str | None) -> dict:
    """One official-TS2Vec run in this process; returns the record (printed as the last stdout line)."""
    t_start = time.time()
    if src:
        sys.path.insert(0, src)
    import numpy as np
    import torch

    from selfsup.data import load_dataset

    data = load_dataset(f"ucr:{name}")
    work = Path(tempfile.mkdtemp(prefix=f"ts2vec_peer_{name}_"))
    (work / "datasets" / "UCR" / name).mkdir(parents=True)
    for split, x, y in (("TRAIN", data.x_train, data.y_train), ("TEST", data.x_test, data.y_test)):
        x = x.double().numpy()
        assert x.shape[1] == 1, "univariate sets only (load_UCR)"
        rows = np.concatenate([y.numpy()[:, None].astype(np.float64), x[:, 0]], axis=1)
        np.savetxt(work / "datasets" / "UCR" / name / f"{name}_{split}.tsv", rows, delimiter="\t", fmt="%.17g")

    sys.path.insert(0, peer_dir)
    if peer_site:
        sys.path.append(peer_site)
    os.chdir(work)  # load_UCR reads datasets/UCR/NAME/NAME_{TRAIN,TEST}.tsv relative to the working directory
    import datautils
    import tasks
    import tasks._eval_protocols as protocols
    from ts2vec import TS2Vec
    from utils import init_dl_program

    grid_search_cv = protocols.GridSearchCV

    def one_process_grid_search(*a, **k):  # their n_jobs=5 -> 1 (the same fits, one process)
        k["n_jobs"] = 1
        return grid_search_cv(*a, **k)

    protocols.GridSearchCV = one_process_grid_search
    chosen: dict = {}
    fit_svm = protocols.fit_svm

    def recording_fit_svm(features, y, *a, **k):
        clf = fit_svm(features, y, *a, **k)
        chosen["C"] = float(clf.C)
        return clf

    protocols.fit_svm = recording_fit_svm

    device = init_dl_program("cpu", seed=seed, max_threads=1)
    train_data, train_labels, test_data, test_labels = datautils.load_UCR(name)
    config = dict(batch_size=8, lr=0.001, output_dims=320, max_train_length=3000)  # train.py's defaults
    t0 = time.time()
    model = TS2Vec(input_dims=train_data.shape[-1], device=device, **config)
    loss_log = model.fit(train_data, n_epochs=None, n_iters=None, verbose=False)
    train_s = time.time() - t0
    t1 = time.time()
    _, res = tasks.eval_classification(model, train_data, train_labels, test_data, test_labels, eval_protocol="svm")
    eval_s = time.time() - t1
    return {"dataset": name, "method": PEER, "seed": seed, "accuracy": float(res["acc"]), "auprc": float(res["auprc"]),
            "svm_C": chosen.get("C"), "n_iters": model.n_iters, "n_epochs": model.n_epochs,
            "final_epoch_loss": loss_log[-1] if loss_log else None, "train_seconds": round(train_s, 1),
            "eval_seconds": round(eval_s, 1), "torch_threads": torch.get_num_threads(),
            "normalised_by_load_UCR": bool(abs(float(np.nanmean(train_data))) < 1e-6),
            "process_seconds": round(time.time() - t_start, 1)}


# ----------------------------------------------------------------------------------------------- runs

def _env(src: str | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _call(cmd: list[str], env: dict, log: Path) -> tuple[int, float, str]:
    t0 = time.time()
    p = subprocess.run(["nice", "-n", "10", *cmd], env=env, capture_output=True, text=True)
    secs = time.time() - t0
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{p.stdout}\n{p.stderr}\n[rc {p.returncode}, {secs:.1f} s]\n")
    return p.returncode, secs, p.stdout


def run_one(job: tuple[str, str, int], a: argparse.Namespace) -> dict:
    name, method, seed = job
    out = Path(a.runs) / name / method / f"seed{seed}"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.parent / f"seed{seed}.log"
    env = _env(a.src)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if method == PEER:
        cmd = [sys.executable, os.path.abspath(__file__), "--peer-run", name, str(seed), "--peer-dir", a.peer_dir]
        cmd += (["--peer-site", a.peer_site] if a.peer_site else []) + (["--src", a.src] if a.src else [])
        rc, secs, stdout = _call(cmd, env, log)
        if rc != 0:
            return {"dataset": name, "method": method, "seed": seed, "error": f"rc {rc}, see {log}"}
        rec = json.loads(stdout.strip().splitlines()[-1])
        rec.update(wall_seconds=round(secs, 1), started=started)
        return rec
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    pre_commit = _src_commit(a.src)
    rc, pre_s, _ = _call(SELFSUP + ["pretrain", method, "--data", f"ucr:{name}", "--out", str(out), "--seed", str(seed),
                                    "--no-progress"], env, log)
    if rc != 0:
        return {"dataset": name, "method": method, "seed": seed, "error": f"pretrain rc {rc}, see {log}"}
    rec = {"dataset": name, "method": method, "seed": seed, "pretrain_wall_seconds": round(pre_s, 1),
           "pretrain_commit": pre_commit, "started": started, "run_dir": str(out)}
    return evaluate_ours(rec, a)


SELFSUP = [sys.executable, "-m", "selfsup.cli.main"]


def _src_commit(src: str | None) -> str:
    return _git("rev-parse", "HEAD", cwd=str(Path(src).parent) if src else str(Path(__file__).resolve().parents[1]))


def evaluate_ours(rec: dict, a: argparse.Namespace) -> dict:
    """``selfsup evaluate RUN --protocols svm --labels 100%`` on a pretrained run; fills the record's scores."""
    out = Path(rec["run_dir"])
    if "commit" in rec:  # records of the first invocation: "commit" was the code that pretrained (and evaluated) it
        rec.setdefault("pretrain_commit", rec.pop("commit"))
    log = out.parent / f"seed{rec['seed']}.log"
    rec["evaluate_commit"] = _src_commit(a.src)
    rc, ev_s, _ = _call(SELFSUP + ["evaluate", str(out), "--protocols", "svm", "--labels", "100%", "--baselines", "raw"],
                        _env(a.src), log)
    if rc != 0:
        return dict(rec, error=f"evaluate rc {rc}, see {log}")
    res = json.loads((out / "results.json").read_text())
    meta = json.loads((out / "run.json").read_text())
    raw = res.get("baselines", {}).get("raw", {})
    rec.update(accuracy=res["protocols"]["svm"]["100%"]["mean"], epochs=meta["epochs"],
               train_seconds=meta["train_seconds"], raw_1nn=raw.get("1nn", {}).get("100%", {}).get("mean"),
               raw_svm=raw.get("svm", {}).get("100%", {}).get("mean"), evaluate_wall_seconds=round(ev_s, 1),
               wall_seconds=round(rec["pretrain_wall_seconds"] + ev_s, 1))
    return rec


def _git(*args: str, cwd: str | None = None) -> str:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def environment(a: argparse.Namespace) -> dict:
    import sklearn
    import torch
    src_root = str(Path(a.src).parent) if a.src else str(Path(__file__).resolve().parents[1])
    return {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), no GPU",
            "python": platform.python_version(), "torch": torch.__version__, "sklearn": sklearn.__version__,
            "ours_commit": _git("rev-parse", "HEAD", cwd=src_root),
            "ours_dirty": bool(_git("status", "--porcelain", "--", "src", cwd=src_root)),
            "script_commit": _git("log", "-1", "--format=%H", "--", "benchmarks/ts2vec_official.py",
                                  cwd=str(Path(__file__).resolve().parents[1])),
            "peer_commit_expected": PEER_COMMIT,
            "peer_commit": _git("rev-parse", "HEAD", cwd=a.peer_dir) if (Path(a.peer_dir) / ".git").exists()
            else f"{PEER_COMMIT} (git archive, no .git in --peer-dir)"}


# ----------------------------------------------------------------------------------------------- table

def _stats(vals: list[float]) -> tuple[float, float]:
    import statistics
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)  # sample std (ddof=1), as the harness


LABEL = {PEER: "official TS2Vec", "ts2vec": "our ts2vec", "cpc": "our cpc", "temporal-contrast": "our temporal-contrast"}


def markdown(res: dict) -> str:
    """BENCHMARKS.md tables: test accuracy mean ± std over seeds [number of seeds] per set and method, beside the
    paper column (secondary source); then seconds per run (wall-clock of the whole run, and of the training loop)."""
    runs = [r for r in res["runs"] if "accuracy" in r]
    methods = [m for m in (PEER, *OURS) if any(r["method"] == m for r in runs)]
    names = [n for n in DATASETS if any(r["dataset"] == n for r in runs)]
    pick = {(n, m): [r for r in runs if r["dataset"] == n and r["method"] == m] for n in names for m in methods}
    head = ["dataset"] + [LABEL[m] for m in methods] + ["TS2Vec paper (secondary source)", "T-Loss paper (secondary source)"]
    acc = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        cells = [n]
        for m in methods:
            rs = pick[(n, m)]
            if rs:
                mu, sd = _stats([r["accuracy"] for r in rs])
                cells.append(f"{mu:.3f} ± {sd:.3f} [{len(rs)}]")
            else:
                cells.append("–")
        acc.append("| " + " | ".join(cells + [f"{PAPER['TS2Vec'][n]:.3f}", f"{PAPER['T-Loss'][n]:.3f}"]) + " |")
    head = ["dataset"] + [f"{LABEL[m]} s/run (train)" for m in methods]
    sec = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        cells = [n]
        for m in methods:
            rs = pick[(n, m)]
            cells.append(f"{_stats([r['wall_seconds'] for r in rs])[0]:.0f} ({_stats([r['train_seconds'] for r in rs])[0]:.0f})"
                         if rs else "–")
        sec.append("| " + " | ".join(cells) + " |")
    return "\n".join(acc) + "\n\n" + "\n".join(sec)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peer-dir", help="checkout of github yuezhihan/ts2vec at the pinned commit")
    p.add_argument("--peer-site", help="folder with bottleneck (pip install --target DIR bottleneck)")
    p.add_argument("--src", help="our src/ to run (PYTHONPATH), e.g. a git worktree's src")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--methods", default=",".join((PEER, *OURS)))
    p.add_argument("--seeds", default="0")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", default="/tmp/ts2vec_official_runs", help="where run folders and logs go")
    p.add_argument("--out", help="json to write; runs already in it (same set, method, seed) are replaced")
    p.add_argument("--markdown", help="print the BENCHMARKS.md table of this json")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="write to --out the union of these jsons' runs (later files win) and all their invocations")
    p.add_argument("--redo", action="store_true", help="run again the jobs already in --out (default: skip them)")
    p.add_argument("--reevaluate", action="store_true",
                   help="re-run `selfsup evaluate` (code from --src) on our runs already in --out whose evaluate_commit "
                        "differs from --src's commit; pretraining is not repeated")
    p.add_argument("--peer-run", nargs=2, metavar=("NAME", "SEED"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.markdown:
        print(markdown(json.load(open(a.markdown))))
        return
    if a.merge:
        merged: dict = {"runs": [], "invocations": []}
        for f in a.merge:
            part = json.load(open(f))
            keys = {(r["dataset"], r["method"], r["seed"]) for r in part["runs"]}
            merged["runs"] = [r for r in merged["runs"] if (r["dataset"], r["method"], r["seed"]) not in keys]
            merged["runs"] += part["runs"]
            merged["invocations"] += part["invocations"]
            merged.update({k: v for k, v in part.items() if k not in ("runs", "invocations")})
        order = {(n, m): i for i, (n, m) in enumerate((n, m) for n in DATASETS for m in (PEER, *OURS))}
        merged["runs"].sort(key=lambda r: (order.get((r["dataset"], r["method"]), 99), r["seed"]))
        Path(a.out).write_text(json.dumps(merged, indent=1))
        print(markdown(merged))
        return
    if a.peer_run:
        print(json.dumps(peer_run(a.peer_run[0], int(a.peer_run[1]), a.peer_dir, a.peer_site, a.src)))
        return
    if not a.peer_dir or not a.out:
        p.error("--peer-dir and --out are needed")
    a.peer_dir = os.path.abspath(a.peer_dir)
    res = json.load(open(a.out)) if Path(a.out).exists() else {"runs": [], "invocations": []}
    res["paper"] = PAPER
    res["protocol"] = ("RBF SVM on the instance-level representation, C by 5-fold CV on the training set; peer: the "
                       "official tasks.eval_classification/fit_svm; ours: selfsup evaluate --protocols svm "
                       "(src/selfsup/eval/series.py)")
    jobs = [(n, m, int(s)) for s in a.seeds.split(",") for n in a.datasets.split(",") for m in a.methods.split(",")]
    have = {(r["dataset"], r["method"], r["seed"]) for r in res["runs"] if "accuracy" in r}
    jobs = [j for j in jobs if a.redo or j not in have]
    inv = {"argv": sys.argv[1:], "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           **environment(a)}
    t0 = time.time()

    def done(rec: dict) -> None:
        key = (rec["dataset"], rec["method"], rec["seed"])
        res["runs"] = [r for r in res["runs"] if (r["dataset"], r["method"], r["seed"]) != key] + [rec]
        Path(a.out).write_text(json.dumps(res, indent=1))
        print(json.dumps(rec), flush=True)

    res["invocations"].append(inv)
    if a.reevaluate:
        todo = [r for r in res["runs"] if r["method"] != PEER and "run_dir" in r
                and r.get("evaluate_commit") != inv["ours_commit"]]
        with ThreadPoolExecutor(max(1, min(2, a.workers))) as pool:
            for fut in as_completed([pool.submit(evaluate_ours, dict(r), a) for r in todo]):
                done(fut.result())
        inv["seconds"] = round(time.time() - t0, 1)
        Path(a.out).write_text(json.dumps(res, indent=1))
        print(markdown(res))
        return
    with ThreadPoolExecutor(max(1, min(2, a.workers))) as pool:
        for fut in as_completed([pool.submit(run_one, j, a) for j in jobs]):
            rec = fut.result()
            if rec["method"] == PEER:
                rec["commit"] = PEER_COMMIT
            done(rec)
    inv["seconds"] = round(time.time() - t0, 1)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(markdown(res))


if __name__ == "__main__":
    main()
