"""OpenMP wait policy vs the small-cnn SimCLR-sized step (forward + backward + Adam on 512 images =
256 pairs, channels_last, 2 torch threads), each policy in its own process, alternating.

    python benchmarks/omp_wait_policy.py --rounds 2

Prints images/s per round for GNU OpenMP's default (spinning waiters), OMP_WAIT_POLICY=PASSIVE and
one thread. The policy must be set before torch loads its OpenMP runtime, hence the subprocesses.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = r"""
import os, time, torch
torch.set_num_threads(int(os.environ["NT"]))
from selfsup.encoders import build_encoder
enc = build_encoder("small-cnn", (1, 28, 28)).to(memory_format=torch.channels_last)
x = torch.randn(512, 1, 28, 28).contiguous(memory_format=torch.channels_last)
opt = torch.optim.Adam(enc.parameters())
for _ in range(2):
    enc(x).sum().backward()
t = time.perf_counter()
for _ in range(6):
    opt.zero_grad(); enc(x).pow(2).mean().backward(); opt.step()
print(round(6 * 256 / (time.perf_counter() - t), 1))
"""


def run(policy: str | None, threads: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["NT"] = str(threads)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    with open("/proc/loadavg") as f:
        print("load average:", f.read().split()[0])
    for r in range(args.rounds):
        d, pa, one = run(None, 2), run("PASSIVE", 2), run(None, 1)
        print(f"round {r + 1}: default {d} img/s, PASSIVE {pa} img/s, 1 thread {one} img/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
