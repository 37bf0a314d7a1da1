"""Graph runs (DGI, GRACE): full-batch training through the engine, node evaluation, node embeddings.

``pretrain`` trains through the Lightning engine (:func:`selfsup.train.run.pretrain`): the graph is a
loader of one batch (one Adam step per epoch), early stopping and ``restore_best`` a callback
(:mod:`selfsup.train.graph`), so graph runs have checkpoints, ``selfsup pretrain --resume``, the NaN
guard, SIGTERM / Ctrl-C at a step boundary and ``max_minutes``. RUN_DIR holds the engine's layout
(``run.json`` with the ``train`` section of :class:`GraphTrainConfig`, the stop reason, timings and the
loss curve; ``config.yaml``; ``metrics.csv``; ``checkpoints/``; ``encoder.safetensors`` (the GCN);
``model.safetensors`` (the whole method, the best epoch's weights with ``restore_best``); ``encoder_spec``
in run.json) and the graph artifacts: ``graph.pt`` (the graph it was trained on, written before training
so a resume trains on the very same graph) and ``embeddings.pt`` (node embeddings ``z`` (N, D) with ``y``
and the split masks), both plain tensors read with ``weights_only``. Runs of the first version (their own
loop: ``model.pt``, no checkpoints) still evaluate and embed; they cannot resume.
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
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from selfsup.config import apply_overrides, route_settings
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo
from selfsup.pipelines.modality import (
    NEW_RUN_HINT,
    Modality,
    refuse_resume,
    register_modality,
)
from selfsup.pipelines.requests import EvalRequest, PretrainRequest
from selfsup.train.checkpoint import atomic_torch_save, atomic_write_text
from selfsup.train.graph import EarlyStopping, GraphLoader, GraphTrainConfig, full_batch_adam
from selfsup.train.hooks import RegimeHooks

GRAPH_NAMES_HINT = "graph names: cora, citeseer, pubmed, planetoid:NAME:ROOT, edgelist:EDGES[,FEATURES[,LABELS]]"

# engine settings a graph run may set with --set (the rest of TrainConfig: batches, devices, sample counts,
# do not apply to one full graph per step), and their graph defaults: fp32 as the first loop trained
# (bf16 would move the numbers), a checkpoint every 50 epochs (an epoch is one step; the engine's
# epoch-end checkpoints would write one per step)
ENGINE_KEYS = ("precision", "accelerator", "ckpt_every_minutes", "ckpt_every_steps", "keep_checkpoints",
               "on_nonfinite", "threads", "log_every_steps")
ENGINE_DEFAULTS = {"precision": "32", "ckpt_every_steps": 50}
GRAPH_FIELDS = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask", "name", "classes")


def load_graph(name: str, data_dir: str | None = None, download: bool = False) -> Any:
    """A registered graph dataset by name, with a clear error for non-graph names (``download``: allow
    fetching cora/citeseer/pubmed)."""
    from selfsup.data.graph import as_graph

    return as_graph(name, data_dir=data_dir, download_ok=download)


def engine_settings(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Overrides -> (engine settings of :data:`ENGINE_KEYS`, the rest for :func:`split_settings`)."""
    engine = {k: v for k, v in overrides.items() if k in ENGINE_KEYS}
    return engine, {k: v for k, v in overrides.items() if k not in ENGINE_KEYS}


def split_settings(spec: Any, overrides: dict[str, Any]) -> tuple[Any, GraphTrainConfig]:
    """Overrides -> (method config, training config); the method's ``optim_defaults`` come first."""
    ov = dict(overrides)
    if ov.get("batch_size") is not None:
        raise UserError("graph methods train full-batch (the whole graph each epoch); --batch-size does not apply")
    ov.pop("batch_size", None)
    if "epochs" in ov:
        e = float(ov["epochs"])
        if e != int(e) or e < 1:
            raise UserError(f"--epochs must be a whole number >= 1 for graph methods, got {ov['epochs']}")
        ov["epochs"] = int(e)
    # the one settings router: a key both own goes to the training config (``method.KEY`` for the method's)
    routed = route_settings({"train": GraphTrainConfig(), "method": spec.config_cls()},
                            {f"train.{k}": v for k, v in spec.optim_defaults.items()}, ov)
    return routed["method"], routed["train"]


