"""results.json, report.md and the plots of an evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from selfsup.eval.lowlabel import parse_fraction

NAMES = {"method": "method", "raw": "raw input", "pca": "PCA", "random_init": "random-init encoder",
         "supervised": "supervised (scratch)", "gmm": "GMM", "kmeans": "k-means"}


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    if "skipped" in entry:  # few-shot on a test set too small for any episode
        return "skipped"
    if "note" in entry:  # few-shot on a smaller episode than asked
        return f"{entry['mean']:.3f} ± {entry['ci95']:.3f} ({entry['n_way']}-way {entry['k_shot']}-shot)"
    if "ci95" in entry:
        return f"{entry['mean']:.3f} ± {entry['ci95']:.3f}"
    return f"{entry['mean']:.3f} ± {entry['std']:.3f}"


def _columns(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    cols = [(results.get("method", "method"), results.get("protocols", {}))]
    for name, res in results.get("baselines", {}).items():
        cols.append((NAMES.get(name, name), res))
    return cols


def grid_edge_choices(results: dict[str, Any]) -> list[str]:
    """The validated choices that landed on the smallest or largest value of their grid, as short phrases
    ("kNN k=10 (smallest of the grid): simclr 1%/10%/100%, raw input 100%"). A choice at an end of a grid of
    several values says the grid may not reach the best value."""
    sel = results.get("selection") or {}
    grids = {"k": ("kNN k", sel.get("knn_k_grid") or []), "l2": ("linear L2", sel.get("l2_grid") or [])}
    found: dict[tuple[str, Any, str], dict[str, list[str]]] = {}
    named = [(results.get("method", "method"), results.get("protocols", {}))]
    named += [(NAMES.get(b, b), r) for b, r in (results.get("baselines") or {}).items()]
    for name, protos in named:
        for entries in protos.values():
            for label, entry in (entries or {}).items():
                choices = entry.get("selected") if isinstance(entry, dict) else None
                for choice in choices if isinstance(choices, list) else []:
                    for key, (what, grid) in grids.items():
                        v = choice.get(key) if isinstance(choice, dict) else None
                        if v is None or len(grid) < 2 or v not in (min(grid), max(grid)):
                            continue
                        end = "smallest" if v == min(grid) else "largest"
                        labels = found.setdefault((what, v, end), {}).setdefault(str(name), [])
                        if label not in labels:
                            labels.append(label)
    out = [f"{what}={v} ({end} of the grid): " + ", ".join(f"{n} {'/'.join(ls)}" for n, ls in tags.items())
           for (what, v, end), tags in found.items()]
    pca = sel.get("pca") or {}
    tried = [int(n) for n in (pca.get("val_accuracy") or {})]
    if len(tried) > 1 and pca.get("n_components") in (min(tried), max(tried)):
        end = "smallest" if pca["n_components"] == min(tried) else "largest"
        out.append(f"PCA size {pca['n_components']} ({end} of the grid)")
    return out


def markdown_report(results: dict[str, Any]) -> str:
    """A Markdown summary: one table per protocol, method vs baselines."""
    lines = [
        f"# {results.get('method', 'method')} on {results.get('dataset', '?')}",
        "",
        f"encoder `{results.get('encoder')}`, {results.get('epochs')} epochs, "
        f"{results.get('train_seconds')} s of pretraining; accuracies on the "
        f"{'validation split (for choosing; the test set was not read)' if results.get('split') == 'validation' else 'test set'} "
        "(mean ± std over label seeds; few-shot: mean ± 95% CI).",
        "",
    ]
    sel = results.get("selection")
    if sel:
        pca = sel.get("pca", {})
        lines += [f"Choices made on a validation split of {sel.get('val_size')} training labels (stratified, seed "
                  f"{sel.get('val_seed')}), never on the test set: kNN's k from {sel.get('knn_k_grid')}, the linear "
                  f"probe's L2 from {sel.get('l2_grid')}"
                  + (f", PCA's size ({pca.get('n_components')}, {pca.get('selected_on')})" if pca else "")
                  + f"; labeled subsets drawn from the other {sel.get('pool_size')}.", ""]
        edges = grid_edge_choices(results)
        if edges:
            lines += ["At an end of its grid (the best value may lie beyond it; widen the grid with "
                      "`EvalConfig.knn_k_grid` / `l2_grid` / `pca_grid`): " + "; ".join(edges) + ".", ""]
    cols = _columns(results)
    protos = list(results.get("protocols", {}))
    for b in results.get("baselines", {}).values():
        protos += [p for p in b if p not in protos]
    for proto in protos:
        keys: list[str] = []
        for _, res in cols:
            keys += [k for k in res.get(proto, {}) if k not in keys]
        if not keys:
            continue
        first = "metric" if proto == "cluster" else "labels"  # cluster: k-means NMI / ARI
        lines += [f"## {proto}", "", f"| {first} | " + " | ".join(n for n, _ in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for k in keys:
            lines.append(f"| {k} | " + " | ".join(_fmt(res.get(proto, {}).get(k)) for _, res in cols) + " |")
        lines.append("")
    lines += ["Plots: `accuracy_vs_labels.png`, `embedding_map.png`, `loss.png`.", ""]
    return "\n".join(lines)


def plot_accuracy_vs_labels(results: dict[str, Any], path: Path) -> None:
    """Accuracy vs label fraction (log x), one panel per low-label protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protos = [p for p in ("knn", "linear", "finetune") if any(p in r for _, r in _columns(results))]
    if not protos:
        return
    fig, axes = plt.subplots(1, len(protos), figsize=(4.2 * len(protos), 3.4), squeeze=False)
    for ax, proto in zip(axes[0], protos):
        for name, res in _columns(results):
            entry = res.get(proto)
            if not entry:
                continue
            labs = sorted(entry, key=parse_fraction)
            xs = [100 * parse_fraction(k) for k in labs]
            ys = [entry[k]["mean"] for k in labs]
            es = [entry[k]["std"] for k in labs]
            lw = 2.4 if name == results.get("method") else 1.2
            ax.errorbar(xs, ys, yerr=es, marker="o", ms=4, lw=lw, capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("% of training labels")
        ax.set_ylabel("test accuracy")
        ax.set_title(proto)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_embedding_map(features: Tensor, labels: Tensor, path: Path, classes: list[str] | None = None,
                       n: int = 2000, seed: int = 0, title: str = "") -> None:
    """2-D t-SNE map of (a sample of) the test features, coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(features), size=min(n, len(features)), replace=False)
    x = features[idx].float().cpu().numpy()
    y = labels[idx].cpu().numpy()
    if x.shape[1] > 50:
        x = PCA(min(50, len(x)), random_state=seed).fit_transform(x)  # a test set under 50 images too
    perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x) if len(x) > 5 else x[:, :2]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap="tab10", s=4)
    if classes and len(classes) <= 20:
        handles = [plt.Line2D([], [], ls="", marker="o", color=sc.cmap(sc.norm(i)), label=c) for i, c in enumerate(classes)]
        ax.legend(handles=handles, fontsize=7, markerscale=1, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of test features")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _json_safe(v: Any) -> Any:
    """NaN / inf (e.g. a protocol skipped on a tiny test set) -> null: results.json stays strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def write_results(out_dir: Path, results: dict[str, Any], stem: str = "results", report: str = "report") -> None:
    """Write ``{stem}.json`` (without private keys, non-finite numbers as null) and ``{report}.md``
    atomically (``results.json`` / ``report.md``; a validation-split evaluation writes ``validation.json`` /
    ``validation.md`` beside them, never over them)."""
    import os
    import tempfile

    out_dir = Path(out_dir)
    clean = {k: v for k, v in results.items() if not k.startswith("_")}
    for name, text in ((f"{stem}.json", json.dumps(_json_safe(clean), indent=2, allow_nan=False)),
                       (f"{report}.md", markdown_report(clean))):
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, out_dir / name)
