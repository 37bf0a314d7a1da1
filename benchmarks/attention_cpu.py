"""Attention on a CPU: PyTorch's fused kernels against the explicit score matrix, and the ViT step they make.

Part 1 times forward + backward of multi-head attention alone, (B, H, L, d) = (B, 3, L, 64) for the token
counts selfsup's ViTs use (17: DINO's 12 px local crops at patch 4 incl. [CLS]; 50: 28 px at patch 4; 129:
128-token text; 197: 224 px at patch 16), in float32 and bfloat16, three ways side by side:
``flash`` (``scaled_dot_product_attention`` forced to its fused flash kernel, what it picks on a CPU),
``math`` (the same call forced to its unfused reference path) and ``explicit``
(:func:`selfsup.encoders.transformer.explicit_attention`: the score matrix in memory, softmax in float32).

Part 2 times the whole vit-tiny training step (forward, a loss, backward, AdamW) on a batch of 28 px images at
patch 4, float32 vs bf16 autocast, with :func:`selfsup.encoders.transformer.attention` (what the library
runs: explicit attention for bf16 on a CPU) and with the fused kernel forced everywhere (what it ran before).

Every configuration is timed once per round for ``--rounds`` interleaved rounds, so the shared machine's load
falls on all of them alike; the tables give medians.

Usage:
    .venv/bin/python benchmarks/attention_cpu.py                  # both parts, writes benchmarks/attention_cpu.json
    .venv/bin/python benchmarks/attention_cpu.py --rounds 1 --steps 2 --out /tmp/a.json   # quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from selfsup.encoders import transformer  # noqa: E402
from selfsup.encoders.vit import build_vit  # noqa: E402
from selfsup.pipelines.compare import machine_info  # noqa: E402

SHAPES = [(1024, 17), (256, 50), (128, 129), (64, 197)]  # (batch, tokens)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _flash(q, k, v):
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v)


def _math(q, k, v):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v)


KERNELS = {"flash": _flash, "math": _math, "explicit": transformer.explicit_attention}


def time_attention(kernel, dtype: torch.dtype, batch: int, tokens: int, steps: int) -> float:
    """Milliseconds per forward + backward, the mean of ``steps`` calls after one warm-up call."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, 3, tokens, 64, generator=gen, dtype=dtype).requires_grad_() for _ in range(3))
    kernel(q, k, v).float().sum().backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        kernel(q, k, v).float().sum().backward()
    return (time.perf_counter() - t0) / steps * 1000


class ViTStep:
    """vit-tiny at patch 4 on (B, 1, 28, 28) images, one AdamW step per call."""

    def __init__(self, bf16: bool, fused_only: bool, batch: int) -> None:
        torch.manual_seed(0)
        self.model = build_vit("vit-tiny", (1, 28, 28), patch=4)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.x = torch.randn(batch, 1, 28, 28)
        self.bf16, self.fused_only = bf16, fused_only

    def __call__(self) -> None:
        patch = (mock.patch.object(transformer, "attention",
                                   lambda q, k, v, m=None: F.scaled_dot_product_attention(q, k, v, attn_mask=m))
                 if self.fused_only else nullcontext())
        with patch, torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.model(self.x).float().pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def time(self, steps: int) -> float:
        """Images per second over ``steps`` steps after one warm-up step."""
        self()
        t0 = time.perf_counter()
        for _ in range(steps):
            self()
        return steps * self.x.shape[0] / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="timed repetitions per configuration and round")
    ap.add_argument("--batch", type=int, default=256, help="images per ViT step")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "attention_cpu.json")
    args = ap.parse_args()

    attn: dict[str, list[float]] = {}
    vit: dict[str, list[float]] = {}
    steps = {(bf16, fused): ViTStep(bf16, fused, args.batch) for bf16 in (False, True) for fused in (False, True)}
    for r in range(args.rounds):
        for (batch, tokens) in SHAPES:
            for dname, dtype in DTYPES.items():
                for kname, kernel in KERNELS.items():
                    key = f"B={batch} L={tokens} {dname} {kname}"
                    attn.setdefault(key, []).append(time_attention(kernel, dtype, batch, tokens, args.steps))
        for (bf16, fused), step in steps.items():
            key = f"{'bf16' if bf16 else 'fp32'} {'fused kernel forced' if fused else 'selfsup attention()'}"
            vit.setdefault(key, []).append(step.time(args.steps))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    attn_ms = {k: round(statistics.median(v), 2) for k, v in attn.items()}
    vit_ips = {k: round(statistics.median(v), 1) for k, v in vit.items()}
    print("| B | L | dtype | flash ms | math ms | explicit ms | flash / explicit |\n|---|---|---|---|---|---|---|")
    for (batch, tokens) in SHAPES:
        for dname in DTYPES:
            ms = [attn_ms[f"B={batch} L={tokens} {dname} {k}"] for k in KERNELS]
            print(f"| {batch} | {tokens} | {dname} | {ms[0]} | {ms[1]} | {ms[2]} | {ms[0] / ms[2]:.2f} |")
    base = vit_ips["fp32 fused kernel forced"]
    print(f"\n| vit-tiny step ({args.batch} images, 28 px, patch 4) | images/s | vs fp32 fused |\n|---|---|---|")
    for k, v in vit_ips.items():
        print(f"| {k} | {v} | {v / base:.2f}x |")

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = {"what": "attention forward+backward ms (median over rounds) and the vit-tiny training step in images/s",
           "command": "benchmarks/attention_cpu.py " + " ".join(sys.argv[1:]),
           "rounds": args.rounds, "steps": args.steps, "vit_batch": args.batch,
           "attention_ms": attn_ms, "attention_ms_rounds": attn,
           "vit_step_images_per_s": vit_ips, "vit_step_rounds": vit,
           "machine": machine_info(), "commit": commit,
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