def engine_config(spec: Any, data_name: str, data_dir: str | None, cfg: Any, train: GraphTrainConfig,
                  engine: dict[str, Any] | None = None) -> Any:
    """The engine's :class:`RunConfig` of a graph run: Adam at ``train.lr``, no warmup, a constant lr
    (what the first loop ran), ``train.epochs`` one-step epochs, the run's seed and budget."""
    from selfsup.augment import ImageAugConfig
    from selfsup.train.config import TrainConfig
    from selfsup.train.optim import OptimConfig
    from selfsup.train.run import RunConfig

    train.validate()
    optim = OptimConfig(optimizer="adam", lr=train.lr, weight_decay=train.weight_decay, warmup_epochs=0.0,
                        schedule="constant")
    tc = apply_overrides(TrainConfig(epochs=train.epochs, seed=train.seed, max_minutes=train.max_minutes),
                         {**ENGINE_DEFAULTS, **(engine or {})})
    tc.validate()
    return RunConfig(spec.name, data_name, "gcn", None, cfg, ImageAugConfig(), optim, tc, None, data_dir)


def graph_plan(train: GraphTrainConfig, nodes: int) -> Any:
    """The engine's training plan of a full-batch run: ``epochs`` epochs of one step (the whole graph)."""
    from selfsup.train.config import TrainingPlan

    rule = (f"at most {train.epochs} full-batch epochs (one step each)"
            + (f", early stopping with patience {train.patience} once armed (epoch >= {train.min_epochs} and the "
               f"loss {train.warmup_drop} below epoch 1's)" if train.patience else ""))
    return TrainingPlan(batch_size=1, batch_size_requested=None, batch_note="", stop_rule="epochs",
                        epochs=train.epochs, max_steps=train.epochs, steps_per_epoch=1, samples=nodes, stop_note=rule)


def build_graph_method(spec: Any, cfg: Any, num_features: int, num_nodes: int, seed: int) -> torch.nn.Module:
    return spec.build(cfg, None, DataInfo(input_shape=(num_features,), num_samples=num_nodes), seed=seed)


