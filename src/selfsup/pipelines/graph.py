"""Graph runs (DGI, GRACE): full-batch training, node evaluation, node embeddings.

``pretrain`` writes into RUN_DIR: ``run.json`` (settings, stop reason, timings, loss curve),
``model.pt`` (the method's weights), ``graph.pt`` (the graph it was trained on) and
``embeddings.pt`` (node embeddings ``z`` (N, D) with ``y`` and the split masks).
``embed RUN_DIR GRAPH -o OUT.npy`` writes node embeddings (N, D): GRAPH ``-`` (or the run's own
dataset name) is the graph the run trained on, any other graph name is embedded with the trained
encoder when its feature width matches.
``evaluate`` runs the node protocols (:mod:`selfsup.eval.graph`) on the embeddings and on the
baselines (raw features, the same encoder untrained) and writes ``results.json`` (with
``protocols.linear.public`` = {"mean", "std", "values"} over probe seeds), ``report.md`` and
``embedding_map.png``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from selfsup.config import apply_overrides
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo
from selfsup.pipelines.modality import (
    NEW_RUN_HINT,
    Modality,
    refuse_resume,
    register_modality,
)
from selfsup.pipelines.requests import EvalRequest, PretrainRequest
from selfsup.train.checkpoint import atomic_write_text
from selfsup.train.graph import GraphTrainConfig, fit_full_batch

GRAPH_NAMES_HINT = "graph names: cora, citeseer, pubmed, planetoid:NAME:ROOT, edgelist:EDGES[,FEATURES[,LABELS]]"


def load_graph(name: str, data_dir: str | None = None, download: bool = False) -> Any:
    """A registered graph dataset by name, with a clear error for non-graph names (``download``: allow
    fetching cora/citeseer/pubmed)."""
    from selfsup.data.graph import as_graph

    return as_graph(name, data_dir=data_dir, download_ok=download)


def split_settings(spec: Any, overrides: dict[str, Any]) -> tuple[Any, GraphTrainConfig]:
    """Overrides -> (method config, training config); the method's ``optim_defaults`` come first."""
    train_keys = {f.name for f in fields(GraphTrainConfig)}
    ov = dict(overrides)
    if ov.get("batch_size") is not None:
        raise UserError("graph methods train full-batch (the whole graph each epoch); --batch-size does not apply")
    ov.pop("batch_size", None)
    if "epochs" in ov:
        e = float(ov["epochs"])
        if e != int(e) or e < 1:
            raise UserError(f"--epochs must be a whole number >= 1 for graph methods, got {ov['epochs']}")
        ov["epochs"] = int(e)
    train = apply_overrides(GraphTrainConfig(), spec.optim_defaults)
    train = apply_overrides(train, {k: v for k, v in ov.items() if k in train_keys})
    cfg = apply_overrides(spec.config_cls(), {k: v for k, v in ov.items() if k not in train_keys},
                          also_valid=sorted(train_keys))
    return cfg, train


def train_graph_method(spec: Any, cfg: Any, train: GraphTrainConfig, data: Any) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build ``spec``'s method for ``data`` and train it full-batch; returns (method, fit record)."""
    info = DataInfo(input_shape=(data.num_features,), num_samples=data.num_nodes)
    model = spec.build(cfg, None, info, train.seed)
    fit = fit_full_batch(model, data, train)
    return model, fit


