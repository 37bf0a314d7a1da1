"""Memory bank: Wu et al.'s NCE vs sampled InfoNCE on Fashion-MNIST, at the same number of epochs.

Three arms of ``selfsup pretrain memory-bank`` (small-cnn-2x2 encoder, ``--epochs E``, so the result does
not depend on the machine's load, unlike a ``--max-minutes`` budget):

* ``infonce``: the defaults (sampled InfoNCE over 4,096 negatives, the default head: linear since 2026-12-07,
  MLP when the json was measured; bank filled with the initial network's features);
* ``paper``: ``--preset paper`` (Wu et al.: NCE with Z fixed on the first batch, linear head, random bank);
* ``nce``: the defaults with ``--set loss=nce`` (NCE on the default head and bank);

each then ``selfsup evaluate RUN --protocols knn,linear --labels 1%,100%`` (the harness chooses kNN's k,
the linear probe's L2 and the baselines' settings on the validation split; the test set is read once per
number). The baselines (raw, PCA, random-init) are computed with the first evaluation only: they do not
depend on the run.

    nice -n 19 .venv/bin/python benchmarks/memory_bank_nce.py --epochs 1 --seeds 0 --out bench_runs/mb_nce

A run directory that already holds ``results.json`` is not run again (so an interrupted invocation, or a
second one with more seeds, continues). Writes ``summary.json`` in ``--out`` (copy it to
``benchmarks/memory_bank_nce.json``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARMS: dict[str, list[str]] = {
    "infonce": [],
    "paper": ["--preset", "paper"],
    "nce": ["--set", "loss=nce"],
}
CELLS = (("knn", "100%"), ("knn", "1%"), ("linear", "1%"), ("linear", "100%"))


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _pretrained(run: Path) -> bool:
    path = run / "run.json"
    return path.exists() and json.loads(path.read_text()).get("status") == "finished"


def _final_log_z(run: Path) -> float | None:
    """The NCE runs' ``log Z`` as saved in the run's last checkpoint (None for InfoNCE or without one)."""
    import torch

    ckpts = sorted(run.rglob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    for c in reversed(ckpts):
        state = torch.load(c, map_location="cpu", weights_only=False).get("state_dict", {})
        for k, v in state.items():
            if k.endswith("nce.log_z"):
                return float(v)
    return None


def _loss_curve(run: Path) -> dict:
    """First and last logged training loss (metrics.csv), to show which way each loss went."""
    path = run / "metrics.csv"
    if not path.exists():
        return {}
    rows = [r.split(",") for r in path.read_text().splitlines()]
    head, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    if "loss" not in head or not body:
        return {}
    i = head.index("loss")
    vals = [float(r[i]) for r in body if r[i]]
    return {"loss_first_logged": vals[0], "loss_last_logged": vals[-1], "loss_min_logged": min(vals)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma list of {', '.join(ARMS)}")
    ap.add_argument("--encoder", default="small-cnn-2x2")
    ap.add_argument("--out", default="bench_runs/mb_nce")
    ap.add_argument("--table-only", action="store_true", help="print the table of --out's summary.json and stop")
    a = ap.parse_args()
    out = Path(a.out)
    summary_path = out / "summary.json"
    if a.table_only:
        print(table(json.loads(summary_path.read_text())))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {"runs": {}}
    summary.update({"epochs": a.epochs, "encoder": a.encoder, "machine": f"{platform.machine()}, "
                    f"{os.cpu_count()} CPUs, {platform.python_version()}"})
    exe = [sys.executable, "-m", "selfsup.cli.main"]
    need_baselines = "baselines" not in summary
    for seed in a.seeds.split(","):
        for arm in a.arms.split(","):
            if arm not in ARMS:
                raise SystemExit(f"unknown arm '{arm}' (choose from {', '.join(ARMS)})")
            name = f"{arm}-e{a.epochs}-s{seed}"
            run = out / name
            timing = summary["runs"].get(name, {}).get("timing", {})
            if not _pretrained(run):
                load0, t0 = os.getloadavg()[0], time.time()
                subprocess.run([*exe, "pretrain", "memory-bank", "--data", "fashion-mnist", "--encoder", a.encoder,
                                "--epochs", str(a.epochs), "--seed", seed, "--out", str(run), "--no-progress",
                                *ARMS[arm]], check=True)
                timing = {"pretrain_wall_s": round(time.time() - t0, 1),
                          "load_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}
            if not (run / "results.json").exists():
                t1 = time.time()
                subprocess.run([*exe, "evaluate", str(run), "--protocols", "knn,linear", "--labels", "1%,100%",
                                *([] if need_baselines else ["--baselines", "none"])], check=True)
                timing = {**timing, "evaluate_wall_s": round(time.time() - t1, 1), "commit": _git_commit(),
                          "evaluated_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
            info = json.loads((run / "run.json").read_text())
            timing = {**timing, "train_seconds": info.get("train_seconds"), "epochs": info.get("epochs"),
                      "steps": info.get("steps")}
            res = json.loads((run / "results.json").read_text())
            if res.get("baselines"):
                summary["baselines"] = res["baselines"]
                need_baselines = False
            summary["runs"][name] = {"arm": arm, "seed": int(seed), "command_args": ARMS[arm], "timing": timing,
                                     "log_z": _final_log_z(run), **_loss_curve(run),
                                     "final_loss": info.get("final_loss"),
                                     "protocols": res.get("protocols", {}), "results": res}
            summary_path.write_text(json.dumps(summary, indent=1))
    print(table(summary))
    return 0


def _get(res: dict, p: str, f: str) -> float | None:
    return res.get(p, {}).get(f, {}).get("mean")


def table(summary: dict) -> str:
    lines = ["| arm | seeds | kNN 100% | kNN 1% | linear 1% | linear 100% | loss first → last logged | log Z | "
             "train s |", "|---|---|---|---|---|---|---|---|---|"]
    for arm in ARMS:
        runs = [r for r in summary["runs"].values() if r["arm"] == arm]
        if not runs:
            continue
        cells = []
        for p, f in CELLS:
            vals = [v for r in runs if (v := _get(r["protocols"], p, f)) is not None]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{100 * statistics.mean(vals):.1f} ± {100 * sd:.1f}" if vals else "n/a")
        curve = "; ".join(f"{r.get('loss_first_logged', float('nan')):.2f} → {r.get('loss_last_logged', float('nan')):.2f}"
                          for r in runs)
        log_z = "; ".join(f"{r['log_z']:.2f}" for r in runs if r.get("log_z") is not None) or "—"
        secs = "; ".join(f"{r['timing'].get('train_seconds') or float('nan'):.0f}" for r in runs)
        label = f"{arm} ({' '.join(runs[0]['command_args']) or 'defaults'})"
        lines.append(f"| {label} | {','.join(str(r['seed']) for r in runs)} | {' | '.join(cells)} | {curve} | "
                     f"{log_z} | {secs} |")
    for b, res in summary.get("baselines", {}).items():
        cells = [f"{100 * v:.1f}" if (v := _get(res, p, f)) is not None else "n/a" for p, f in CELLS]
        lines.append(f"| baseline: {b} | | {' | '.join(cells)} | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
