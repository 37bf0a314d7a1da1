"""Split-brain, autoencoders, PCA and GMM (and SimCLR) on Fashion-MNIST, one table.

Neural methods are pretrained on the Lightning engine (``selfsup.train.run.pretrain``, the
code path of ``selfsup pretrain``) for ``--minutes`` of training each (the learning rate
annealed by the budget), with the same encoder (small-cnn, ``--width``) and one torch
thread; PCA and GMM are fitted by ``selfsup pretrain pca|gmm``. Every run is evaluated
on the same frozen-feature protocols of the harness:

* kNN with 100% of the labels (k=200, the harness default),
* linear probe with 1% of the labels (class-balanced subsets, seeds 0,1,2),
* cluster: k-means (k=10) on the L2-normalised test features, NMI and ARI (seeds 0,1,2),

plus the raw-pixel row. Split-brain's representation concatenates its two sub-networks
(2 x the encoder width). The UCR BasicMotions check (split-brain, accelerometer <->
gyroscope, series protocols vs raw 1-NN) runs with ``--ucr``.

    flock /tmp/selfsup-heavy.lock nice -n 5 .venv/bin/python benchmarks/split_brain.py \\
        --minutes 3 --out benchmarks/split_brain.json --ucr

Writes the json after every method (partial results survive an interruption) and prints
the markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

NEURAL = {
    "split-brain": {"split": "halves"},
    "autoencoder": {},
    "denoising-ae": {},
    "masked-ae": {},
    "simclr": {},
}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "?"


def evaluate_features(ftr, ytr, fte, yte, seeds):
    from selfsup.eval.harness import EvalConfig, protocols_on_features

    knn = protocols_on_features(ftr, ytr, fte, yte, EvalConfig(protocols=("knn",), labels=("100%",), seeds=seeds), 10)
    lin = protocols_on_features(ftr, ytr, fte, yte, EvalConfig(protocols=("linear", "cluster"), labels=("1%",),
                                                               seeds=seeds), 10)
    return {"knn_100": knn["knn"]["100%"], "linear_1": lin["linear"]["1%"], "nmi": lin["cluster"]["nmi"],
            "ari": lin["cluster"]["ari"], "dim": int(ftr.shape[1])}


def run_neural(name: str, data, out: Path, minutes: float, width: int, extra: dict, encoder: str = "small-cnn",
               threads: int = 1) -> dict:
    from selfsup.eval.features import load_run_encoder
    from selfsup.train.run import pretrain, resolve_config

    over = {"max_minutes": minutes, "epochs": 100, "threads": threads, "ckpt_every_minutes": 0.0, **extra}
    cfg = resolve_config(name, "fashion-mnist", encoder=encoder, encoder_width=width, overrides=over)
    meta = pretrain(cfg, out / name, data=data, progress=False, schedule_by_time=True)
    feat, _ = load_run_encoder(out / name)
    return {"train": {k: meta.get(k) for k in ("steps", "epochs", "train_seconds", "final_loss")},
            "features": (feat(data.x_train), feat(data.x_test))}


def run_random_init(data, out: Path, width: int, encoder: str, threads: int) -> dict:
    """The encoder of the neural rows, untrained (seed 0), featurised like a pretrained run.

    A tiny autoencoder run (a budget of a few steps) gives a run directory whose featurizer carries the
    preprocessing; ``random_init`` then swaps in freshly initialised weights.
    """
    from selfsup.eval.baselines import random_init
    from selfsup.eval.features import load_run_encoder
    from selfsup.train.run import pretrain, resolve_config

    over = {"max_minutes": 0.002, "epochs": 1, "threads": threads, "ckpt_every_minutes": 0.0}
    cfg = resolve_config("autoencoder", "fashion-mnist", encoder=encoder, encoder_width=width, overrides=over)
    pretrain(cfg, out / "random-init-carrier", data=data, progress=False)
    feat, _ = load_run_encoder(out / "random-init-carrier")
    feat = random_init(feat, seed=0)
    return {"train": {"fit_seconds": 0.0}, "features": (feat(data.x_train), feat(data.x_test))}


def run_fitted(name: str, out: Path) -> dict:
    import selfsup
    from selfsup.eval.features import load_run_encoder

    t0 = time.monotonic()
    selfsup.pretrain(name, "fashion-mnist", out / name)
    secs = time.monotonic() - t0
    from selfsup.data import load_dataset

    data = load_dataset("fashion-mnist")
    feat, _ = load_run_encoder(out / name)
    return {"train": {"fit_seconds": round(secs, 1)}, "features": (feat(data.x_train), feat(data.x_test))}


def ucr_check(out: Path, minutes: float) -> dict:
    import selfsup

    run = out / "split-brain-basicmotions"
    args = ["pretrain", "split-brain", "--data", "ucr:BasicMotions", "--out", str(run),
            "--set", "split=channels:0,1,2/3,4,5", "--set", f"max_minutes={minutes}", "--epochs", "200"]
    selfsup.pretrain("split-brain", "ucr:BasicMotions", run, split="channels:0,1,2/3,4,5", max_minutes=minutes,
                     epochs=200)
    res = selfsup.evaluate(run, protocols=["svm", "linear", "1nn"], labels=["100%"])
    return {"command": "selfsup " + " ".join(args), "protocols": res["protocols"], "baselines": res["baselines"],
            "train_seconds": res.get("train_seconds"), "epochs": res.get("epochs")}


def fmt(e: dict) -> str:
    return f"{e['mean']:.3f} ± {e['std']:.3f}"


def table(results: dict) -> str:
    lines = ["| method | features | kNN 100% | linear 1% | cluster NMI | cluster ARI | pretraining |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results["methods"].items():
        t = r["train"]
        tr = (f"{t['epochs']} ep, {t['train_seconds']:.0f} s" if "epochs" in t else f"fit {t.get('fit_seconds', 0)} s")
        lines.append(f"| {name} | {r['dim']} | {fmt(r['knn_100'])} | {fmt(r['linear_1'])} | {fmt(r['nmi'])} | "
                     f"{fmt(r['ari'])} | {tr} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget per neural method")
    ap.add_argument("--width", type=int, default=16, help="small-cnn width (channels of the first layer)")
    ap.add_argument("--encoder", default="small-cnn", help="encoder of the neural methods (e.g. small-cnn-2x2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 leaves a core to other jobs)")
    ap.add_argument("--methods", default="raw,pca,gmm,split-brain,masked-ae,autoencoder,denoising-ae,simclr",
                    help="comma-separated; also 'random-init' (the neural rows' encoder, untrained) and 'kmeans'")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--ucr", action="store_true", help="also run split-brain on UCR BasicMotions")
    ap.add_argument("--ucr-minutes", type=float, default=1.0)
    ap.add_argument("--runs", default="bench_runs/split_brain", help="where the run directories go")
    ap.add_argument("--out", default="benchmarks/split_brain.json")
    ap.add_argument("--append", action="store_true",
                    help="add rows named 'METHOD (M min)' to an existing --out json instead of replacing it")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from selfsup.data import load_dataset
    from selfsup.eval.baselines import raw_features

    seeds = tuple(int(s) for s in args.seeds.split(","))
    runs = Path(args.runs) / time.strftime("%Y%m%d-%H%M%S")
    runs.mkdir(parents=True, exist_ok=True)
    data = load_dataset("fashion-mnist")
    out_path = Path(args.out)
    previous = json.loads(out_path.read_text()) if args.append and out_path.exists() else None
    results = {
        "command": "python " + " ".join(sys.argv), "commit": _git_commit(), "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        "torch": torch.__version__, "python": platform.python_version(),
        "settings": {"minutes": args.minutes, "width": args.width, "encoder": args.encoder, "threads": args.threads,
                     "seeds": list(seeds), "knn_k": 200},
        "methods": {},
    }
    if previous is not None:  # keep the earlier rows; this run's command is recorded per row
        previous.setdefault("extra_runs", []).append({k: results[k] for k in ("command", "commit", "date", "settings")})
        results = previous
    for name in args.methods.split(","):
        t0 = time.monotonic()
        print(f"== {name}", flush=True)
        if name == "raw":
            r = {"train": {"fit_seconds": 0.0},
                 "features": (raw_features(data.x_train), raw_features(data.x_test))}
        elif name in ("pca", "gmm", "kmeans"):
            r = run_fitted(name, runs)
        elif name == "random-init":  # the neural rows' encoder with fresh weights: what pretraining must add to
            r = run_random_init(data, runs, args.width, args.encoder, args.threads)
        else:
            r = run_neural(name, data, runs, args.minutes, args.width, NEURAL.get(name, {}), args.encoder, args.threads)
        ftr, fte = r.pop("features")
        r.update(evaluate_features(ftr, data.y_train, fte, data.y_test, seeds))
        r["wall_seconds"] = round(time.monotonic() - t0, 1)
        if args.append:
            r["command"] = "python " + " ".join(sys.argv)
        enc = "" if args.encoder == "small-cnn" else f", {args.encoder} width {args.width}"
        if name == "random-init":
            label = f"random-init ({args.encoder} width {args.width}, untrained)"
        else:
            label = f"{name} ({args.minutes:g} min{enc})" if args.append else name
        results["methods"][label] = r
        print(json.dumps({k: v for k, v in r.items()}, default=str)[:400], flush=True)
        out_path.write_text(json.dumps(results, indent=2))
    if args.ucr:
        print("== ucr:BasicMotions split-brain (accelerometer <-> gyroscope)", flush=True)
        results["basicmotions"] = ucr_check(runs, args.ucr_minutes)
        out_path.write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
