"""Sweep a grid of pretraining settings, choose on the validation split, report the test number of the
chosen setting only.

Each grid point is one `selfsup pretrain` run (same data, budget and seed), scored with
`selfsup evaluate RUN --split validation` (the validation split carved from the training labels; the test
set is not read). The best point by the metric is then evaluated once on the test set with
`selfsup evaluate RUN` (the baselines through the same harness and the same selection). Everything
goes to OUT/sweep.json; the runs stay in OUT/runs/ (OUT must not exist yet: nothing is overwritten).

    python benchmarks/sweep.py --method moco-v2 --data fashion-mnist --minutes 3 \\
        --grid temperature=0.1,0.2 --grid preset=fast,- --metric knn:100% --out bench_runs/sweep_moco

For a graph, ``--metric linear:public --labels none`` chooses by the linear probe of the public split, scored
on the validation nodes (``evaluate --split validation``). A grid value ``-`` means "not set" (the method's default; for ``preset``: no preset). ``--grid encoder=...``
sweeps the encoder, ``--grid preset=...`` the preset; any other key goes to ``--set key=value``.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _grid(specs: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for spec in specs:
        key, _, values = spec.partition("=")
        if not key or not values:
            raise SystemExit(f"--grid wants KEY=V1,V2,... (got {spec!r})")
        out.append((key.strip(), [v.strip() for v in values.split(",")]))
    return out


def _point_name(point: dict[str, str]) -> str:
    return "_".join(f"{k}-{v}".replace("/", "-").replace("%", "pct") for k, v in point.items()) or "default"


def _metric(results: dict, metric: str) -> float:
    proto, _, label = metric.partition(":")
    return float(results["protocols"][proto][label]["mean"])


def _selfsup(args: list[str], log: Path) -> None:
    with open(log, "a") as f:
        f.write("$ selfsup " + " ".join(args) + "\n")
        f.flush()
        subprocess.run([sys.executable, "-m", "selfsup.cli.main", *args], check=True, stdout=f, stderr=subprocess.STDOUT,
                       cwd=ROOT)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--encoder", help="the encoder of every point (unless the grid sweeps it)")
    p.add_argument("--minutes", type=float, default=3.0, help="pretraining budget of each point")
    p.add_argument("--epochs", type=float, help="epochs of each point instead of a budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", action="append", default=[], help="KEY=V1,V2,... (repeatable; the product is swept)")
    p.add_argument("--metric", default="knn:100%", help="PROTOCOL:LABELS to choose by (on validation)")
    p.add_argument("--protocols", default="knn,linear", help="protocols of the final test evaluation")
    p.add_argument("--labels", default="1%,100%", help="label fractions of the final test evaluation")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    out = Path(a.out)
    if out.exists():
        raise SystemExit(f"{out} exists: pass --out with a new folder (nothing is overwritten)")
    (out / "runs").mkdir(parents=True)
    log = out / "sweep.log"
    grid = _grid(a.grid)
    proto, _, label = a.metric.partition(":")
    points = [dict(zip([k for k, _ in grid], combo)) for combo in itertools.product(*[v for _, v in grid])]
    res: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version(), "args": vars(a), "points": []}
    try:
        res["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip()
    except OSError:
        pass
    for i, point in enumerate(points):
        run = out / "runs" / _point_name(point)
        argv = ["pretrain", a.method, "--data", a.data, "--out", str(run), "--seed", str(a.seed), "--no-progress"]
        argv += ["--epochs", repr(a.epochs)] if a.epochs else ["--max-minutes", repr(a.minutes)]
        encoder = point.get("encoder", a.encoder)
        if encoder and encoder != "-":
            argv += ["--encoder", encoder]
        for k, v in point.items():
            if v == "-" or k == "encoder":
                continue
            argv += ["--preset", v] if k == "preset" else ["--set", f"{k}={v}"]
        print(f"[{i + 1}/{len(points)}] {point} ...", flush=True)
        t0 = time.monotonic()
        _selfsup(argv, log)
        t1 = time.monotonic()
        # a label fraction (1%, 100%) or a split name (a graph's "public" split: its protocol runs with no fractions)
        _selfsup(["evaluate", str(run), "--protocols", proto, "--labels", label if label.endswith("%") else "none",
                  "--baselines", "none", "--split", "validation"], log)
        val = json.loads((run / "validation.json").read_text())
        meta = json.loads((run / "run.json").read_text())
        entry = {"point": point, "command": "selfsup " + " ".join(argv), "run": str(run),
                 "val_" + a.metric: round(_metric(val, a.metric), 4), "epochs": meta.get("epochs"),
                 "steps": meta.get("steps"), "pretrain_s": round(t1 - t0, 1)}
        res["points"].append(entry)
        print(f"    validation {a.metric} = {entry['val_' + a.metric]:.4f} ({entry['epochs']} epochs)", flush=True)
        (out / "sweep.json").write_text(json.dumps(res, indent=2))
    best = max(res["points"], key=lambda e: e["val_" + a.metric])  # first of equals
    print(f"chosen on validation: {best['point']}; its test evaluation (read once) ...", flush=True)
    _selfsup(["evaluate", best["run"], "--protocols", a.protocols, "--labels", a.labels], log)
    test = json.loads((Path(best["run"]) / "results.json").read_text())
    res["chosen"] = {**best, "test": {pr: {lab: round(v["mean"], 4) for lab, v in test["protocols"][pr].items()}
                                      for pr in test["protocols"] if pr in a.protocols.split(",")},
                     "baselines_test": {b: {pr: {lab: round(v["mean"], 4) for lab, v in r[pr].items()}
                                            for pr in r if pr in a.protocols.split(",")}
                                        for b, r in test["baselines"].items()}}
    (out / "sweep.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res["chosen"], indent=2))


if __name__ == "__main__":
    main()
