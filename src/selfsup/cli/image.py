"""CLI glue for image / array methods (trained by the Lightning engine)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from selfsup.cli.runners import register_runner
from selfsup.errors import UserError, unknown_name


def pretrain_image(args: argparse.Namespace, spec: Any, overrides: dict[str, Any]) -> int:
    from selfsup.data import load_dataset
    from selfsup.train.run import pretrain, resolve_config

    overrides = dict(overrides)
    enc_width = overrides.pop("encoder_width", None)
    cfg = resolve_config(args.method, args.data, encoder=args.encoder,
                         encoder_width=float(enc_width) if enc_width is not None else None,
                         overrides=overrides, preset=args.preset, image_size=args.image_size, data_dir=args.data_dir)
    data = load_dataset(args.data, data_dir=args.data_dir, image_size=args.image_size,
                        download_ok=args.download, skip_bad_files=args.skip_bad_files)
    print(data.summary())
    meta = pretrain(cfg, Path(args.out), data=data, progress=not getattr(args, "no_progress", False))
    print(f"pretrained {args.method} for {meta['epochs']} epochs, {meta['steps']} steps ({meta['train_seconds']} s): "
          f"{args.out}")
    print(f"next: selfsup evaluate {args.out}")
    return 0


def evaluate_image(args: argparse.Namespace, meta: dict[str, Any]) -> int:
    from selfsup.cli.evaluate import evaluate_run
    from selfsup.cli.main import eval_config
    from selfsup.eval.harness import BASELINES, PROTOCOLS

    cfg = eval_config(args)
    for p in cfg.protocols:
        if p not in PROTOCOLS:
            raise unknown_name("protocol", p, PROTOCOLS)
    for b in cfg.baselines:
        if b not in BASELINES:
            raise unknown_name("baseline", b, BASELINES)
    if getattr(args, "task", None):
        raise UserError("--task is not used for image runs (the dataset's own labels are the task)")
    evaluate_run(Path(args.run_dir), cfg, data_dir=args.data_dir)
    if cfg.split == "validation":
        print((Path(args.run_dir) / "validation.md").read_text())
        print(f"wrote {args.run_dir}/validation.json, validation.md (validation split; the test set was not read)")
        return 0
    print((Path(args.run_dir) / "report.md").read_text())
    print(f"wrote {args.run_dir}/results.json, report.md, accuracy_vs_labels.png, embedding_map.png")
    return 0


register_runner("image", pretrain_image, evaluate_image)
