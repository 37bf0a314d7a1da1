"""Images/s of one training step with a ViT encoder: forward + backward + optimizer step + the method's
after-step update, on a real Fashion-MNIST batch, every method side by side in one process, in rounds
(method order alternating), so the ratios are comparable on a shared machine.

    python benchmarks/vit_step.py --methods mae,ijepa,simclr,dino --batch 256 --steps 3 --rounds 2

Each method is built as `selfsup pretrain METHOD --encoder vit-tiny` builds it (its defaults, patch 4 at
28 px), with the optimizer of its config. images/s counts the images of the batch (a two-view method
encodes 2 views of each, a multi-crop method more; that is part of its cost).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch


def build(method: str, encoder: str, patch: int, x_shape: tuple[int, ...], mean, std) -> tuple:
    from selfsup.methods import get_method
    from selfsup.methods.base import DataInfo
    from selfsup.train.optim import build_optimizer
    from selfsup.train.run import build_method, resolve_config

    spec = get_method(method)
    options = {**spec.encoder_options, "patch": patch}
    cfg = resolve_config(method, "fashion-mnist", encoder=encoder, encoder_options=options)
    m = build_method(cfg, spec, DataInfo(x_shape, mean, std))
    return m, build_optimizer(m, cfg.optim)


def step(m, opt, x: torch.Tensor, i: int) -> float:
    out = m.training_step((x,))
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    opt.step()
    hook = getattr(m, "on_after_optimizer_step", None)
    if hook is not None:
        hook(i)
    return float(out.loss.detach())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="mae,ijepa,simclr,dino")
    p.add_argument("--encoder", default="vit-tiny")
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from selfsup.data import load_dataset
    from selfsup.methods import METHODS

    data = load_dataset("fashion-mnist")
    x = data.x_train[: args.batch]
    methods = [m for m in args.methods.split(",") if m in METHODS]
    mean, std = data.channel_stats()
    built = {m: build(m, args.encoder, args.patch, tuple(x.shape[1:]), mean, std) for m in methods}
    for i, (m, opt) in enumerate(built.values()):
        step(m, opt, x, 0)  # warm-up
    rates: dict[str, list[float]] = {m: [] for m in methods}
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    for r in range(args.rounds):
        for name in methods if r % 2 == 0 else methods[::-1]:
            m, opt = built[name]
            t = time.perf_counter()
            for i in range(args.steps):
                step(m, opt, x, i + 1)
            rates[name].append(args.steps * args.batch / (time.perf_counter() - t))
    result = {
        "what": f"one training step, {args.encoder} patch {args.patch}, batch {args.batch}, Fashion-MNIST",
        "command": "python benchmarks/vit_step.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()
                                                                if v is not None),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load} at start",
        "torch": torch.__version__, "threads": args.threads,
        "images_per_s": {k: [round(v, 1) for v in vs] for k, vs in rates.items()},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
