"""bf16-mixed against fp32 in accuracy: the same SimCLR run at each precision, several seeds, evaluated alike.

    OMP_NUM_THREADS=1 SELFSUP_THREADS=1 SELFSUP_DATA_DIR=... python benchmarks/precision_accuracy.py \
        --seeds 0,1,2 --work /tmp/prec --out benchmarks/precision_accuracy.json
    # the configuration of benchmarks/simclr_vs_lightly.py with identical augmentations:
    python benchmarks/precision_accuracy.py --encoder small-cnn --set temperature=0.5 --set optimizer=adam \
        --set lr=1e-3 --set schedule=constant --set warmup_epochs=0 --set weight_decay=0 \
        --set crop_scale_min=0.08 --set blur_p=0.5 --set blur_kernel=13 --work /tmp/prec_lightly --out ...
    python benchmarks/precision_accuracy.py --merge A.json B.json --out C.json   # seeds run in two lanes

Per seed, `selfsup pretrain simclr --data fashion-mnist --epochs E --seed S --precision P` for each precision (the
order alternates per seed), then `selfsup evaluate DIR --protocols knn,linear --labels 1%,100% --baselines none`
(k and the linear probe's L2 chosen on the validation split; the test split read once per number). Writes every run's
test accuracies, training seconds and steps, and per precision the mean ± std over seeds and the per-seed differences
against the first precision. WORK must not exist (nothing is overwritten).
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

CELLS = [("knn", "100%"), ("linear", "1%"), ("linear", "100%"), ("knn", "1%")]


def selfsup(args: list[str], log) -> None:
    log.write("$ selfsup " + " ".join(args) + "\n")
    log.flush()
    subprocess.run([sys.executable, "-m", "selfsup.cli.main", *args], check=True, stdout=log, stderr=subprocess.STDOUT)


def summarise(runs: list[dict], precisions: list[str]) -> dict:
    out: dict = {}
    for p in precisions:
        rs = sorted((r for r in runs if r["precision"] == p), key=lambda r: r["seed"])
        if not rs:
            continue
        out[p] = {f"{pr} {lab}": {"mean": statistics.mean(r["test"][pr][lab] for r in rs),
                                  "std": statistics.stdev(r["test"][pr][lab] for r in rs) if len(rs) > 1 else 0.0}
                  for pr, lab in CELLS}
        out[p]["train_seconds"] = [r["train_seconds"] for r in rs]
        if p != precisions[0]:
            base = {r["seed"]: r for r in runs if r["precision"] == precisions[0]}
            out[p]["minus_" + precisions[0]] = {
                f"{pr} {lab}": [r["test"][pr][lab] - base[r["seed"]]["test"][pr][lab] for r in rs if r["seed"] in base]
                for pr, lab in CELLS}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--precisions", default="32,bf16-mixed")
    ap.add_argument("--encoder", default=None, help="the encoder (default: SimCLR's)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE for both precisions (repeatable)")
    ap.add_argument("--work", help="folder for the runs (must not exist)")
    ap.add_argument("--merge", nargs="+", help="combine the json files of several invocations instead of running")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    precisions = a.precisions.split(",")
    if a.merge:
        parts = [json.loads(Path(f).read_text()) for f in a.merge]
        res = {**parts[0], "runs": [r for p in parts for r in p["runs"]], "merged_from": a.merge}
        res["summary"] = summarise(res["runs"], res["precisions"])
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
        print(json.dumps(res["summary"], indent=1))
        return
    work = Path(a.work)
    work.mkdir(parents=True)  # refuses an existing folder
    extra = (["--encoder", a.encoder] if a.encoder else []) + [x for kv in a.set for x in ("--set", kv)]
    res = {"command": "python benchmarks/precision_accuracy.py " + " ".join(sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=Path(__file__).parent).stdout.strip(),
           "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "SELFSUP_THREADS")},
           "load_average_start": os.getloadavg(), "precisions": precisions, "settings": a.set,
           "encoder": a.encoder, "epochs": a.epochs, "runs": []}
    with open(work / "log.txt", "w") as log:
        for i, seed in enumerate(int(s) for s in a.seeds.split(",")):
            for p in (precisions if i % 2 == 0 else precisions[::-1]):
                run = work / f"{p}-s{seed}"
                selfsup(["pretrain", "simclr", "--data", "fashion-mnist", "--epochs", f"{a.epochs:g}", "--seed",
                         str(seed), "--precision", p, "--out", str(run), "--no-progress", *extra], log)
                selfsup(["evaluate", str(run), "--protocols", "knn,linear", "--labels", "1%,100%",
                         "--baselines", "none"], log)
                meta = json.loads((run / "run.json").read_text())
                results = json.loads((run / "results.json").read_text())
                row = {"precision": p, "seed": seed, "resolved": meta["precision"], "steps": meta["steps"],
                       "train_seconds": meta["train_seconds"],
                       "test": {pr: {lab: results["protocols"][pr][lab]["mean"] for _, lab in CELLS
                                     if lab in results["protocols"][pr]} for pr in ("knn", "linear")}}
                res["runs"].append(row)
                print(json.dumps(row), flush=True)
                res["summary"] = summarise(res["runs"], precisions)
                Path(a.out).write_text(json.dumps(res, indent=1) + "\n")  # after every run: a stop loses nothing
    print(json.dumps(res["summary"], indent=1))


if __name__ == "__main__":
    main()
