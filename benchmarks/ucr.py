"""UCR (sktime-bundled) and MNIST-1D benchmark: CPC and temporal contrast vs raw-series baselines.

Per dataset: raw 1-NN (Euclidean), raw RBF-SVM, and for each method and seed a pretraining run
(capped at --minutes) evaluated with the RBF-SVM protocol (C by CV on the training labels) on the
official test split. MNIST-1D: CPC linear probe vs a linear probe on the raw input.

    nice -n 19 .venv/bin/python benchmarks/ucr.py --out benchmarks/ucr.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time

import numpy as np
import torch

from selfsup.cli.series import TRAIN_KEYS, build_series_method, embed_all, load_series_data, train_series
from selfsup.eval.linear import linear_probe_accuracy
from selfsup.eval.series import flatten_series, one_nn_accuracy, svm_accuracy
from selfsup.methods import get_method

UCR = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf", "ACSF1", "UnitTest")
METHODS = ("cpc", "temporal-contrast")


def run_method(method: str, data, seed: int, minutes: float, epochs: int):
    train = dict(TRAIN_KEYS, seed=seed, epochs=epochs, max_minutes=minutes)
    model = build_series_method(method, get_method(method), {}, train, data.input_shape)
    losses, secs = train_series(model, data.x_train, train)
    return model, len(losses), secs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default=",".join(UCR))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--minutes", type=float, default=0.5, help="pretraining cap per run")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--mnist1d-minutes", type=float, default=1.5)
    p.add_argument("--out", default="benchmarks/ucr.json")
    a = p.parse_args()
    torch.set_num_threads(2)
    seeds = [int(s) for s in a.seeds.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    res = {"commit": commit, "torch": torch.__version__, "python": platform.python_version(),
           "args": vars(a), "ucr": {}, "mnist1d": {}}
    t0 = time.time()
    for name in [d for d in a.datasets.split(",") if d]:
        data = load_series_data(f"ucr:{name}")
        rtr, rte = flatten_series(data.x_train), flatten_series(data.x_test)
        row = {"raw-1nn": one_nn_accuracy(rtr, data.y_train, rte, data.y_test),
               "raw-svm": svm_accuracy(rtr, data.y_train, rte, data.y_test)}
        for m in [m for m in a.methods.split(",") if m]:
            accs, info = [], []
            for s in seeds:
                model, ep, secs = run_method(m, data, s, a.minutes, a.epochs)
                accs.append(svm_accuracy(embed_all(model, data.x_train), data.y_train,
                                         embed_all(model, data.x_test), data.y_test))
                info.append({"epochs": ep, "seconds": round(secs, 1)})
            row[m] = {"mean": float(np.mean(accs)), "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                      "values": accs, "runs": info}
        res["ucr"][name] = row
        print(name, json.dumps({k: (v if isinstance(v, float) else v["mean"]) for k, v in row.items()}), flush=True)
        json.dump(res, open(a.out, "w"), indent=2)
    if a.mnist1d_minutes > 0:
        data = load_series_data("mnist1d")
        rtr, rte = flatten_series(data.x_train), flatten_series(data.x_test)
        row = {"raw-linear": linear_probe_accuracy(rtr, data.y_train, rte, data.y_test, num_classes=10)[0]}
        train = dict(TRAIN_KEYS, seed=0, epochs=100, batch_size=64, max_minutes=a.mnist1d_minutes)
        model = build_series_method("cpc", get_method("cpc"), {}, train, data.input_shape)
        losses, secs = train_series(model, data.x_train, train)
        row["cpc-linear"] = linear_probe_accuracy(embed_all(model, data.x_train), data.y_train,
                                                  embed_all(model, data.x_test), data.y_test, num_classes=10)[0]
        row["cpc-epochs"], row["cpc-seconds"] = len(losses), round(secs, 1)
        res["mnist1d"] = row
        print("mnist1d", row, flush=True)
    res["total_seconds"] = round(time.time() - t0, 1)
    json.dump(res, open(a.out, "w"), indent=2)


if __name__ == "__main__":
    main()
