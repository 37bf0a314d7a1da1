"""CLI glue for time series methods (modality "series"): a small Adam loop and the series protocols."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from selfsup.cli.runners import NEW_RUN_HINT, refuse_resume, register_resumer, register_runner
from selfsup.errors import UserError

TRAIN_KEYS = {"epochs": 40, "batch_size": 16, "lr": 1e-3, "seed": 0, "max_minutes": 0.0, "width": 64,
              "length": "mask", "nan": "error"}


def load_series_data(name: str, length: str = "mask", nan: str = "error", data_dir: Any = None,
                     download: bool = False) -> Any:
    """Load a dataset and check it is (N, C, T) series; a 3-D float "vector" dataset (npz:PATH) counts as series.

    Unequal lengths are NaN-padded and masked by default (``length="mask"``, see :mod:`selfsup.data.series`).
    """
    from selfsup.data import load_dataset

    data = load_dataset(name, data_dir=data_dir, length=length, nan=nan, download_ok=download)
    if data.modality == "vector" and data.x_train.dim() == 3:
        data.modality = "series"
    if data.modality != "series" or data.x_train.dim() != 3:
        raise UserError(f"dataset '{name}' is not a time series dataset (shape {tuple(data.x_train.shape)})",
                        hint="use ucr:NAME, mnist1d, series:PATH or npz:PATH with x of shape (N, C, T)")
    return data


def padded_lengths(data: Any) -> tuple[int, int] | None:
    """(shortest, longest) series length of NaN-padded (unequal-length) data, else None."""
    from selfsup.functional.padding import series_lengths

    xs = [x for x in (data.x_train, data.x_test) if x is not None and len(x)]
    if not any(bool(torch.isnan(x).any()) for x in xs):
        return None
    lens = torch.cat([series_lengths(x) for x in xs])
    return int(lens.min()), int(lens.max())


def build_series_encoder(method: str, channels: int, length: int, width: int) -> torch.nn.Module:
    from selfsup.encoders.conv1d import DilatedConv1d, StridedConv1d

    if method == "cpc":
        strides = (2, 2) if length >= 64 else ((2,) if length >= 32 else (1,))
        return StridedConv1d(channels, width=width, strides=strides)
    return DilatedConv1d(channels, width=width, out_dim=2 * width, depth=4)


def build_series_method(method: str, spec: Any, cfg_dict: dict[str, Any], train: dict[str, Any],
                        input_shape: tuple[int, ...]) -> torch.nn.Module:
    from selfsup.config import apply_overrides
    from selfsup.methods.base import DataInfo

    cfg = apply_overrides(spec.config_cls(), cfg_dict) if cfg_dict else spec.config_cls()
    enc = build_series_encoder(method, input_shape[0], input_shape[1], int(train["width"]))
    return spec.build(cfg, enc, DataInfo(input_shape=tuple(input_shape)), int(train["seed"]))


def train_series(model: torch.nn.Module, x: torch.Tensor, train: dict[str, Any]) -> tuple[list[float], float]:
    """Adam over shuffled minibatches; returns (per-epoch mean losses, seconds).

    ``x`` may hold NaN-padded series of unequal lengths: the methods mask the padding themselves.
    """
    torch.manual_seed(int(train["seed"]))
    opt = torch.optim.Adam(model.parameters(), lr=float(train["lr"]))
    gen = torch.Generator().manual_seed(int(train["seed"]))
    bs = min(int(train["batch_size"]), len(x))
    losses, t0 = [], time.time()
    model.train()
    for _ in range(int(train["epochs"])):
        perm = torch.randperm(len(x), generator=gen)
        ep = []
        for i in range(0, len(x) - bs + 1, bs):
            out = model.training_step((x[perm[i:i + bs]],))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            ep.append(float(out.loss.detach()))
        losses.append(sum(ep) / max(1, len(ep)))
        if train["max_minutes"] and time.time() - t0 > 60 * float(train["max_minutes"]):
            break
    model.eval()
    return losses, time.time() - t0


def pretrain_series(args: argparse.Namespace, spec: Any, overrides: dict[str, Any]) -> int:
    from selfsup.train.checkpoint import atomic_write_text

    train = dict(TRAIN_KEYS)
    cfg_dict = {}
    for k, v in overrides.items():
        (train if k in TRAIN_KEYS else cfg_dict)[k] = v
    data = load_series_data(args.data, train["length"], train["nan"], getattr(args, "data_dir", None),
                            bool(getattr(args, "download", False)))
    print(data.summary())
    if padded_lengths(data) is not None:
        lo, hi = padded_lengths(data)
        print(f"series of unequal lengths ({lo}..{hi} steps): NaN-padded to {hi} and masked, padding never counts "
              "as data (length=mask; --set length=pad|truncate|resample|error for the other choices)")
    model = build_series_method(spec.name, spec, cfg_dict, train, data.input_shape)
    losses, secs = train_series(model, data.x_train, train)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    meta = {"method": spec.name, "dataset": args.data, "modality": "series", "config": asdict(model.cfg),
            "method_overrides": cfg_dict, "train": train, "input_shape": list(data.input_shape),
            "encoder": type(model.encoder).__name__, "epochs": len(losses), "train_seconds": round(secs, 1),
            "losses": losses}
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    print(f"pretrained {spec.name} for {len(losses)} epochs ({secs:.1f} s), loss {losses[0]:.3f} -> {losses[-1]:.3f}: {out}")
    print(f"next: selfsup evaluate {out}")
    return 0


def load_series_run(run_dir: Path, meta: dict[str, Any]) -> torch.nn.Module:
    from selfsup.methods import get_method

    spec = get_method(meta["method"])
    model = build_series_method(meta["method"], spec, meta.get("method_overrides", {}), meta["train"],
                                tuple(meta["input_shape"]))
    model.load_state_dict(torch.load(Path(run_dir) / "model.pt", map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def embed_all(model: torch.nn.Module, x: torch.Tensor, bs: int = 256) -> torch.Tensor:
    return torch.cat([model.embed(x[i:i + bs]) for i in range(0, len(x), bs)]).float()


def evaluate_series(args: argparse.Namespace, meta: dict[str, Any]) -> int:
    from selfsup.eval.report import plot_embedding_map, write_results
    from selfsup.eval.series import RAW_UNEQUAL, flatten_series, series_protocols

    run_dir = Path(args.run_dir)
    train = meta["train"]
    data = load_series_data(meta["dataset"], train["length"], train["nan"], getattr(args, "data_dir", None))
    if not data.labeled:
        raise UserError(f"{meta['dataset']} has no labels to evaluate against")
    protocols = tuple(args.protocols.split(",")) if getattr(args, "protocols", None) else ("svm", "linear")
    labels = tuple(args.labels.split(",")) if getattr(args, "labels", None) else ("10%", "100%")
    seeds = tuple(int(s) for s in args.seeds.split(",")) if getattr(args, "seeds", None) else (0, 1, 2)
    model = load_series_run(run_dir, meta)
    ftr, fte = embed_all(model, data.x_train), embed_all(model, data.x_test)
    nc = data.num_classes
    results = {"method": meta["method"], "dataset": meta["dataset"], "encoder": meta["encoder"],
               "epochs": meta["epochs"], "train_seconds": meta["train_seconds"],
               "protocols": series_protocols(ftr, data.y_train, fte, data.y_test, protocols, labels, seeds, nc)}
    rtr, rte = flatten_series(data.x_train), flatten_series(data.x_test)
    # raw series: 1-NN (Euclidean) and RBF-SVM; {baseline: {protocol: {label: ...}}} as in the harness
    results["baselines"] = {"raw": series_protocols(rtr, data.y_train, rte, data.y_test, ("1nn", "svm"),
                                                    labels, seeds, nc)}
    if padded_lengths(data) is not None:
        results["unequal_lengths"] = {"range": list(padded_lengths(data)), "encoder": "NaN padding, masked",
                                      "raw_baseline": RAW_UNEQUAL}
    write_results(run_dir, results)
    try:
        plot_embedding_map(fte, data.y_test, run_dir / "embedding_map.png", classes=data.classes)
    except Exception as e:  # the map is a convenience; never fail the evaluation on it
        print(f"(embedding map skipped: {e})")
    print((run_dir / "report.md").read_text())
    return 0


register_runner("series", pretrain_series, evaluate_series)
register_resumer("series", refuse_resume(
    "series methods train in one go and keep no checkpoints; model.pt is the final result",
    NEW_RUN_HINT))
