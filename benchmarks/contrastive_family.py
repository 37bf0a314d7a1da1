"""Contrastive family on Fashion-MNIST under one wall-clock budget.

For every method (simclr + moco-v1, moco-v2, memory-bank, byol, simsiam, barlow-twins,
vicreg): pretrain with ``selfsup pretrain`` for ``--minutes`` of training (the learning rate
annealed by the wall-clock budget), evaluate with ``selfsup evaluate`` (kNN 100%, linear 1% and
100%; the baselines raw/PCA/random-init once, with the first run: they do not depend on the
method), and
measure the throughput of the method's training step (images/s: forward + backward +
optimizer step + on_after_optimizer_step on a batch of 256, after warm-up).

    .venv/bin/python benchmarks/contrastive_family.py --minutes 3 --seeds 0 --out bench_runs/contrastive

Prints one markdown table (mean ± std over seeds) to paste into BENCHMARKS.md and writes
``summary.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

METHODS = ["simclr", "moco-v1", "moco-v2", "memory-bank", "byol", "simsiam", "barlow-twins", "vicreg"]


def step_images_per_s(name: str, encoder: str, preset: str | None = None, batch: int = 256, steps: int = 5,
                      overrides: dict | None = None) -> float:
    from selfsup.data import load_dataset
    from selfsup.methods import get_method
    from selfsup.train.optim import build_optimizer
    from selfsup.train.run import build_method, resolve_config

    d = load_dataset("fashion-mnist")
    cfg = resolve_config(name, "fashion-mnist", encoder=encoder, preset=preset, overrides=overrides or {})
    from selfsup.methods import DataInfo

    mean, std = d.channel_stats()
    info = DataInfo(tuple(d.input_shape), mean, std, len(d.x_train))
    m = build_method(cfg, get_method(name), info)
    opt = build_optimizer(m, cfg.optim)
    x, idx = d.x_train[:batch], torch.arange(batch)
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        loss = m.training_step((x, idx)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.on_after_optimizer_step(s)
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times[1:])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default="bench_runs/contrastive")
    ap.add_argument("--encoder", default="small-cnn-2x2", help="encoder of every method (the quickstart's)")
    ap.add_argument("--presets", default="", help="method=preset pairs, e.g. moco-v1=fast,moco-v2=fast "
                    "(rows are then named 'method [preset]')")
    ap.add_argument("--set", action="append", default=[], metavar="METHOD:KEY=VALUE",
                    help="extra setting of one method (repeatable); the row is then named 'method {key=value}'")
    ap.add_argument("--baselines", default="raw,pca,random_init", help="baselines of the first run ('none' to skip)")
    ap.add_argument("--add-seeds", action="store_true",
                    help="keep the runs a row already has in --out's summary.json and add these seeds' runs to it "
                         "(same method, preset, settings, encoder and minutes); without it a row is replaced")
    ap.add_argument("--match-epochs", action="store_true",
                    help="with --add-seeds: train each added seed for the epochs the row's first run reached in its "
                         "--minutes (an epoch budget instead of the clock, so a loaded machine changes only the seconds)")
    ap.add_argument("--skip-train", action="store_true", help="only measure step throughput")
    ap.add_argument("--table-only", action="store_true", help="print the table of --out's summary.json and stop")
    a = ap.parse_args()
    out = Path(a.out)
    if a.table_only:
        print(table(json.loads((out / "summary.json").read_text())))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-m", "selfsup.cli.main"]
    summary: dict = {}
    baselines = a.baselines
    presets = dict(p.split("=", 1) for p in a.presets.split(",") if p)
    summary_path = out / "summary.json"
    if summary_path.exists():  # rows of an earlier invocation with the same --out are kept
        summary = json.loads(summary_path.read_text())
    for name in a.methods.split(","):
        preset = presets.get(name)
        sets = [kv.split(":", 1)[1] for kv in a.set if kv.split(":", 1)[0] == name]
        from selfsup.config import parse_set

        over = parse_set(sets)
        label = (f"{name} [{preset}]" if preset else name) + (f" {{{', '.join(sets)}}}" if sets else "")
        tag = "".join(f"-{kv.replace('=', '')}" for kv in sets)
        row: dict = {"images_per_s": step_images_per_s(name, a.encoder, preset, overrides=over), "runs": [],
                     "encoder": a.encoder, "minutes": a.minutes, "preset": preset, "settings": sets}
        prev = summary.get(label)
        if a.match_epochs and (not a.add_seeds or prev is None):
            raise SystemExit(f"--match-epochs needs --add-seeds and an earlier run of '{label}' in {summary_path}")
        budget = ["--max-minutes", str(a.minutes), "--epochs", "100"]
        if a.match_epochs:
            budget = ["--epochs", repr(float(prev["runs"][0]["epochs"]))]
            row["matched_epochs"] = float(prev["runs"][0]["epochs"])  # the row's first run, in its minutes
        if not a.skip_train:
            for seed in a.seeds.split(","):
                load_before = os.getloadavg()[0]
                run = out / ((f"{name}-{preset}" if preset else name) + f"{tag}-s{seed}")
                subprocess.run([*exe, "pretrain", name, "--data", "fashion-mnist", "--out", str(run),
                                "--encoder", a.encoder, *budget, "--seed", seed, "--no-progress", *(["--preset", preset] if preset else []),
                                *[x for kv in sets for x in ("--set", kv)]],
                               check=True)
                subprocess.run([*exe, "evaluate", str(run), "--protocols", "knn,linear", "--labels", "1%,100%",
                                "--baselines", baselines], check=True)
                baselines = "none"
                res = json.loads((run / "results.json").read_text())
                res["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # before / after the run
                res["budget"] = budget
                row["runs"].append(res)
        if a.add_seeds and prev is not None:
            if (prev.get("encoder"), prev.get("minutes")) != (a.encoder, a.minutes):
                raise SystemExit(f"--add-seeds: row '{label}' was run with encoder {prev.get('encoder')} and "
                                 f"{prev.get('minutes')} minutes, not {a.encoder} and {a.minutes}")
            row["runs"] = prev["runs"] + row["runs"]
            row["images_per_s_earlier"] = prev.get("images_per_s_earlier", []) + [prev["images_per_s"]]
        summary[label] = row
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table(summary))
    return 0


def _ms(vals: list[float]) -> str:
    if not vals:
        return "n/a"
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{100 * statistics.mean(vals):.1f} ± {100 * sd:.1f}"


def table(summary: dict) -> str:
    lines = ["| method | kNN 100% | linear 1% | linear 100% | epochs in the budget | step images/s |",
             "|---|---|---|---|---|---|"]
    base: dict = {}
    for name, row in summary.items():
        get = lambda r, p, f: r["protocols"].get(p, {}).get(f, {}).get("mean")
        cells = [_ms([v for r in row["runs"] if (v := get(r, p, f)) is not None])
                 for p, f in (("knn", "100%"), ("linear", "1%"), ("linear", "100%"))]
        epochs = "/".join(f"{r.get('epochs', float('nan')):.2f}" for r in row["runs"])
        lines.append(f"| {name} | {' | '.join(cells)} | {epochs} | {row['images_per_s']:.0f} |")
        for r in row["runs"]:
            for b, res in r.get("baselines", {}).items():
                base.setdefault(b, res)
    for b, res in base.items():
        g = lambda p, f: res.get(p, {}).get(f, {}).get("mean")
        cells = [f"{100 * v:.1f}" if (v := g(p, f)) is not None else "n/a"
                 for p, f in (("knn", "100%"), ("linear", "1%"), ("linear", "100%"))]
        lines.append(f"| baseline: {b} | {' | '.join(cells)} | | |")
    lines += ["", margins(summary, base)]
    return "\n".join(lines)


def margins(summary: dict, base: dict) -> str:
    """Each method's margin over the best baseline on kNN 100% and linear 1% (percentage points,
    mean over pretraining seeds; in brackets the smallest seed's margin)."""
    out = ["Margin over the best baseline (points; mean over seeds, [worst seed]):", ""]
    for name, row in summary.items():
        parts = []
        for p, f in (("knn", "100%"), ("linear", "1%")):
            best = max((res.get(p, {}).get(f, {}).get("mean") or 0.0) for res in base.values()) if base else None
            vals = [r["protocols"][p][f]["mean"] for r in row["runs"] if f in r["protocols"].get(p, {})]
            if best is None or not vals:
                continue
            parts.append(f"{p} {f}: {100 * (statistics.mean(vals) - best):+.1f} [{100 * (min(vals) - best):+.1f}]")
        out.append(f"- {name}: " + ", ".join(parts))
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
