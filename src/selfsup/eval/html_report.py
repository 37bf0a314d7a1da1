"""One self-contained HTML page for a comparison (``selfsup compare``) or one run (``selfsup report``).

Everything is inside the file: the plots are PNGs drawn with matplotlib's Agg backend and inlined as
``data:`` URIs, the styles are one inline ``<style>`` block, there is no script, font or link to fetch.
So the page opens the same from a folder without network, and can be mailed or archived as it is.

Input: the leaderboard (``leaderboard.json``'s content), each method's loss history per run, and each
method's embedding map (test features + labels, projected here on their first two principal
components, or an already drawn PNG file).
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from selfsup.eval.lowlabel import parse_fraction
from selfsup.eval.wordsim import NO_LABELS

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1150px;
color:#1b1f24;background:#fff;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}th{background:#f0f3f6}
td.name,th.name{text-align:left}tr.baseline td{color:#57606a;font-style:italic}
tr.first td{background:#e6f4ea}.tie{color:#9a6700;font-weight:bold}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0;border:1px solid #d0d7de;padding:6px}
figcaption{font-size:.85em;color:#57606a;text-align:center}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:.85em}.note{color:#57606a;font-size:.9em}
"""


def _png(fig: Any) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _frac(label: str) -> float | None:
    try:
        return parse_fraction(label)
    except ValueError:
        return None


