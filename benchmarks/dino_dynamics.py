"""DINO's first hundred steps: does the teacher's target leave the uniform distribution?

A short-budget diagnostic. DINO's loss in a 10-minute CPU run of vit-tiny (80-90 steps) and a 3-minute run of
small-cnn (200 steps) stayed at ln K, the cross-entropy of uniform predictions. This script steps selfsup's DINO by
hand (the method's own ``training_step`` and ``on_after_optimizer_step``, AdamW, bf16 autocast, one thread) on
Fashion-MNIST training images for a few settings and logs, every few steps, the loss and two entropies of the
teacher's centred, sharpened targets on a fixed batch of 256 images:

* ``H``: the mean entropy of one image's target (low: sharp, per-image targets);
* ``Hm``: the entropy of the targets' mean over the batch (high: many prototypes in use).

``H`` ≈ ``Hm`` ≈ ln K is the uniform collapse (centring has removed everything the images share and nothing is
left); ``Hm`` small is the other collapse (one prototype for every image); learning is ``H`` well under ``Hm``.

Usage:
    .venv/bin/python benchmarks/dino_dynamics.py                      # the default settings, small-cnn, 120 steps
    .venv/bin/python benchmarks/dino_dynamics.py --encoder vit-tiny --steps 40 --setting "" --setting teacher_temp=0.01,teacher_temp_warmup=0

Each ``--setting`` is comma-separated ``key=value`` pairs of :class:`selfsup.methods.dino.DINOConfig` plus ``lr``
("" = the defaults). Writes ``benchmarks/dino_dynamics.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from selfsup.augment import ImageAugConfig  # noqa: E402
from selfsup.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from selfsup.encoders import build_encoder  # noqa: E402
from selfsup.functional.dino import sharpened_centred_softmax  # noqa: E402
from selfsup.methods import DataInfo  # noqa: E402
from selfsup.methods.dino import DINO, DINOConfig  # noqa: E402
from selfsup.pipelines.compare import machine_info  # noqa: E402

DEFAULT_SETTINGS = ["", "momentum=0.99", "momentum=0.9", "lr=1e-5", "out_dim=1024",
                    "teacher_temp=0.02,teacher_temp_warmup=0", "teacher_temp=0.01,teacher_temp_warmup=0",
                    "teacher_temp=0.004,teacher_temp_warmup=0"]


def parse_setting(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = pair.partition("=")
        out[key] = float(value) if "." in value or "e" in value else int(value)
    return out


def target_entropies(m: DINO, images: torch.Tensor) -> tuple[float, float]:
    """(mean per-image entropy, entropy of the batch-mean target) of the teacher's targets on ``images``."""
    with torch.no_grad():
        crops = m.views(images)
        logits = m.teacher_head(m._features(m.teacher_encoder, crops.global_crops)).float()
        p = sharpened_centred_softmax(logits, m.center, m.teacher_temperature())
        h = -(p * p.clamp_min(1e-12).log()).sum(-1).mean().item()
        pm = p.mean(0)
        return h, -(pm * pm.clamp_min(1e-12).log()).sum().item()


def run(setting: str, encoder: str, x: torch.Tensor, stats: tuple[tuple[float, ...], tuple[float, ...]], steps: int,
        batch: int, every: int) -> dict:
    """One setting stepped ``steps`` times on batches drawn from ``x`` (uint8 (N, 1, 28, 28)); ``stats`` the
    dataset's (mean, std) per channel (``ArrayDataset.channel_stats``)."""
    over = parse_setting(setting)
    lr = float(over.pop("lr", 5e-4))
    torch.manual_seed(0)
    cfg = DINOConfig(**over)
    aug = ImageAugConfig(crop_scale_min=0.4, blur_p=0.5, solarize_p=0.1)  # DINO's aug_defaults
    m = DINO.build(cfg, build_encoder(encoder, (1, 28, 28)), DataInfo((1, 28, 28), *stats, len(x)), aug=aug, seed=0)
    opt = torch.optim.AdamW(list(m.encoder.parameters()) + list(m.head.parameters()), lr=lr, weight_decay=0.04)
    gen = torch.Generator().manual_seed(0)
    probe = x[:256]
    log, t0 = [], time.perf_counter()
    for step in range(steps):
        m.on_train_progress(step / steps)
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m.training_step((x[idx], None))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        m.on_after_optimizer_step(step)
        if step % every == 0 or step == steps - 1:
            h, hm = target_entropies(m, probe)
            log.append({"step": step, "loss": round(out.loss.item(), 4), "H": round(h, 3), "Hm": round(hm, 3)})
    return {"setting": setting or "defaults", "lr": lr, "ln_K": round(math.log(cfg.out_dim), 3),
            "seconds": round(time.perf_counter() - t0, 1), "log": log}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="small-cnn")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--every", type=int, default=15, help="log every this many steps")
    ap.add_argument("--images", type=int, default=20000, help="training images drawn from")
    ap.add_argument("--setting", action="append", help="repeatable; default: a fixed list of eight")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "dino_dynamics.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_fashion_mnist()
    x, stats = ds.x_train[: args.images], ds.channel_stats()
    results = []
    for setting in args.setting if args.setting is not None else DEFAULT_SETTINGS:
        r = run(setting, args.encoder, x, stats, args.steps, args.batch, args.every)
        last = r["log"][-1]
        trace = " ".join(f"{e['step']}:{e['loss']:.2f}/{e['H']:.2f}/{e['Hm']:.2f}" for e in r["log"])
        print(f"{r['setting']:45s} ln K {r['ln_K']:.3f} | end: loss {last['loss']:.3f} H {last['H']:.2f} "
              f"Hm {last['Hm']:.2f} | step:loss/H/Hm {trace}", flush=True)
        results.append(r)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    args.out.write_text(json.dumps({
        "what": "DINO loss and teacher-target entropies (H per image, Hm of the batch mean) over the first steps",
        "command": "benchmarks/dino_dynamics.py " + " ".join(sys.argv[1:]),
        "encoder": args.encoder, "steps": args.steps, "batch": args.batch, "threads": args.threads,
        "results": results, "machine": machine_info(), "commit": commit,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
