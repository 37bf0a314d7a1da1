"""The linear probe's L2 grid, compared on the validation split only (the test set is not read).

For each evaluated image run given, the linear probe is scored with each grid on the validation split
(`EvalConfig(split="validation")`: the rest of the training labels train the probe, its L2 chosen on an inner
validation split), beside the baselines (raw pixels, PCA, the random-init encoder) under the same grid. A grid edge
that the selection keeps choosing (the report's "at an end of its grid" note) is what this measures: whether the
wider grid is chosen and what it gains on validation.

    python benchmarks/linear_l2_grid.py RUN [RUN ...] --grid 1e-4,1e-3,1e-2,1e-1 --grid 1e-5,1e-4,1e-3,1e-2,1e-1,1 \
        --out benchmarks/linear_l2_grid.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from collections import Counter
from pathlib import Path

import torch

from selfsup.data import load_dataset
from selfsup.eval.harness import EvalConfig, evaluate
from selfsup.eval.linear import LinearProbeConfig
from selfsup.eval.features import load_run_encoder


def parse_grid(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--grid", action="append", required=True, help="comma list of L2 values (repeat for each grid)")
    ap.add_argument("--labels", default="1%,10%,100%")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    grids = [parse_grid(g) for g in args.grid]
    labels = tuple(args.labels.split(","))
    rows = []
    data = None
    for i, run in enumerate(args.runs):
        featurizer, meta = load_run_encoder(run)
        if data is None:
            data = load_dataset(meta["dataset"])
        for grid in grids:
            cfg = EvalConfig(protocols=("linear",), labels=labels, split="validation",
                             baselines=("raw", "pca", "random_init") if i == 0 else (),
                             linear=LinearProbeConfig(l2_grid=grid))
            t0 = time.monotonic()
            res = evaluate(featurizer, data, cfg, log=lambda s: None)
            reps = {str(run): res["protocols"]}
            reps.update({f"baseline:{k}": v for k, v in res.get("baselines", {}).items()})
            for name, protos in reps.items():
                lin = protos["linear"]
                for lab in labels:
                    chosen = [s.get("l2") for s in lin[lab].get("selected", [])]
                    rows.append({"representation": name, "grid": list(grid), "labels": lab,
                                 "val_mean": lin[lab]["mean"], "values": lin[lab]["values"],
                                 "chosen_l2": chosen})
            print(f"{run} grid {grid}: {time.monotonic() - t0:.0f} s", flush=True)
    print("| representation | labels | " + " | ".join(f"grid {i + 1}" for i in range(len(grids))) + " | L2 chosen (last grid) |")
    print("|---|---|" + "---|" * len(grids) + "---|")
    keys = sorted({(r["representation"], r["labels"]) for r in rows}, key=lambda k: (k[0], labels.index(k[1])))
    for name, lab in keys:
        sel = [r for r in rows if r["representation"] == name and r["labels"] == lab]
        vals = " | ".join(f"{r['val_mean']:.4f}" for r in sel)
        chosen = Counter(f"{v:g}" for v in sel[-1]["chosen_l2"] if v is not None)
        print(f"| {name} | {lab} | {vals} | {dict(chosen)} |")
    if args.out:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        args.out.write_text(json.dumps({
            "what": "linear probe L2 grids compared on the validation split (test set not read)",
            "command": "python benchmarks/linear_l2_grid.py " + " ".join(str(r) for r in args.runs) + "".join(
                f" --grid {g}" for g in args.grid) + f" --labels {args.labels}",
            "grids": [list(g) for g in grids], "commit": commit, "date_utc": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
