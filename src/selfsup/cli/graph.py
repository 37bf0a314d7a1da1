"""``selfsup pretrain/evaluate`` for graph methods (DGI, GRACE): full-batch training, node evaluation.

``pretrain`` writes ``run.json``, ``model.pt`` and ``embeddings.pt`` (node embeddings, labels,
split masks); ``evaluate`` fits a linear probe on the public split over seeds
(``protocols.linear.public``), the low-label protocol on nodes, a raw-feature baseline and a
2-D embedding map.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from selfsup.cli.runners import register_runner
from selfsup.config import apply_overrides, to_dict
from selfsup.data.registry import load_dataset
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo
from selfsup.train.checkpoint import atomic_write_text
from selfsup.train.graph import fit_full_batch


def pretrain_graph(args: argparse.Namespace, spec: Any, overrides: dict[str, Any]) -> int:
    cfg = spec.config_cls()
    if getattr(args, "preset", None):
        if args.preset not in spec.presets:
            raise UserError(f"unknown preset '{args.preset}' for {spec.name}", hint=f"presets: {', '.join(spec.presets) or 'none'}")
        cfg = apply_overrides(cfg, spec.presets[args.preset])
    ov = dict(overrides)
    ov.pop("batch_size", None)  # full-batch training
    if "epochs" in ov:
        ov["epochs"] = int(float(ov["epochs"]))
    cfg = apply_overrides(cfg, ov)
    data = load_dataset(args.data, data_dir=args.data_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = train_graph_method(spec, cfg, data)
    model, fit = meta.pop("_model"), meta.pop("_fit")
    torch.save(model.state_dict(), out / "model.pt")
    torch.save({"z": model.embed(data), "y": data.y, "train_mask": data.train_mask, "val_mask": data.val_mask,
                "test_mask": data.test_mask, "x": data.x, "classes": data.classes}, out / "embeddings.pt")
    meta.update({"method": spec.name, "dataset": args.data, "modality": "graph", "data_dir": args.data_dir,
                 "encoder": f"gcn-{cfg.layers}x{cfg.hidden_dim}", "config": to_dict(cfg)})
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    print(f"pretrained {spec.name} on {args.data}: {fit['stop_reason']} ({fit['train_seconds']} s)")
    print(f"next: selfsup evaluate {out}")
    return 0


def train_graph_method(spec: Any, cfg: Any, data: Any) -> dict[str, Any]:
    """Build ``spec``'s method for ``data`` and train it full-batch; returns run metadata."""
    info = DataInfo(input_shape=(data.num_features,), num_samples=data.num_nodes)
    model = spec.build(cfg, None, info, cfg.seed)
    fit = fit_full_batch(model, data, epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay,
                         patience=cfg.patience, min_epochs=cfg.min_epochs, min_delta=cfg.min_delta,
                         max_minutes=cfg.max_minutes)
    return {"epochs": fit["epochs"], "best_epoch": fit["best_epoch"], "stop_reason": fit["stop_reason"],
            "train_seconds": fit["train_seconds"], "seconds_per_epoch": fit["seconds_per_epoch"],
            "final_loss": fit["losses"][-1] if fit["losses"] else None, "_model": model, "_fit": fit}


def node_linear_probe(z: torch.Tensor, y: torch.Tensor, train_idx: torch.Tensor, test_idx: torch.Tensor,
                      seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> dict[str, Any]:
    """Linear probe accuracy on ``test_idx`` trained on ``train_idx``, {"mean","std","values"} over seeds."""
    from selfsup.eval.linear import linear_probe_accuracy
    from selfsup.eval.lowlabel import mean_std

    c = int(y.max()) + 1
    accs = [linear_probe_accuracy(z[train_idx], y[train_idx], z[test_idx], y[test_idx], c, seed=s)[0] for s in seeds]
    return mean_std(accs)


def _splits(blob: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    y = blob["y"]
    if blob.get("train_mask") is not None and blob.get("test_mask") is not None:
        return blob["train_mask"].nonzero().flatten(), blob["test_mask"].nonzero().flatten()
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    k = len(y) // 2
    return perm[:k], perm[k:]


def evaluate_graph(args: argparse.Namespace, meta: dict[str, Any]) -> int:
    from selfsup.eval.linear import linear_probe_accuracy
    from selfsup.eval.lowlabel import balanced_subset, mean_std, parse_fraction
    from selfsup.eval.report import plot_embedding_map, write_results

    run = Path(args.run_dir)
    blob = torch.load(run / "embeddings.pt", weights_only=False)
    z, y = blob["z"], blob["y"]
    if y is None:
        raise UserError(f"the graph of {run} has no node labels; node classification needs them",
                        hint="use edgelist:EDGES,FEATURES,LABELS")
    seeds = tuple(int(s) for s in args.seeds.split(",")) if getattr(args, "seeds", None) else (0, 1, 2, 3, 4)
    labels = [s.strip() for s in args.labels.split(",")] if getattr(args, "labels", None) else ["1%", "10%", "100%"]
    train_idx, test_idx = _splits(blob)
    test_mask = torch.zeros(len(y), dtype=torch.bool)
    test_mask[test_idx] = True
    pool = (~test_mask).nonzero().flatten()  # low-label protocol: labelled nodes drawn from all non-test nodes

    def protocols_for(feats: torch.Tensor) -> dict[str, Any]:
        res: dict[str, Any] = {"public": node_linear_probe(feats, y, train_idx, test_idx, seeds)}
        for lab in labels:
            frac = parse_fraction(lab)
            accs = []
            for s in seeds:
                sub = pool[balanced_subset(y[pool], frac, s)]
                accs.append(linear_probe_accuracy(feats[sub], y[sub], feats[test_idx], y[test_idx], int(y.max()) + 1, seed=s)[0])
            res[lab] = mean_std(accs)
        return res

    results = {"method": meta["method"], "dataset": meta["dataset"], "encoder": meta.get("encoder", "gcn"),
               "epochs": meta["epochs"], "train_seconds": meta["train_seconds"], "stop_reason": meta.get("stop_reason"),
               "protocols": {"linear": protocols_for(z)},
               "baselines": {"raw": {"linear": protocols_for(blob["x"])}}}
    write_results(run, results)
    plot_embedding_map(z[test_idx], y[test_idx], run / "embedding_map.png", classes=blob.get("classes"),
                       title=f"{meta['method']} on {meta['dataset']}: test nodes")
    pub = results["protocols"]["linear"]["public"]
    print(f"{meta['method']} on {meta['dataset']}: linear probe (public split) {pub['mean']:.4f} ± {pub['std']:.4f}")
    print(f"wrote {run}/results.json, report.md, embedding_map.png")
    return 0


register_runner("graph", pretrain_graph, evaluate_graph)
