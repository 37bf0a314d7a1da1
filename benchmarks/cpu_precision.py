"""The whole SimCLR training step on a CPU: fp32 vs bf16-mixed, channels_last on and off, side by side.

What is timed is one optimizer step of ``selfsup``'s SimCLR as the engine runs it: two augmented views of a
uint8 Fashion-MNIST batch (``augment/image.py``, batched), the encoder and projector forward on both views in
one call, NT-Xent (in fp32 in every row), backward and the optimizer step. ``bf16-mixed`` is what Lightning's
``precision="bf16-mixed"`` does on a CPU: ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the
training step (optimizer step outside). The configurations are run in ``--rounds`` interleaved rounds (each
round times every configuration once), so the load of the shared machine hits all of them alike; the table
gives the median images/s (with ``--clock cpu`` images per CPU-second; an image counted once although it
gives two views) and the ratio to the fp32 row without channels_last. ``aug %`` is the share of the step
spent making the views. Lightning's ``bf16-mixed`` plugin opens ``torch.autocast(..., cache_enabled=False)``
around the same region (the views, the forward and the loss; not the optimizer step).

``--engine`` also times whole ``selfsup.pretrain`` runs (the Lightning engine, checkpoints and metrics
included) at precision 32, at bf16-mixed through Lightning's plugin, and at 32 with autocast opened inside
the method's training step instead of by Lightning, from ``metrics.csv``'s timings after the warm-up steps.
``--profile`` prints the operators that take the most time in the bf16 channels_last step.

Usage:
    .venv/bin/python benchmarks/cpu_precision.py                         # the table, both encoders
    .venv/bin/python benchmarks/cpu_precision.py --rounds 3 --steps 20 --engine --profile
    .venv/bin/python benchmarks/cpu_precision.py --encoders small-cnn --steps 5 --rounds 1   # quick look

Writes ``benchmarks/cpu_precision.json`` (``--out``) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class StepBench:
    """One SimCLR method + optimizer on the Fashion-MNIST training images, stepped by hand."""

    def __init__(self, encoder: str, bf16: bool, channels_last: bool, batch_size: int, data, seed: int = 0,
                 clock=time.perf_counter) -> None:
        from selfsup.methods import DataInfo, get_method
        from selfsup.train.optim import build_optimizer
        from selfsup.train.run import build_method, resolve_config

        cfg = resolve_config("simclr", "fashion-mnist", encoder=encoder,
                             overrides={"channels_last": channels_last, "seed": seed})
        mean, std = data.channel_stats()
        info = DataInfo(tuple(data.input_shape), mean, std, len(data.x_train))
        self.method = build_method(cfg, get_method("simclr"), info)
        if channels_last:
            self.method = self.method.to(memory_format=torch.channels_last)
        self.opt = build_optimizer(self.method, cfg.optim)
        self.x = data.x_train
        self.batch_size = batch_size
        self.bf16 = bf16
        self.gen = torch.Generator().manual_seed(seed)
        self.clock = clock
        self.name = f"{encoder} {'bf16-mixed' if bf16 else 'fp32'} {'channels_last' if channels_last else 'contiguous'}"

    def batch(self) -> torch.Tensor:
        idx = torch.randint(0, len(self.x), (self.batch_size,), generator=self.gen)
        return self.x[idx]

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext()

    def step(self) -> tuple[float, float]:
        """One training step; returns (seconds of the step, seconds of its view making)."""
        x = self.batch()
        t0 = self.clock()
        with self.autocast():
            with torch.no_grad():
                v1, v2 = self.method.views(x)
            t_aug = self.clock() - t0
            loss = self.method.loss_on_views(v1, v2)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return self.clock() - t0, t_aug

    def run(self, steps: int, warmup: int) -> dict:
        for _ in range(warmup):
            self.step()
        total = aug = 0.0
        for _ in range(steps):
            s, a = self.step()
            total += s
            aug += a
        return {"images_per_s": steps * self.batch_size / total, "aug_share": aug / total}


def engine_runs(args: argparse.Namespace, encoder: str) -> dict:
    """Whole ``selfsup.pretrain`` runs (Lightning): precision 32, bf16-mixed (Lightning's plugin), and 32 with
    autocast opened in the method's training step; images/s from metrics.csv after the warm-up steps."""
    import selfsup
    from selfsup.methods.two_view import TwoViewMethod

    steps = args.engine_steps
    variants = {"32": ("32", False), "bf16-mixed (Lightning plugin)": ("bf16-mixed", False),
                "32 + autocast in the method's step": ("32", True)}
    out: dict[str, list[float]] = {k: [] for k in variants}
    original = TwoViewMethod.training_step

    def autocast_step(self, batch):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return original(self, batch)

    for r in range(args.rounds):
        for name, (precision, manual) in variants.items():
            TwoViewMethod.training_step = autocast_step if manual else original
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    run = Path(tmp) / "run"
                    selfsup.pretrain("simclr", "fashion-mnist", out=str(run), encoder=encoder, progress=False,
                                     epochs=steps * args.batch_size / 60000, batch_size=args.batch_size,
                                     precision=precision, log_every_steps=1, threads=args.threads)
                    rows = {int(r["step"]): float(r["elapsed_s"]) for r in csv.DictReader(open(run / "metrics.csv"))}
            finally:
                TwoViewMethod.training_step = original
            last, w = max(rows), args.warmup
            out[name].append((last - w) * args.batch_size / (rows[last] - rows[w]))
            log(f"engine round {r + 1}: {encoder} {name}: {out[name][-1]:.0f} img/s")
    return {k: statistics.median(v) for k, v in out.items()}


def profile(bench: StepBench, steps: int, top: int) -> str:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    for _ in range(3):
        bench.step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            bench.step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoders", default="small-cnn-2x2,small-cnn")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20, help="timed steps per configuration per round")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (each round)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: perf_counter; cpu: the process's CPU time (with --threads 1: the work a step takes, "
                   "robust to a machine so loaded that the process waits for a core most of the time)")
    p.add_argument("--engine", action="store_true", help="also time whole selfsup.pretrain runs (Lightning)")
    p.add_argument("--engine-steps", type=int, default=30)
    p.add_argument("--profile", action="store_true", help="print the top operators of the bf16 channels_last step")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "cpu_precision.json")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    from selfsup.data import load_dataset
    from selfsup.train.precision import cpu_has_native_bf16

    data = load_dataset("fashion-mnist")
    load_before = load_average()
    encoders = [e for e in args.encoders.split(",") if e]
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    benches = [StepBench(enc, bf16, cl, args.batch_size, data, clock=clock)
               for enc in encoders for bf16 in (False, True) for cl in (False, True)] if args.rounds > 0 else []
    rounds: dict[str, list[dict]] = {b.name: [] for b in benches}
    for r in range(args.rounds):
        for b in benches:
            rounds[b.name].append(b.run(args.steps, args.warmup))
            log(f"round {r + 1}/{args.rounds}: {b.name}: {rounds[b.name][-1]['images_per_s']:.0f} img/s")
    rows = []
    unit = "images per CPU-second" if args.clock == "cpu" else "images/s"
    print(f"| encoder | precision | memory format | {unit} (median of {args.rounds}) | vs fp32 contiguous | "
          "per-round ratios | aug % |\n|---|---|---|---|---|---|---|")
    for enc in encoders if benches else []:
        base = f"{enc} fp32 contiguous"
        for b in (b for b in benches if b.name.startswith(enc + " ")):
            ips = statistics.median(x["images_per_s"] for x in rounds[b.name])
            ratios = [x["images_per_s"] / y["images_per_s"] for x, y in zip(rounds[b.name], rounds[base])]
            aug = statistics.median(x["aug_share"] for x in rounds[b.name])
            _, prec, fmt = b.name.split(" ")
            rows.append({"encoder": enc, "precision": prec, "memory_format": fmt, "images_per_s": round(ips, 1),
                         "ratio_median": round(statistics.median(ratios), 3),
                         "round_ratios": [round(v, 3) for v in ratios], "aug_share": round(aug, 3)})
            print(f"| {enc} | {prec} | {fmt} | {ips:.0f} | {statistics.median(ratios):.2f}x | "
                  f"{', '.join(f'{v:.2f}' for v in ratios)} | {100 * aug:.0f}% |")
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
                   f"{torch.get_num_threads()}, native bf16: {cpu_has_native_bf16()}",
        "torch_version": torch.__version__,
        "load_average_before_after": [load_before, load_average()],
        "command": "python benchmarks/cpu_precision.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {"clock": args.clock, "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
                     "rounds": args.rounds, "method": "simclr (its defaults: temperature 0.1, MLP head)"},
        "rows": rows,
    }
    if args.engine:
        result["engine"] = {}
        for enc in encoders:
            e = engine_runs(args, enc)
            result["engine"][enc] = {k: round(v, 1) for k, v in e.items()}
            base = e["32"]
            print(f"\n| whole `selfsup.pretrain`, {enc} | images/s | vs 32 |\n|---|---|---|")
            for k, v in e.items():
                print(f"| {k} | {v:.0f} | {v / base:.2f}x |")
    if args.profile:
        bench = StepBench(encoders[0], True, True, args.batch_size, data, clock=clock)
        table = profile(bench, 5, 25)
        result["profile"] = table
        print(f"\nprofile of {bench.name} (5 steps):\n{table}")
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
