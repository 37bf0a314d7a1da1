"""Video benchmark: frame-order, time-contrastive and tracking on moving-fashion-mnist.

Each method is pretrained through the CLI (``selfsup pretrain METHOD --data moving-fashion-mnist
--max-minutes M``), then its frame encoder is evaluated like ``selfsup evaluate`` does, side by
side with the baselines computed once on the same frames: single-frame item class (linear probe
and kNN at 1% / 10% / 100% labels, mean ± std over label seeds) against raw pixels, PCA and the
same encoder with random weights; motion direction from pooled frame features; frame-order
accuracy on held-out clips against chance. Writes ``benchmarks/video.json``.

    flock /tmp/selfsup-heavy.lock nice -n 5 .venv/bin/python benchmarks/video.py --minutes 15
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from selfsup.data.video import frame_task
from selfsup.eval.features import load_run_encoder
from selfsup.eval.harness import EvalConfig, evaluate
from selfsup.pipelines.video import (
    load_video_data,
    load_video_method,
    motion_results,
    order_accuracy,
)

METHODS = ("frame-order", "time-contrastive", "tracking")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cell(entry: dict | None) -> str:
    return "–" if not entry else f"{entry['mean']:.3f} ± {entry['std']:.3f}"


def markdown(res: dict) -> str:
    """The BENCHMARKS.md tables of a benchmarks/video.json."""
    labels = res["args"]["labels"].split(",")
    cols = list(res["methods"]) + [f"{b} (baseline)" for b in res.get("baselines", {})]
    entries = [e["protocols"] for e in res["methods"].values()] + list(res.get("baselines", {}).values())
    lines = []
    for proto, title in (("linear", "item class, linear probe"), ("knn", "item class, kNN"),
                         ("motion", "motion direction (4 classes), linear probe on pooled clip features")):
        lines += [f"{title}:", "", "| labels | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for lab in labels:
            lines.append(f"| {lab} | " + " | ".join(_cell(e.get(proto, {}).get(lab)) for e in entries) + " |")
        lines.append("")
    lines += ["| method | pretraining | steps | final loss |", "|---|---|---|---|"]
    for m, e in res["methods"].items():
        lines.append(f"| {m} | {e['train_seconds']} s | {e['steps']} | {e['final_loss']:.3f} |")
    fo = res["methods"].get("frame-order", {}).get("frame_order")
    if fo:
        lines += ["", f"frame-order accuracy on {fo['tuples']} tuples of {fo['clips']} held-out clips: "
                  f"{fo['accuracy']:.3f} (chance {fo['chance']:.3f})."]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--minutes", type=float, default=15.0, help="pretraining budget per method")
    p.add_argument("--width", type=float, default=16, help="small-cnn width (first layer channels)")
    p.add_argument("--encoder", default="small-cnn",
                   help="frame encoder of every method (the random-init baseline uses the same one)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per step")
    p.add_argument("--labels", default="1%,10%,100%")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--set", action="append", default=[], metavar="METHOD:KEY=VALUE",
                   help="extra pretraining setting for one method")
    p.add_argument("--motion-clips", type=int, default=600, help="one-item clips per split for the motion task")
    p.add_argument("--runs", default="runs/video-bench")
    p.add_argument("--out", default="benchmarks/video.json")
    p.add_argument("--markdown", action="store_true", help="print the tables of an existing --out file and exit")
    a = p.parse_args()
    if a.markdown:
        print(markdown(json.loads(Path(a.out).read_text())))
        return
    torch.set_num_threads(2)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    res: dict = {"commit": commit, "date": datetime.date.today().isoformat(), "machine": f"{cpu_name()}, "
                 f"{torch.get_num_threads()} threads, no GPU", "torch": torch.__version__,
                 "python": platform.python_version(), "args": vars(a), "methods": {}}
    runs = Path(a.runs)
    cfg = EvalConfig(protocols=("knn", "linear"), labels=tuple(a.labels.split(",")),
                     seeds=tuple(int(s) for s in a.seeds.split(",")), baselines=("raw", "pca", "random_init"))
    data = frames = None
    for i, m in enumerate([m for m in a.methods.split(",") if m]):
        out = runs / m
        if out.exists():  # never delete: an earlier run (ours or not) stays where it is
            raise SystemExit(f"{out} exists: pass --runs with a new folder (or delete it yourself)")
        extra = [kv.split(":", 1)[1] for kv in a.set if kv.split(":", 1)[0] == m]
        argv = ["pretrain", m, "--data", "moving-fashion-mnist", "--out", str(out), "--epochs", "1000",
                "--max-minutes", str(a.minutes), "--batch-size", str(a.batch_size), "--no-progress",
                "--encoder", a.encoder, "--set", f"encoder_width={a.width}"] + [x for kv in extra for x in ("--set", kv)]
        print("selfsup " + " ".join(argv), flush=True)
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "selfsup.cli.main", *argv], check=True)  # the command as recorded
        meta = json.loads((out / "run.json").read_text())
        if data is None:
            data = load_video_data("moving-fashion-mnist", meta.get("video_data"))
            frames = frame_task(data, per_clip=4)
            res["data"] = {"train_clips": len(data.x_train), "test_clips": len(data.x_test),
                           "item_frames_train": len(frames.x_train), "item_frames_test": len(frames.x_test)}
        featurizer, _ = load_run_encoder(out)
        base_cfg = cfg if i == 0 else EvalConfig(**{**cfg.__dict__, "baselines": ()})
        r = evaluate(featurizer, frames, base_cfg)
        motion, motion_base = motion_results(featurizer, data, base_cfg, base_cfg.baselines, print,
                                              max_clips=a.motion_clips)
        entry = {"command": "selfsup " + " ".join(argv), "train_seconds": meta.get("train_seconds"),
                 "steps": meta.get("steps"), "epochs": meta.get("epochs"), "final_loss": meta.get("final_loss"),
                 "protocols": {**r["protocols"], "motion": motion}, "wall_seconds": round(time.time() - t0, 1)}
        if m == "frame-order":
            entry["frame_order"] = order_accuracy(load_video_method(out, meta), data.x_test)
        res["methods"][m] = entry
        if i == 0:
            res["baselines"] = r["baselines"]
            for name, mb in motion_base.items():
                res["baselines"].setdefault(name, {})["motion"] = mb
        Path(a.out).write_text(json.dumps(res, indent=2))
    # the acceptance table: linear probe at 1% labels, method vs every baseline
    lab = cfg.labels[0]
    print(f"\nlinear probe, item class, {lab} labels (mean ± std over {len(cfg.seeds)} label seeds):")
    rows = [(n, e["protocols"]["linear"][lab]) for n, e in res["methods"].items()]
    rows += [(f"baseline {n}", b["linear"][lab]) for n, b in res.get("baselines", {}).items() if "linear" in b]
    for n, v in rows:
        print(f"  {n:<22} {v['mean']:.3f} ± {v['std']:.3f}")
    Path(a.out).write_text(json.dumps(res, indent=2))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
