"""The training step of SimCLR and Barlow Twins with ResNet-18/50 at 224 px on one device.

Synthetic uint8 image batches are made on the device (no data loading), then each step is what the engine
runs: two views made by ``selfsup.augment`` (batched, on the device), the encoder + projector forward of both
views in one call under bf16 autocast (``--precision``), channels_last, the loss (fp32), backward and the
optimizer step; optionally the encoder and head ``torch.compile``d. Printed, per method x encoder:

* images/s (an image counted once although it gives two views), after ``--warmup`` untimed steps;
* the share of the step spent making the views (CUDA events around the augmentation on a GPU,
  ``perf_counter`` on a CPU; the step is not overlapped with anything, so the shares add up);
* peak memory (``torch.cuda.max_memory_allocated`` on a GPU; the process's peak RSS on a CPU);
* model FLOP/s: the FLOPs of one step's forward + backward counted by ``torch.utils.flop_counter``
  (convolutions and matmuls; augmentation excluded) over the whole step's time, and their share of the
  device's peak (``--peak-tflops``, else a table of known GPUs: dense bf16 tensor-core peaks).

Usage:
    python benchmarks/gpu_step.py                                   # GPU: both methods x ResNet-18/50, 224 px
    python benchmarks/gpu_step.py --compile --batch 256 --steps 30
    python benchmarks/gpu_step.py --device cpu --size 32 --batch 4 --steps 2     # a CPU smoke run (CI)

The last line of stdout is the JSON of all rows (also written to ``--json PATH``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path and not any("selfsup" in p for p in sys.path):
    sys.path.insert(0, str(ROOT / "src"))

# dense bf16 tensor-core peaks, TFLOP/s (vendors' data sheets; sparsity not counted), by device-name substring
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,  # SXM
    "GH200": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
}

METHODS = ("simclr", "barlow-twins")
ENCODERS = ("resnet18-imagenet", "resnet50")


def peak_tflops(device: torch.device, given: float | None) -> tuple[float | None, str]:
    """The device's peak (TFLOP/s) and where the figure comes from."""
    if given:
        return given, "--peak-tflops"
    if device.type != "cuda":
        return None, "unknown for this device (pass --peak-tflops)"
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS.items():  # the more specific names come first
        if key in name:
            return value, f"table: {key} dense bf16"
    return None, f"{name} not in the table (pass --peak-tflops)"


class Clock:
    """Marks on a step's timeline: CUDA events on a GPU (read after one synchronize), perf_counter on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def mark(self):
        if self.cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def seconds(self, a, b) -> float:
        return a.elapsed_time(b) / 1000.0 if self.cuda else b - a


def build(method_name: str, encoder: str, size: int, device: torch.device, seed: int):
    """The method (on ``device``, channels_last) and its optimizer, as the engine builds them."""
    from selfsup.methods import DataInfo, get_method
    from selfsup.train.optim import build_optimizer
    from selfsup.train.run import build_method, resolve_config

    cfg = resolve_config(method_name, "synthetic", encoder=encoder, overrides={"channels_last": True, "seed": seed})
    info = DataInfo((3, size, size), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1_000_000)
    method = build_method(cfg, get_method(method_name), info).to(device).to(memory_format=torch.channels_last)
    opt = build_optimizer(method, cfg.optim)
    return method, opt


def compile_parts(method) -> None:
    """``torch.compile`` the encoder and the head (the views and the loss stay eager)."""
    for name in ("encoder", "head", "projector"):
        if isinstance(getattr(method, name, None), torch.nn.Module):
            setattr(method, name, torch.compile(getattr(method, name)))


def step_flops(method, x: torch.Tensor, autocast) -> int:
    """FLOPs of one step's forward and backward (model only: the views are made outside the counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with autocast():
        with torch.no_grad():
            v1, v2 = method.views(x)
        counter = FlopCounterMode(display=False)
        with counter:
            loss = method.loss_on_views(v1, v2)
            loss.backward()
    method.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def measure(method_name: str, encoder: str, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(args.seed)
    method, opt = build(method_name, encoder, args.size, device, args.seed)
    gen = torch.Generator(device=device).manual_seed(args.seed)

    def batch() -> torch.Tensor:  # synthetic uint8 images, made on the device
        return torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8, device=device,
                             generator=gen)

    bf16 = args.precision == "bf16-mixed"

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    flops = step_flops(method, batch(), autocast)  # eager, before any compilation
    if args.compile:
        compile_parts(method)
    clock = Clock(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    marks = []
    loss = torch.zeros(())
    t_compile = time.perf_counter()
    for i in range(args.warmup + args.steps):
        x = batch()
        t0 = clock.mark()
        with autocast():
            with torch.no_grad():
                v1, v2 = method.views(x)
            t1 = clock.mark()
            loss = method.loss_on_views(v1, v2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t2 = clock.mark()
        if i == args.warmup - 1 and device.type == "cuda":
            torch.cuda.synchronize(device)
        if i == args.warmup - 1:
            t_compile = time.perf_counter() - t_compile
        if i >= args.warmup:
            marks.append((t0, t1, t2))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    step_s = sum(clock.seconds(a, c) for a, _, c in marks)
    aug_s = sum(clock.seconds(a, b) for a, b, _ in marks)
    peak, peak_src = peak_tflops(device, args.peak_tflops)
    model_tflops = flops * len(marks) / step_s / 1e12
    if device.type == "cuda":
        mem = {"peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 3),
               "peak_memory_kind": "torch.cuda.max_memory_allocated"}
    else:
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
        mem = {"peak_memory_gib": round(rss_kib / 2**20, 3), "peak_memory_kind": "process peak RSS (CPU run)"}
    return {
        "method": method_name, "encoder": encoder, "size": args.size, "batch": args.batch,
        "precision": args.precision, "channels_last": True, "compile": args.compile,
        "steps": len(marks), "warmup": args.warmup,
        "warmup_seconds": round(t_compile, 2) if args.warmup > 0 else None,
        "images_per_s": round(args.batch * len(marks) / step_s, 2),
        "step_ms": round(1000 * step_s / len(marks), 3),
        "aug_share": round(aug_s / step_s, 4),
        **mem,
        "gflop_per_step": round(flops / 1e9, 3),
        "model_tflops_per_s": round(model_tflops, 4),
        "peak_tflops": peak, "peak_source": peak_src,
        "mfu": round(model_tflops / peak, 4) if peak else None,
        "final_loss": round(float(loss.detach()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--encoders", default=",".join(ENCODERS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocator, cuDNN)")
    p.add_argument("--precision", choices=("bf16-mixed", "32"), default="bf16-mixed")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder and the head")
    p.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s (default: from a table of GPUs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be >= 1")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    rows = []
    print(f"device: {name}; torch {torch.__version__}; {args.size} px, batch {args.batch}, {args.precision}, "
          f"channels_last{', torch.compile' if args.compile else ''}")
    print("| method | encoder | images/s | step ms | aug % | peak mem GiB | GFLOP/step | model TFLOP/s | MFU |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for m in args.methods.split(","):
        for e in args.encoders.split(","):
            r = measure(m, e, args, device)
            rows.append(r)
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
            print(f"| {m} | {e} | {r['images_per_s']:.1f} | {r['step_ms']:.1f} | {100 * r['aug_share']:.1f}% | "
                  f"{r['peak_memory_gib']:.2f} | {r['gflop_per_step']:.1f} | {r['model_tflops_per_s']:.3f} | {mfu} |",
                  flush=True)
    out = {"device": name, "torch_version": torch.__version__, "rows": rows,
           "command": "python benchmarks/gpu_step.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
