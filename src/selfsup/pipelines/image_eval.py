"""Evaluation of image / array runs: features of the trained encoder through the harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfsup.data import load_dataset
from selfsup.data.cache import data_options
from selfsup.eval.features import load_run_encoder
from selfsup.eval.harness import EvalConfig, evaluate
from selfsup.eval.report import (
    plot_accuracy_vs_labels,
    plot_embedding_map,
    write_results,
)


def evaluate_run(run_dir: Path, cfg: EvalConfig, *, data_dir: str | None = None, log=print,
                 data: Any = None) -> dict[str, Any]:
    """Evaluate the encoder of ``run_dir``; writes results.json, report.md and plots there."""
    featurizer, meta = load_run_encoder(run_dir)
    conf = meta["config"]
    if data is None:
        data = load_dataset(meta["dataset"], data_dir=data_dir or conf.get("data_dir"), image_size=conf.get("image_size"),
                            **data_options(conf.get("train", {})))
    res = evaluate(featurizer, data, cfg, log=log)
    results = {
        "method": meta["method"],
        "dataset": meta["dataset"],
        "encoder": meta["encoder"],
        "epochs": meta.get("epochs"),
        "train_seconds": meta.get("train_seconds"),
        "split": cfg.split,
        **res,
        "settings": {"labels": list(cfg.labels), "seeds": list(cfg.seeds), "knn_k": cfg.knn_k,
                     "pca_components": cfg.pca_components},
    }
    run_dir = Path(run_dir)
    if cfg.split == "validation":  # for choosing between runs: beside results.json, never over it
        write_results(run_dir, results, stem="validation", report="validation")
        return json.loads((run_dir / "validation.json").read_text())
    write_results(run_dir, results)
    plot_accuracy_vs_labels(results, run_dir / "accuracy_vs_labels.png")
    if data.y_test is not None and len(data.y_test) > 5:
        plot_embedding_map(res["_test_features"], data.y_test, run_dir / "embedding_map.png", data.classes,
                           title=f"{meta['method']} features, {meta['dataset']} test set (t-SNE)")
    return json.loads((run_dir / "results.json").read_text())
