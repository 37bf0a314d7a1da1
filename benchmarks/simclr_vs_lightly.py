"""SimCLR on Fashion-MNIST: selfsup vs lightly, side by side in one run.

Both sides train the same network (``small-cnn``: 4 x conv3x3-BN-ReLU, 256-d) with
the same batch size, optimiser (Adam, constant lr 1e-3, no weight decay) and NT-Xent
temperature (0.5) from the same seed:

* **selfsup**: ``selfsup pretrain simclr`` exactly as a user runs it (the CLI in a
  subprocess of this venv: uint8 batches in memory, batched augmentation, Lightning
  module, checkpoints and metrics.csv included);
* **lightly**: ``benchmarks/peer_lightly_simclr.py`` in its own venv
  (``benchmarks/peer_venv.sh``): PIL dataset, lightly's SimCLRTransform in 2
  DataLoader workers, SimCLRProjectionHead, NTXentLoss.

Throughput (images/s, each image counted once although it gives two views; the
first ``--warmup-steps`` steps untimed) is measured in ``--rounds`` alternating
rounds, so machine noise hits both sides alike; the ratio of medians is reported.
Quality: both train ``--quality-epochs`` epochs, then the same weighted kNN (cosine) and
linear probe (100% labels) score the frozen 256-d features on the 10k test images, with kNN's
k and the probe's L2 chosen on a validation split of the training features for both sides
(the harness's selection; before 2026-12-02 a fixed k = 200).

Usage:
    .venv/bin/python benchmarks/simclr_vs_lightly.py                 # full run
    .venv/bin/python benchmarks/simclr_vs_lightly.py --rounds 1 --steps 30 --quality-epochs 0
    # identical augmentations (issue 18): lightly's crop scale and the Gaussian of the same sigma in ours,
    # blur on for both, then off for both:
    .venv/bin/python benchmarks/simclr_vs_lightly.py --ours-set crop_scale_min=0.08 --ours-set blur_p=0.5 \
        --ours-set blur_kernel=13 --out benchmarks/simclr_vs_lightly_same_aug_blur.json
    .venv/bin/python benchmarks/simclr_vs_lightly.py --ours-set crop_scale_min=0.08 --peer-blur 0 \
        --out benchmarks/simclr_vs_lightly_same_aug_noblur.json
    # quality only, both sides over several seeds, ours with an extra setting:
    .venv/bin/python benchmarks/simclr_vs_lightly.py --rounds 0 --quality-seeds 0,1 \
        --ours-set blur_p=0.5 --out benchmarks/simclr_vs_lightly_quality.json

Writes ``benchmarks/simclr_vs_lightly.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH = 60000 // 256


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peer_python() -> str:
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "peer_venv.sh")], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def run_peer(py: str, steps: int, args: argparse.Namespace, features: Path | None = None,
             seed: int | None = None) -> dict:
    cmd = [py, str(ROOT / "benchmarks" / "peer_lightly_simclr.py"), "--max-steps", str(steps),
           "--epochs", str(max(1.0, steps / STEPS_PER_EPOCH)), "--batch-size", str(args.batch_size),
           "--temperature", "0.5", "--lr", "1e-3", "--seed", str(args.seed if seed is None else seed),
           "--warmup-steps", str(args.warmup_steps), "--threads", str(args.threads), "--num-workers", str(args.peer_workers),
           "--gaussian-blur", str(args.peer_blur)]
    if features is not None:
        cmd += ["--features-out", str(features)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ours(steps: int, args: argparse.Namespace, run_dir: Path, seed: int | None = None) -> dict:
    if run_dir.exists():
        shutil.rmtree(run_dir)
    epochs = steps / STEPS_PER_EPOCH
    cmd = [sys.executable, "-m", "selfsup.cli.main", "pretrain", "simclr", "--data", "fashion-mnist",
           "--encoder", "small-cnn", "--out", str(run_dir), "--epochs", repr(epochs),
           "--batch-size", str(args.batch_size), "--seed", str(args.seed if seed is None else seed),
           "--set", "temperature=0.5", "--set", "optimizer=adam", "--set", "lr=1e-3",
           "--set", "schedule=constant", "--set", "warmup_epochs=0", "--set", "weight_decay=0",
           "--set", "log_every_steps=1", "--set", f"threads={args.threads}", "--no-progress"]
    for kv in args.ours_set:  # extra settings of ours only (e.g. blur_p=0.5, lightly's blur)
        cmd += ["--set", kv]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    by_step = {int(r["step"]): float(r["elapsed_s"]) for r in rows}
    last = max(by_step)
    w = args.warmup_steps
    seconds = by_step[last] - by_step[w]
    meta = json.loads((run_dir / "run.json").read_text())
    return {"images_per_s": round((last - w) * args.batch_size / seconds, 2), "steps": last,
            "timed_steps": last - w, "seconds": round(seconds, 3), "final_loss": meta.get("final_loss"),
            "torch_version": meta["torch_version"], "selfsup_version": meta["selfsup_version"],
            "precision": meta.get("precision", "32-true")}


def score(train_x, train_y, test_x, test_y) -> dict:
    """kNN and linear probe with all labels, both sides under the harness's selection: k and the probe's L2
    chosen on a stratified validation split of the training features (EvalConfig's), the test set read once."""
    import torch

    from selfsup.eval.harness import EvalConfig, protocols_on_features

    t = [torch.as_tensor(a) for a in (train_x, train_y, test_x, test_y)]
    cfg = EvalConfig(protocols=("knn", "linear"), labels=("100%",), seeds=(0,))
    r = protocols_on_features(t[0].float(), t[1].long(), t[2].float(), t[3].long(), cfg, num_classes=10)
    knn, lin = r["knn"]["100%"], r["linear"]["100%"]
    return {"knn_100": round(knn["mean"], 4), "linear_100": round(lin["mean"], 4),
            "selected": {"knn": knn.get("selected"), "linear": lin.get("selected"),
                         "selected_on": "validation split of the training features (EvalConfig)"}}


def our_features(run_dir: Path):
    from selfsup.data import load_dataset
    from selfsup.eval.features import load_run_encoder

    feat, _ = load_run_encoder(run_dir)
    data = load_dataset("fashion-mnist")
    return feat(data.x_train), data.y_train, feat(data.x_test), data.y_test


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    p.add_argument("--steps", type=int, default=60, help="steps per throughput round")
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peer-workers", type=int, default=2, help="DataLoader workers for lightly (2: one per core, its natural setting)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quality-epochs", type=int, default=1, help="epochs for the kNN comparison (0 = skip)")
    p.add_argument("--quality-seeds", default=None,
                   help="comma-separated seeds of the quality runs, each side once per seed (default: --seed)")
    p.add_argument("--ours-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra --set for our runs only (repeatable), e.g. blur_p=0.5")
    p.add_argument("--peer-blur", type=float, default=0.5,
                   help="lightly's Gaussian-blur probability (its default 0.5; 0 with ours at blur_p=0 for blur off on both)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "simclr_vs_lightly.json")
    args = p.parse_args(argv)
    if args.rounds < 1 and args.quality_epochs < 1:
        p.error("nothing to do: --rounds 0 and --quality-epochs 0")
    quality_seeds = [int(x) for x in (args.quality_seeds or str(args.seed)).split(",")]

    import numpy as np
    import torch

    py = peer_python()
    tmp = Path(tempfile.mkdtemp(prefix="selfsup-bench-"))
    ours_tp, peer_tp = [], []
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}: lightly ...")
        peer_tp.append(run_peer(py, args.steps, args))
        log(f"  lightly {peer_tp[-1]['images_per_s']} img/s; selfsup ...")
        ours_tp.append(run_ours(args.steps, args, tmp / "tp"))
        log(f"  selfsup {ours_tp[-1]['images_per_s']} img/s")
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "commit": git_commit(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {args.threads}",
        "command": "python benchmarks/simclr_vs_lightly.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {"batch_size": args.batch_size, "optimizer": "adam", "lr": 1e-3, "temperature": 0.5,
                     "encoder": "small-cnn", "steps_per_round": args.steps, "warmup_steps": args.warmup_steps,
                     "ours_extra_settings": list(args.ours_set),
                     "peer_gaussian_blur_p": args.peer_blur},
    }
    print("| | selfsup | lightly | ratio |\n|---|---|---|---|")
    if ours_tp:
        o = statistics.median(x["images_per_s"] for x in ours_tp)
        q = statistics.median(x["images_per_s"] for x in peer_tp)
        result.update({
            "selfsup": {"rounds": ours_tp, "median_images_per_s": o},
            "lightly": {"rounds": peer_tp, "median_images_per_s": q,
                        "lightly_version": peer_tp[0]["lightly_version"], "torch_version": peer_tp[0]["torch_version"]},
            "throughput_ratio": round(o / q, 3),
            # each round runs the two side by side, so its ratio shares the machine's load of the moment
            "round_ratios": [round(a["images_per_s"] / b["images_per_s"], 3) for a, b in zip(ours_tp, peer_tp)],
        })
        print(f"| images/s (median of {args.rounds}) | {o:.0f} | {q:.0f} | {o / q:.2f}x |\n"
              f"| per-round ratios | | | {', '.join(f'{r:.2f}' for r in result['round_ratios'])} |")
    if args.quality_epochs > 0:
        steps = args.quality_epochs * STEPS_PER_EPOCH
        runs = {"selfsup": [], "lightly": []}
        for seed in quality_seeds:  # the two sides alternate, one seed at a time, so load hits both alike
            log(f"quality: {args.quality_epochs} epoch(s) each, seed {seed}: lightly ...")
            feats = tmp / "peer_feats.npz"
            t0 = time.monotonic()
            peer_run = run_peer(py, steps, args, features=feats, seed=seed)
            peer_s = time.monotonic() - t0
            z = np.load(feats)
            runs["lightly"].append({"seed": seed, **score(z["train_x"], z["train_y"], z["test_x"], z["test_y"]),
                                    "wall_seconds": round(peer_s, 1), "images_per_s": peer_run["images_per_s"],
                                    "lightly_version": peer_run.get("lightly_version")})
            log(f"  lightly {runs['lightly'][-1]}; selfsup ...")
            t0 = time.monotonic()
            ours_run = run_ours(steps, args, tmp / "quality", seed=seed)
            ours_s = time.monotonic() - t0
            runs["selfsup"].append({"seed": seed, **score(*[torch.as_tensor(a) for a in our_features(tmp / "quality")]),
                                    "wall_seconds": round(ours_s, 1), "images_per_s": ours_run["images_per_s"]})
            log(f"  selfsup {runs['selfsup'][-1]}")
        quality = {"epochs": args.quality_epochs, "seeds": quality_seeds}
        for side, rs in runs.items():
            quality[side] = {**rs[0], "runs": rs} if len(rs) == 1 else {"runs": rs}
            for key in ("knn_100", "linear_100"):
                vals = [r[key] for r in rs]
                quality[side][f"{key}_mean"] = round(statistics.fmean(vals), 4)
                quality[side][f"{key}_std"] = round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0
        result["quality"] = quality
        for key in ("knn_100", "linear_100"):
            a, b = quality["selfsup"], quality["lightly"]
            print(f"| {key} after {args.quality_epochs} epoch(s), mean ± std over seeds {quality_seeds} | "
                  f"{a[key + '_mean']:.4f} ± {a[key + '_std']:.4f} | {b[key + '_mean']:.4f} ± {b[key + '_std']:.4f} | |")
    shutil.rmtree(tmp, ignore_errors=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