def accuracy_plots(board: dict[str, Any]) -> dict[str, str]:
    """Accuracy vs label fraction, one plot per protocol with label fractions: a line per method (mean over
    seeds) and a dashed one per baseline. Returns ``{protocol: data URI}``."""
    plt = _plt()
    protos: list[str] = []
    for r in board["rows"]:
        protos += [p for p in r["protocols"] if p not in protos]
    out = {}
    for proto in protos:
        series = [(r["method"], r["protocols"].get(proto) or {}, "-") for r in board["rows"]]
        series += [(f"baseline: {b}", res.get(proto) or {}, "--") for b, res in board["baselines"].items()]
        lines = []
        for name, cells, style in series:
            pts = sorted((f, v) for lab, v in cells.items() if (f := _frac(lab)) is not None and f > 0
                         and isinstance(v, (int, float)) and math.isfinite(v))
            if pts:
                lines.append((name, pts, style))
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(5.4, 3.8))
        cmap = plt.get_cmap("tab10" if len(lines) <= 10 else "tab20")  # one colour per line (15 methods + baselines)
        for i, (name, pts, style) in enumerate(lines):
            ax.plot([100 * f for f, _ in pts], [v for _, v in pts], style, marker="o", ms=4, color=cmap(i % cmap.N),
                    lw=1.1 if style == "--" else 1.8, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("% of training labels")
        ax.set_ylabel("test accuracy")
        ax.set_title(proto)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out[proto] = _png(fig)
    return out


def loss_plot(method: str, runs: dict[str, tuple[list[int], list[float]]]) -> str | None:
    """One method's training loss against the step, a line per run (seed); None when no run kept a loss."""
    runs = {k: v for k, v in runs.items() if v[0]}
    if not runs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.4, 3.0))
    for name, (steps, losses) in runs.items():
        ax.plot(steps, losses, lw=1.2, marker="." if len(steps) < 20 else None, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(method)
    ax.grid(alpha=0.3)
    if len(runs) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def embedding_plot(method: str, features: np.ndarray, labels: np.ndarray, classes: list[str] | None = None) -> str:
    """Test features projected on their first two principal components, coloured by label."""
    plt = _plt()
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    x = x - x.mean(0, keepdims=True)
    if x.shape[1] >= 2 and len(x) >= 2:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        xy = x @ vt[:2].T
    else:
        xy = np.column_stack([x[:, 0] if x.shape[1] else np.zeros(len(x)), np.zeros(len(x))])
    y = np.asarray(labels).reshape(-1)
    fig, ax = plt.subplots(figsize=(4.4, 4.0))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap="tab10", s=5)
    if classes and len(classes) <= 20:
        handles = [plt.Line2D([], [], ls="", marker="o", color=sc.cmap(sc.norm(i)), label=c)
                   for i, c in enumerate(classes)]
        ax.legend(handles=handles, fontsize=6, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{method}: {len(x)} test items (PCA)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _file_png(path: Path) -> str | None:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if isinstance(v, (int, float)) and math.isfinite(v) else "–"


def _num(v: Any) -> str:
    return "–" if v is None else html.escape(f"{v:g}" if isinstance(v, float) else str(v))


def _fig(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>")


def leaderboard_table(board: dict[str, Any]) -> str:
    """The ranking as an HTML table (rows ``class="method"``, baselines ``class="baseline"``)."""
    m = board["metric"]
    protos: list[tuple[str, str]] = []
    for r in board["rows"]:
        protos += [(p, lab) for p, e in r["protocols"].items() for lab in e if (p, lab) not in protos]
    head = ["rank", "method", f"{m['protocol']} {m['labels']} (mean ± std)", "per seed", "≈ next",
            "margin over best baseline", *[f"{p} {lab}" for p, lab in protos]]
    out = ['<table id="leaderboard"><thead><tr>'
           + "".join(f'<th class="{"name" if h == "method" else ""}">{html.escape(h)}</th>' for h in head)
           + "</tr></thead><tbody>"]
    n = len(board["rows"])
    for r in board["rows"]:
        mm = r["metric"]
        tie = {True: '<span class="tie" title="inside the seed noise">≈</span>', False: "", None: "?"}[
            r["tie_with_next"]] if r["rank"] < n else ""
        margin = "–" if r["margin_over_best_baseline"] is None else f"{100 * r['margin_over_best_baseline']:+.1f}"
        cells = [str(r["rank"]), html.escape(r["method"]), f"{_pct(mm['mean'])} ± {_pct(mm['std'])}",
                 " / ".join(_pct(v) for v in mm["per_seed"].values()), tie, margin,
                 *[_pct((r["protocols"].get(p) or {}).get(lab)) for p, lab in protos]]
        cls = "method first" if r["rank"] == 1 else "method"
        out.append(f'<tr class="{cls}">' + "".join(
            f'<td class="{"name" if i == 1 else ""}">{c}</td>' for i, c in enumerate(cells)) + "</tr>")
    for b, res in board["baselines"].items():
        v = (res.get(m["protocol"]) or {}).get(m["labels"])
        cells = ["–", f"baseline: {html.escape(b)}", _pct(v), "", "", "",
                 *[_pct((res.get(p) or {}).get(lab)) for p, lab in protos]]
        out.append('<tr class="baseline">' + "".join(
            f'<td class="{"name" if i == 1 else ""}">{c}</td>' for i, c in enumerate(cells)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def budget_text(board: dict[str, Any]) -> str:
    """The pretraining budget of a comparison in words ("3 minutes", "40 epochs"). Word vectors (a metric read
    from the :data:`~selfsup.eval.wordsim.NO_LABELS` cell: one score, no label fraction) train by passes without a
    clock: under a minutes budget they keep their default epochs."""
    b = board["budget"]
    if b.get("epochs_per_method") is not None:
        return f"{b['epochs_per_method']:g} epochs"
    if board["metric"]["labels"] == NO_LABELS:
        return "each method's default epochs"
    return f"{b['minutes_per_method']:g} minutes" if b.get("minutes_per_method") is not None else "–"


def render_html(board: dict[str, Any], losses: dict[str, dict[str, tuple[list[int], list[float]]]],
                maps: dict[str, Any], title: str) -> str:
    """The page's HTML text (see :func:`write_html_report`)."""
    m, budget = board["metric"], budget_text(board)
    if m["labels"] == NO_LABELS:  # word vectors: one score per protocol, no labels
        metric = (f"primary metric <b>{html.escape(m['protocol'])}</b> (its score x 100, mean ± std over "
                  "pretraining seeds).")
    else:
        metric = (f"primary metric <b>{html.escape(m['protocol'])} at {html.escape(str(m['labels']))} labels</b> "
                  "(test accuracy in %, mean ± std over pretraining seeds; every choice made on the validation split).")
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p>Data <b>{html.escape(str(board["data"]))}</b> ({html.escape(str(board.get("modality")))}); '
             f"pretraining budget {budget} per run; seeds {html.escape(', '.join(map(str, board['seeds'])))}; "
             + metric
             + (f" Wall time {board['wall_seconds']:.0f} s." if board.get("wall_seconds") else "") + "</p>",
             "<h2>Leaderboard</h2>", leaderboard_table(board),
             f'<p class="note">≈: {html.escape(board["tie_rule"])}; ?: not measured. Margin: points over the best '
             "baseline on the primary metric"
             + (f" ({html.escape(board['best_baseline']['name'])}, {_pct(board['best_baseline']['value'])})"
                if board.get("best_baseline") else "") + ".</p>"]
    if board.get("failed"):
        parts.append('<p class="note">Not in the ranking: ' + "; ".join(
            html.escape(f"{f['run']} ({f['status']}" + (f": {f['error']}" if f.get("error") else "") + ")")
            for f in board["failed"]) + "</p>")
    acc = accuracy_plots(board)
    if acc:
        parts += ["<h2>Accuracy vs labels</h2>", '<div class="grid" id="accuracy">'
                  + "".join(_fig(u, f"{p}: accuracy vs % of labels") for p, u in acc.items()) + "</div>"]
    figs = [(name, loss_plot(name, runs)) for name, runs in losses.items()]
    parts.append("<h2>Training loss</h2>")
    parts.append('<div class="grid" id="loss">' + "".join(_fig(u, f"{n}: training loss") for n, u in figs if u)
                 + "</div>")
    missing = [n for n, u in figs if not u]
    if missing:
        parts.append(f'<p class="note">No loss history kept (metrics.csv) for: {html.escape(", ".join(missing))}.</p>')
    emb = []
    for name, src in maps.items():
        if isinstance(src, tuple):
            emb.append((name, embedding_plot(name, *src)))
        else:
            emb.append((name, _file_png(src) if src is not None else None))
    parts.append("<h2>Embedding maps</h2>")
    parts.append('<div class="grid" id="embedding">' + "".join(_fig(u, f"{n}: test features") for n, u in emb if u)
                 + "</div>")
    if any(not u for _, u in emb):
        parts.append('<p class="note">No map for: ' + html.escape(", ".join(n for n, u in emb if not u)) + ".</p>")
    parts += ["<h2>Throughput and time</h2>", '<table id="time"><thead><tr><th class="name">method</th>'
              "<th>pretraining s (mean)</th><th>epochs (mean)</th><th>samples/s</th><th>evaluation s</th></tr>"
              "</thead><tbody>"]
    for r in board["rows"]:
        parts.append(f'<tr><td class="name">{html.escape(r["method"])}</td><td>{_num(r["seconds"])}</td>'
                     f'<td>{_num(r["epochs"])}</td><td>{_num(r["samples_per_s"])}</td>'
                     f'<td>{_num(r["eval_seconds"])}</td></tr>')
    parts.append("</tbody></table>")
    parts += ["<h2>Machine and versions</h2>", '<table id="machine"><tbody>'
              + "".join(f'<tr><td class="name">{html.escape(str(k))}</td><td class="name">{html.escape(str(v))}</td></tr>'
                        for k, v in (board.get("machine") or {}).items()) + "</tbody></table>"]
    cmds = [c for c in (board.get("commands") or {}).values() if c]
    parts.append("<h2>Reproduce</h2>")
    if cmds:
        parts.append("<pre>" + html.escape("\n".join(cmds)) + "</pre>")
    for r in board["rows"]:
        parts.append(f"<p><b>{html.escape(r['method'])}</b></p><pre>" + html.escape("\n".join(r["commands"]))
                     + "</pre>")
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def write_html_report(path: Path, board: dict[str, Any], losses: dict[str, dict[str, tuple[list[int], list[float]]]],
                      maps: dict[str, Any], title: str = "selfsup report") -> Path:
    """Write the page atomically.

    Args:
        path: the .html file to write.
        board: the leaderboard (``leaderboard.json``'s content).
        losses: ``{method: {run name: (steps, losses)}}``.
        maps: ``{method: (features (N, D), labels (N,), class names or None)}`` or ``{method: PNG path}``.
        title: the page's title.
    """
    import os

    path = Path(path)
    text = render_html(board, losses, maps, title)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
