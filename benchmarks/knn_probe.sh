#!/usr/bin/env bash
# Quick probe of one setting: pretrain on Fashion-MNIST for a wall-clock budget, then kNN-100% only, scored on the
# VALIDATION split carved from the training labels (`evaluate --split validation`): probes choose settings, and a
# choice must never be made on the test set. Report the test number of the chosen setting only, once
# (`selfsup evaluate RUN`), or use benchmarks/sweep.py, which does both.
#   MIN=3 SEED=0 OUT=bench_runs/probe bash benchmarks/knn_probe.sh NAME METHOD [pretrain args...]
# e.g. bash benchmarks/knn_probe.sh mb_mlp memory-bank --set head=mlp
# Appends "NAME val_knn100=... epochs=... pretrain_s=... eval_s=..." to $OUT/results.txt; the full logs
# are in $OUT/NAME.log and the run directory in $OUT/runs/NAME (which must not exist yet).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then echo "usage: $0 NAME METHOD [pretrain args...]" >&2; exit 2; fi
name=$1; method=$2; shift 2
root=${OUT:-bench_runs/probe}
run=$root/runs/$name
mkdir -p "$root/runs"
py=${PYTHON:-.venv/bin/python}
t0=$(date +%s)
$py -m selfsup.cli.main pretrain "$method" --data fashion-mnist --out "$run" --encoder "${ENCODER:-small-cnn-2x2}" \
    --max-minutes "${MIN:-3}" --epochs 100 --seed "${SEED:-0}" --no-progress "$@" > "$root/$name.log" 2>&1
t1=$(date +%s)
$py -m selfsup.cli.main evaluate "$run" --protocols knn --labels 100% --baselines none --split validation >> "$root/$name.log" 2>&1
t2=$(date +%s)
$py - "$run" "$name" $((t1 - t0)) $((t2 - t1)) >> "$root/results.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/validation.json"))
print(sys.argv[2], "val_knn100=%.4f" % r["protocols"]["knn"]["100%"]["mean"], "epochs=%s" % r.get("epochs"),
      "pretrain_s=%s eval_s=%s" % (sys.argv[3], sys.argv[4]))
PY
tail -1 "$root/results.txt"