def train_graph_method(spec: Any, cfg: Any, train: GraphTrainConfig, data: Any, out: Path | None = None, *,
                       resume: bool = False, engine: dict[str, Any] | None = None, data_name: str | None = None,
                       data_dir: str | None = None, progress: bool = False,
                       extra_meta: dict[str, Any] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build ``spec``'s method for ``data`` and train it full-batch through the engine into ``out`` (a
    temporary folder when None); returns (method with the best or last weights, fit record: epochs,
    best_epoch, best_loss, stop_reason, stopped_early, train_seconds, seconds_per_epoch, losses, meta)."""
    from selfsup.train.run import pretrain

    if out is None:
        with tempfile.TemporaryDirectory(prefix="selfsup-graph-") as tmp:
            return train_graph_method(spec, cfg, train, data, Path(tmp) / "run", engine=engine, data_name=data_name,
                                      data_dir=data_dir, progress=progress, extra_meta=extra_meta)
    out = Path(out)
    rcfg = engine_config(spec, data_name or data.name, data_dir, cfg, train, engine)
    model = build_graph_method(spec, cfg, data.num_features, data.num_nodes, train.seed)
    info = DataInfo(input_shape=(data.num_features,), num_samples=data.num_nodes)
    early = EarlyStopping(model, train)
    graph = {k: getattr(data, k) for k in GRAPH_FIELDS}
    extra = {"modality": "graph", "encoder": f"gcn-{type(model.encoder).__name__}-{model.encoder.out_dim}d",
             "input_dim": data.num_features, "data_dir": data_dir, "train": asdict(train),
             "encoder_spec": {"name": "gcn", "method": spec.name, "input_dim": data.num_features,
                              "out_dim": model.encoder.out_dim},
             **(extra_meta or {})}
    hooks = RegimeHooks(loader=GraphLoader(data), plan=graph_plan(train, data.num_nodes), info=info, callbacks=[early],
                        make_optimizer=full_batch_adam(train.lr, train.weight_decay), checkpoint_epoch_ends=False)
    meta = pretrain(rcfg, out, resume=resume, progress=progress, method=model, extra_meta=extra, hooks=hooks,
                    files={"graph.pt": lambda path: atomic_torch_save(graph, path)})
    fit = early.record(float(meta["train_seconds"]))
    meta.update({k: fit[k] for k in ("epochs", "best_epoch", "best_loss", "stop_reason", "stopped_early")},
                seconds_per_epoch=round(fit["seconds_per_epoch"], 4), losses=[round(v, 5) for v in fit["losses"]])
    model.eval()
    atomic_torch_save({"z": model.embed(data), "y": data.y, "train_mask": data.train_mask, "val_mask": data.val_mask,
                       "test_mask": data.test_mask}, out / "embeddings.pt")
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    return model, {**fit, "meta": meta}


def _announce(data: Any) -> None:
    print(f"{data.name}: {data.num_nodes} nodes, {data.edge_index.shape[1] // 2} edges, {data.num_features} features"
          + (f", {data.num_classes} classes" if data.y is not None else ""))


def _report(spec: Any, out: Path, fit: dict[str, Any]) -> dict[str, Any]:
    first = fit["losses"][0] if fit["losses"] else float("nan")
    print(f"pretrained {spec.name}: {fit['stop_reason']} ({fit['train_seconds']:.1f} s, "
          f"{fit['seconds_per_epoch']:.3f} s/epoch, loss {first:.4f} -> {fit['best_loss']:.4f})")
    print(f"next: selfsup evaluate {out}")
    return fit["meta"]


def pretrain_graph(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    if req.encoder not in (None, "small-cnn", "gcn"):
        raise UserError(f"graph methods use the GCN encoder, not '{req.encoder}'",
                        hint="drop --encoder (or pass --encoder gcn); set its size with --set hidden_dim=...")
    if req.preset:
        if req.preset not in spec.presets:
            raise UserError(f"unknown preset '{req.preset}' for {spec.name}", hint=f"presets: {', '.join(spec.presets) or 'none'}")
        overrides = {**spec.presets[req.preset], **overrides}
    engine, rest = engine_settings(overrides)
    cfg, train = split_settings(spec, rest)
    engine_config(spec, req.data, req.data_dir, cfg, train, engine)  # every setting checked before the data loads
    data = load_graph(req.data, req.data_dir, req.download)
    _announce(data)
    out = Path(req.out)
    _, fit = train_graph_method(spec, cfg, train, data, out, engine=engine, data_name=req.data, data_dir=req.data_dir,
                                progress=req.progress)
    return _report(spec, out, fit)


def resume_graph(req: PretrainRequest, meta: dict[str, Any]) -> dict[str, Any]:
    """``selfsup pretrain --resume RUN_DIR`` of a graph run: the run's own graph (``graph.pt``), method and
    settings, continued from the newest checkpoint with the early-stopping state and best weights it holds.
    Runs of the first loop (``model.pt``, no checkpoints) are refused."""
    from selfsup.data.graph import GraphData
    from selfsup.methods import get_method
    from selfsup.train.run import RESUME_KEYS

    run = Path(req.resume)
    if "encoder_spec" not in meta:
        return refuse_resume("it was trained by the first full-batch graph loop, which keeps no checkpoints "
                             "(model.pt is its final result)", NEW_RUN_HINT)(req, meta)
    changes = dict(req.changes or {})
    for key in changes:
        if key not in RESUME_KEYS:
            raise UserError(f"'{key}' cannot change when a run is resumed (it would change the model, the data "
                            "order or the checkpoint's content)",
                            hint=f"start a new run instead; a resume can change: {', '.join(RESUME_KEYS)}")
    spec = get_method(meta["method"])
    cfg = apply_overrides(spec.config_cls(), meta["config"]["method_config"])
    train = apply_overrides(GraphTrainConfig(), {**meta["train"], **{k: v for k, v in changes.items()
                                                                      if k in ("lr", "max_minutes")}})
    engine = {**{k: v for k, v in meta["config"]["train"].items() if k in ENGINE_KEYS},
              **{k: v for k, v in changes.items() if k in ENGINE_KEYS}}
    if not (run / "graph.pt").is_file():
        raise UserError(f"{run / 'graph.pt'} is missing: the graph the run trained on", hint=NEW_RUN_HINT)
    data = GraphData(**torch.load(run / "graph.pt", map_location="cpu", weights_only=True))
    print(f"resuming {meta['method']} in {run}")
    _announce(data)
    _, fit = train_graph_method(spec, cfg, train, data, run, resume=True, engine=engine, data_name=meta["dataset"],
                                data_dir=meta["config"].get("data_dir"), progress=req.progress)
    return _report(spec, run, fit)


def load_graph_run(run_dir: Path, meta: dict[str, Any], trained: bool = True) -> tuple[torch.nn.Module, Any]:
    """The run's method (trained weights, or freshly initialised with the run's seed) and its graph.

    Engine runs: ``model.safetensors`` and the method config in run.json's ``config``; runs of the first
    loop: ``model.pt`` (a state dict, read with ``weights_only``) and the method config as ``config``."""
    from selfsup.data.graph import GraphData
    from selfsup.methods import get_method
    from selfsup.train.checkpoint import load_safetensors

    run_dir = Path(run_dir)
    engine_run = "encoder_spec" in meta
    weights = "model.safetensors" if engine_run else "model.pt"
    for f in ("graph.pt", weights):
        if not (run_dir / f).is_file():
            hint = (f"finish it: selfsup pretrain --resume {run_dir}" if engine_run and f == weights
                    else f"pretrain again: selfsup pretrain {meta.get('method', 'METHOD')} --data {meta.get('dataset', 'GRAPH')} --out DIR")
            raise UserError(f"{run_dir / f} is missing; the run did not finish", hint=hint)
    spec = get_method(meta["method"])
    g = torch.load(run_dir / "graph.pt", map_location="cpu", weights_only=True)
    data = GraphData(**g)
    cfg = apply_overrides(spec.config_cls(), meta["config"]["method_config"] if engine_run else meta["config"])
    seed = int(meta["train"]["seed"])
    model = build_graph_method(spec, cfg, data.num_features, data.num_nodes, seed)
    if trained:
        state = (load_safetensors(run_dir / weights) if engine_run
                 else torch.load(run_dir / weights, map_location="cpu", weights_only=True))
        model.load_state_dict(state)
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
    # k None: chosen on the validation nodes from the harness's grid (as for every other modality)
    return node_eval_config(protocols=protocols, labels=labels, seeds=seeds, baselines=baselines, knn_k=req.k), baselines


def evaluate_graph(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    from selfsup.eval.graph import node_protocols, node_split, select_node_pca, validation_node_split
    from selfsup.eval.report import plot_embedding_map, write_results

    run = Path(req.run_dir)
    cfg, baselines = eval_settings(req)
    model, data = load_graph_run(run, meta)
    if data.y is None:
        raise UserError(f"the graph of {run} has no node labels; node classification needs them",
                        hint="give labels: edgelist:EDGES,FEATURES,LABELS, or label_attr= for a networkx graph")
    y = data.y
    split = node_split(y, data.train_mask, data.test_mask, seed=0, val_mask=data.val_mask)
    scored_on = "test"
    if req.split == "validation":  # for choosing between runs: the test nodes are never read
        split = validation_node_split(split, y, seed=0)
        scored_on = "validation"
        labels_note = "low-label subsets" if cfg.labels else ""
        cfg.labels = ()  # the low-label protocols draw from every non-test node, validation ones included
        if labels_note:
            print("(--split validation on a graph scores the split protocol only: the label fractions draw from the "
                  "validation nodes)")
    z = model.embed(data)  # (N, D)
    print(f"{meta['method']} on {meta['dataset']}: {split.name} split {len(split.train)} train / {len(split.test)} "
          f"{scored_on} nodes")
    print("method:")
    results: dict[str, Any] = {
        "method": meta["method"], "dataset": meta["dataset"], "encoder": meta.get("encoder", "gcn"),
        "epochs": meta["epochs"], "train_seconds": meta["train_seconds"], "stop_reason": meta.get("stop_reason"),
        "split": {"name": split.name, "train": len(split.train), "test": len(split.test), "scored_on": scored_on},
        "protocols": node_protocols(z, y, split, cfg, print),
    }
    base: dict[str, Any] = {}
    if "raw" in baselines:
        print("baseline raw features:")
        base["raw"] = node_protocols(data.x, y, split, cfg, print)
    if "pca" in baselines:  # its size chosen on the validation nodes, as the method's probe settings are
        pca = select_node_pca(data.x, y, split, cfg)
        print(f"baseline pca-{pca['n_components']} ({pca['selected_on']}):")
        base["pca"] = node_protocols(pca.pop("_features"), y, split, cfg, print)
        results.setdefault("selection", {})["pca"] = pca
    if "random_init" in baselines:
        print("baseline random-init encoder:")
        rnd, _ = load_graph_run(run, meta, trained=False)
        base["random_init"] = node_protocols(rnd.embed(data), y, split, cfg, print)
    results["baselines"] = base
    results["settings"] = {"labels": list(cfg.labels), "seeds": list(cfg.seeds), "protocols": list(cfg.protocols)}
    if scored_on == "validation":  # beside results.json, never over it
        write_results(run, results, stem="validation", report="validation")
        print(f"wrote {run}/validation.json, validation.md (validation nodes; the test nodes were not read)")
        return results
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
    resume=resume_graph,
    default_encoder="gcn", protocols=("linear", "knn", "svm", "1nn", "fewshot", "cluster"),
    artifacts=("run.json", "config.yaml", "metrics.csv", "checkpoints/", "encoder.safetensors", "model.safetensors",
               "graph.pt", "embeddings.pt", "loss.png"),
    inputs="'-' (the run's own graph) or a graph name with the same node features"))
