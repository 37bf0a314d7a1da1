"""Images/s of a DINO training step beside SimCLR's with the same encoder, on Fashion-MNIST.

One step = make the views (DINO: 2 global 28 px + ``n_local_crops`` local 12 px crops; SimCLR: 2 views),
forward, backward, optimizer step and ``on_after_optimizer_step`` (DINO: centre + EMA teacher) on a
batch of ``--batch`` uint8 images, each image counted once. The two methods alternate in ``--rounds``
rounds (``--steps`` timed steps each after one untimed warm-up step), so machine noise hits both alike;
the median step time of each is reported with the ratio, the load average, the threads and the commit.

    .venv/bin/python benchmarks/dino_step.py --encoder vit-tiny --batch 256 --rounds 2 --steps 3 \
        --out benchmarks/dino_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import torch


def build(name: str, encoder: str, overrides: dict):
    from selfsup.data import load_dataset
    from selfsup.methods import DataInfo, get_method
    from selfsup.train.optim import build_optimizer
    from selfsup.train.run import build_method, resolve_config

    d = load_dataset("fashion-mnist")
    cfg = resolve_config(name, "fashion-mnist", encoder=encoder, overrides=overrides)
    mean, std = d.channel_stats()
    m = build_method(cfg, get_method(name), DataInfo(tuple(d.input_shape), mean, std, len(d.x_train)))
    if getattr(cfg.method_cfg, "channels_last", False):
        m = m.to(memory_format=torch.channels_last)
    return m, build_optimizer(m, cfg.optim), d.x_train


def timed_steps(m, opt, x: torch.Tensor, steps: int, start: int) -> list[float]:
    out = []
    for s in range(steps):
        t0 = time.perf_counter()
        if hasattr(m, "on_train_progress"):
            m.on_train_progress(0.0)
        loss = m.training_step((x, torch.arange(len(x)))).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.on_after_optimizer_step(start + s)
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", default="vit-tiny")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--methods", default="dino,simclr")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    torch.manual_seed(0)
    names = a.methods.split(",")
    built = {n: build(n, a.encoder, {}) for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}
    loads = [os.getloadavg()[0]]
    for r in range(a.rounds):
        for n in names:
            m, opt, xs = built[n]
            x = xs[r * a.batch: (r + 1) * a.batch]
            timed_steps(m, opt, x, 1, 0)  # warm-up, untimed
            times[n] += timed_steps(m, opt, x, a.steps, 1)
            loads.append(os.getloadavg()[0])
    rows = {n: {"median_step_s": statistics.median(t), "images_per_s": a.batch / statistics.median(t),
                "step_s": [round(v, 3) for v in t]} for n, t in times.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    res = {"encoder": a.encoder, "batch": a.batch, "rounds": a.rounds, "steps": a.steps, "rows": rows,
           "load_avg_1min": loads, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "torch": torch.__version__, "machine": platform.processor() or platform.machine(), "commit": commit,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if len(names) == 2:
        res["ratio"] = rows[names[0]]["images_per_s"] / rows[names[1]]["images_per_s"]
    print("| method | encoder | batch | images/s | median step (s) |\n|---|---|---|---|---|")
    for n, row in rows.items():
        print(f"| {n} | {a.encoder} | {a.batch} | {row['images_per_s']:.1f} | {row['median_step_s']:.2f} |")
    print(f"load average (1 min) during the run: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