def pretrain_graph(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    if req.encoder not in (None, "small-cnn", "gcn"):
        raise UserError(f"graph methods use the GCN encoder, not '{req.encoder}'",
                        hint="drop --encoder (or pass --encoder gcn); set its size with --set hidden_dim=...")
    if req.preset:
        if req.preset not in spec.presets:
            raise UserError(f"unknown preset '{req.preset}' for {spec.name}", hint=f"presets: {', '.join(spec.presets) or 'none'}")
        overrides = {**spec.presets[req.preset], **overrides}
    cfg, train = split_settings(spec, overrides)
    data = load_graph(req.data, req.data_dir, req.download)
    print(f"{data.name}: {data.num_nodes} nodes, {data.edge_index.shape[1] // 2} edges, {data.num_features} features"
          + (f", {data.num_classes} classes" if data.y is not None else ""))
    out = Path(req.out)
    out.mkdir(parents=True, exist_ok=True)
    model, fit = train_graph_method(spec, cfg, train, data)
    torch.save(model.state_dict(), out / "model.pt")
    torch.save({k: getattr(data, k) for k in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask", "name", "classes")},
               out / "graph.pt")
    torch.save({"z": model.embed(data), "y": data.y, "train_mask": data.train_mask, "val_mask": data.val_mask,
                "test_mask": data.test_mask}, out / "embeddings.pt")
    meta = {"method": spec.name, "dataset": req.data, "modality": "graph", "data_dir": req.data_dir, "status": "finished",
            "encoder": f"gcn-{type(model.encoder).__name__}-{model.encoder.out_dim}d", "input_dim": data.num_features,
            "config": asdict(cfg), "train": asdict(train),
            **{k: fit[k] for k in ("epochs", "best_epoch", "best_loss", "stop_reason", "stopped_early", "train_seconds")},
            "seconds_per_epoch": round(fit["seconds_per_epoch"], 4), "losses": [round(v, 5) for v in fit["losses"]]}
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    print(f"pretrained {spec.name}: {fit['stop_reason']} ({fit['train_seconds']:.1f} s, "
          f"{fit['seconds_per_epoch']:.3f} s/epoch, loss {fit['losses'][0]:.4f} -> {fit['best_loss']:.4f})")
    print(f"next: selfsup evaluate {out}")
    return meta


def load_graph_run(run_dir: Path, meta: dict[str, Any], trained: bool = True) -> tuple[torch.nn.Module, Any]:
    """The run's method (trained weights, or freshly initialised with the run's seed) and its graph."""
    from selfsup.data.graph import GraphData
    from selfsup.methods import get_method

    run_dir = Path(run_dir)
    for f in ("graph.pt", "model.pt"):
        if not (run_dir / f).is_file():
            raise UserError(f"{run_dir / f} is missing; the run did not finish", hint="pretrain again")
    spec = get_method(meta["method"])
    g = torch.load(run_dir / "graph.pt", map_location="cpu", weights_only=True)
    data = GraphData(**g)
    cfg = apply_overrides(spec.config_cls(), meta["config"])
    seed = int(meta["train"]["seed"])
    model = spec.build(cfg, None, DataInfo(input_shape=(data.num_features,), num_samples=data.num_nodes), seed)
    if trained:
        model.load_state_dict(torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True))
    return model.eval(), data


def eval_settings(req: EvalRequest) -> tuple[Any, tuple[str, ...]]:
    from selfsup.eval.graph import NODE_PROTOCOLS, node_eval_config
    from selfsup.eval.lowlabel import parse_fraction

    protocols = tuple(req.protocols or ()) or ("linear",)
    from selfsup.eval.protocols import check_protocols

    check_protocols(protocols, NODE_PROTOCOLS, "graph runs")
    labels = tuple(req.labels or ()) or ("1%", "10%", "100%")
    if labels == ("none",):
        labels = ()
    for lab in labels:
        try:
            parse_fraction(lab)
        except ValueError as e:
            raise UserError(str(e), hint="use values like 1%,10%,100% (or 'none' for the split protocol only)") from None
    try:
        seeds = tuple(int(s) for s in (req.seeds or ("0", "1", "2", "3", "4")))
    except ValueError:
        raise UserError(f"--seeds must be integers, got {req.seeds}") from None
    baselines = req.baselines
    baselines = ("raw", "random_init") if baselines is None else tuple(b for b in baselines if b != "none")
    for b in baselines:
        if b not in ("raw", "pca", "random_init"):
            raise UserError(f"baseline '{b}' is not available for graphs", hint="graph baselines: raw, pca, random_init")
    k = req.k or 200
    return node_eval_config(protocols=protocols, labels=labels, seeds=seeds, baselines=baselines, knn_k=k), baselines


def evaluate_graph(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    from selfsup.eval.baselines import pca_features
    from selfsup.eval.graph import node_protocols, node_split
    from selfsup.eval.report import plot_embedding_map, write_results

    run = Path(req.run_dir)
    cfg, baselines = eval_settings(req)
    model, data = load_graph_run(run, meta)
    if data.y is None:
        raise UserError(f"the graph of {run} has no node labels; node classification needs them",
                        hint="give labels: edgelist:EDGES,FEATURES,LABELS, or label_attr= for a networkx graph")
    y = data.y
    split = node_split(y, data.train_mask, data.test_mask, seed=0, val_mask=data.val_mask)
    z = model.embed(data)  # (N, D)
    print(f"{meta['method']} on {meta['dataset']}: {split.name} split {len(split.train)} train / {len(split.test)} test nodes")
    print("method:")
    results: dict[str, Any] = {
        "method": meta["method"], "dataset": meta["dataset"], "encoder": meta.get("encoder", "gcn"),
        "epochs": meta["epochs"], "train_seconds": meta["train_seconds"], "stop_reason": meta.get("stop_reason"),
        "split": {"name": split.name, "train": len(split.train), "test": len(split.test)},
        "protocols": node_protocols(z, y, split, cfg, print),
    }
    base: dict[str, Any] = {}
    if "raw" in baselines:
        print("baseline raw features:")
        base["raw"] = node_protocols(data.x, y, split, cfg, print)
    if "pca" in baselines:
        n_pca = min(cfg.pca_components or 50, data.num_features)  # fixed size here (not chosen on validation)
        print(f"baseline pca-{n_pca}:")
        p, _ = pca_features(data.x, data.x[:1], n_pca)
        base["pca"] = node_protocols(p, y, split, cfg, print)
    if "random_init" in baselines:
        print("baseline random-init encoder:")
        rnd, _ = load_graph_run(run, meta, trained=False)
        base["random_init"] = node_protocols(rnd.embed(data), y, split, cfg, print)
    results["baselines"] = base
    results["settings"] = {"labels": list(cfg.labels), "seeds": list(cfg.seeds), "protocols": list(cfg.protocols)}
    write_results(run, results)
    try:
        plot_embedding_map(z[split.test], y[split.test], run / "embedding_map.png", classes=data.classes,
                           title=f"{meta['method']} on {meta['dataset']}: test nodes (t-SNE)")
    except Exception as e:  # the map is a convenience; never fail the evaluation on it
        print(f"(embedding map skipped: {e})")
    if "linear" in results["protocols"]:
        pub = results["protocols"]["linear"][split.name]
        print(f"{meta['method']} on {meta['dataset']}: linear probe ({split.name} split) {pub['mean']:.4f} ± {pub['std']:.4f}")
    print(f"wrote {run}/results.json, report.md, embedding_map.png")
    return results


def embed_graph(run_dir: Path, meta: dict[str, Any], inputs: Any, log: Any = print) -> Any:
    """Node embeddings (N, D) of a graph as float32: ``inputs`` ``-`` (or the run's own dataset name) is
    the graph the run trained on; any other graph name is embedded when its feature width matches."""
    run = Path(run_dir)
    model, data = load_graph_run(run, meta)
    src = str(inputs)
    if src not in ("-", "run", str(meta.get("dataset"))):
        data = load_graph(src, meta.get("data_dir"))
        if data.num_features != int(meta["input_dim"]):
            raise UserError(f"graph '{src}' has {data.num_features} node features; the encoder of {run} was trained "
                            f"on {meta['input_dim']}", hint="embed a graph with the same feature columns, or '-' for the run's own graph")
    z = model.embed(data).float().numpy()  # (N, D)
    log(f"{z.shape[0]} nodes x {z.shape[1]} features (row i = node i of {data.name})")
    return z


def load_graph_encoder(run_dir: Path, meta: dict[str, Any]) -> torch.nn.Module:
    """The trained GCN encoder of a graph run (``forward(x, edge_index)``, see :mod:`selfsup.encoders.gcn`)."""
    return load_graph_run(run_dir, meta)[0].encoder


register_modality(Modality(
    "graph", pretrain_graph, evaluate_graph, embed=embed_graph, load_encoder=load_graph_encoder,
    resume=refuse_resume("graph methods train full-batch in one go and keep no checkpoints; model.pt is the final "
                         "result", NEW_RUN_HINT),
    default_encoder="gcn", protocols=("linear", "knn", "svm", "1nn", "fewshot", "cluster"),
    artifacts=("run.json", "model.pt", "graph.pt", "embeddings.pt"),
    inputs="'-' (the run's own graph) or a graph name with the same node features"))
