"""Graph benchmark: DGI and GRACE (ours) vs PyTorch Geometric's DGI example, node classification.

    SELFSUP_DATA_DIR=/work/shared/data python benchmarks/graph.py --parts dgi-cora,dgi-citeseer --seeds 0,1,2

Parts (each writes its entry into benchmarks/graph.json, or ``--out``, merged with earlier parts; in a dgi part a
seed run now replaces that seed's run and the other saved seeds stay). Processes run side by side write to files of
their own; ``--out FILE --merge A.json B.json`` then merges their dgi runs into FILE by seed, each run keeping the
commit, date and command of the process that measured it (the table's last column lists them):

* ``dgi-cora``: three rows on Cora, one pretraining run per seed each:
  - our DGI with its defaults;
  - PyG's example **as written**: ``examples/infomax_transductive.py`` of torch_geometric (see
    :data:`PYG_EXAMPLE`): GCNConv (not cached) + PReLU, 512 units, ``DeepGraphInfomax`` with the
    sigmoid-mean summary and row-shuffle corruption, Adam lr 1e-3, exactly 300 full-batch epochs, the
    final weights, on the features as loaded (no normalisation). The script only adds a seed;
  - the same example + patience-20 early stopping on the training loss and restoring the lowest-loss
    weights (**our** addition, not PyG's; the script's earlier "PyG example" row). The rule only reads
    the loss, so up to its stopping epoch that run is the as-written run of the same seed epoch by
    epoch; both rows therefore come from one training run per seed: the weights the rule would have
    restored are kept aside at the epoch it would have stopped, and training goes on to epoch 300.
  Every row is probed the same way: a linear probe on the frozen embeddings of the public training
  nodes, its L2 chosen on the public split's 500 validation nodes, and kNN with k chosen on the same
  validation nodes (``selfsup.eval.graph.node_protocols``); the test nodes are read once per number.
  The example's own probe (``model.test``: scikit-learn logistic regression, C=1, 150 iterations, no
  selection) is recorded beside it as ``acc_pyg_logreg``.
* ``dgi-citeseer``: the same three rows on CiteSeer.
* ``timing``: seconds per epoch of ours and of the PyG example as written, epochs alternated one by one
  in one process (a busy shared machine slows both alike).
* ``grace-cora``: GRACE with its defaults on Cora, same probe.

Data: Planetoid raw files from ``--data-dir`` or ``$SELFSUP_DATA_DIR`` (``DIR/planetoid/<Name>/raw``), as
the product finds them. Every accuracy is the test accuracy of the public split; mean ± std over seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.data.graph import GraphData, load_planetoid, locate_planetoid
from selfsup.eval.graph import node_eval_config, node_protocols, node_split
from selfsup.methods import get_method
from selfsup.pipelines.graph import train_graph_method
from selfsup.train.graph import GraphTrainConfig

HERE = Path(__file__).resolve().parent
OUT = HERE / "graph.json"

# The PyG example the peer rows follow, pinned: the file is the same at tag 2.8.0 (726310a), at 2.8.0.post1 and
# at master 5c6461b (2026-08-17); it last changed in 04376d2 (2023-10-06). The installed torch_geometric is
# recorded with every result (env()["torch_geometric"]).
PYG_EXAMPLE = {"file": "examples/infomax_transductive.py", "repo": "github.com/pyg-team/pytorch_geometric",
               "tag": "2.8.0", "tag_commit": "726310a486eae37a89cd6359072b82bbbbb71579",
               "file_last_changed": "04376d213dd053ae08a8f3735803d1608a2d247a", "epochs": 300, "lr": 0.001,
               "hidden": 512}


def probes(z: torch.Tensor, g: GraphData) -> dict[str, float]:
    """The one probe every row gets: linear (L2 on the validation nodes) and kNN (k on the validation nodes)."""
    split = node_split(g.y, g.train_mask, g.test_mask, val_mask=g.val_mask)
    res = node_protocols(z, g.y, split, node_eval_config(labels=(), protocols=("linear", "knn")))
    return {"acc": float(res["linear"]["public"]["mean"]), "acc_knn": float(res["knn"]["public"]["mean"])}


def sklearn_probe(z: torch.Tensor, g: GraphData) -> float:
    """The PyG example's own probe (``DeepGraphInfomax.test``): scikit-learn logistic regression, C=1,
    lbfgs, 150 iterations, on the raw (unstandardised) embeddings of the training nodes."""
    from sklearn.linear_model import LogisticRegression

    z, y = z.detach().cpu().numpy(), g.y.numpy()
    tr, te = g.train_mask.numpy(), g.test_mask.numpy()
    return float(LogisticRegression(solver="lbfgs", max_iter=150).fit(z[tr], y[tr]).score(z[te], y[te]))


# ------------------------------------------------------------------ PyG's example, as written
# Follows examples/infomax_transductive.py of pyg-team/pytorch_geometric at tag 2.8.0 (PYG_EXAMPLE above) line by
# line: Encoder, corruption, model, optimizer, train() and test(); only the seed and the run-time record are ours.


class _PygEncoder(torch.nn.Module):
    """The example's ``Encoder``: one GCNConv (default arguments, not cached) and a PReLU."""

    def __init__(self, in_channels: int, hidden_channels: int) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv = GCNConv(in_channels, hidden_channels)
        self.prelu = torch.nn.PReLU(hidden_channels)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.conv(x, edge_index))


def _pyg_corruption(x: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[torch.randperm(x.size(0), device=x.device)], edge_index


def pyg_model(g: GraphData, seed: int) -> tuple[Any, torch.optim.Optimizer]:
    from torch_geometric.nn import DeepGraphInfomax

    torch.manual_seed(seed)  # the example sets no seed; ours, so that runs repeat
    model = DeepGraphInfomax(
        hidden_channels=PYG_EXAMPLE["hidden"], encoder=_PygEncoder(g.num_features, PYG_EXAMPLE["hidden"]),
        summary=lambda z, *args, **kwargs: z.mean(dim=0).sigmoid(), corruption=_pyg_corruption,
    )
    return model, torch.optim.Adam(model.parameters(), lr=PYG_EXAMPLE["lr"])


def pyg_epoch(model: Any, opt: torch.optim.Optimizer, g: GraphData) -> float:
    """The example's ``train()``."""
    model.train()
    opt.zero_grad()
    pos_z, neg_z, summary_ = model(g.x, g.edge_index)
    loss = model.loss(pos_z, neg_z, summary_)
    loss.backward()
    opt.step()
    return loss.item()


def _pyg_scores(model: Any, g: GraphData) -> dict[str, float]:
    """The example's ``test()`` (its own probe, kept as ``acc_pyg_logreg``) and our probe on the same embeddings."""
    model.eval()
    with torch.no_grad():
        z, _, _ = model(g.x, g.edge_index)
    sk = float(model.test(z[g.train_mask], g.y[g.train_mask], z[g.test_mask], g.y[g.test_mask], max_iter=150))
    return {**probes(z, g), "acc_pyg_logreg": sk}


def run_pyg(g: GraphData, seed: int, patience: int = 20) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run of the example as written (300 epochs, final weights) -> (as-written row, early-stopping row).

    The early-stopping row is what patience-``patience`` early stopping on the training loss with restoring
    of the lowest-loss weights (our rule, not the example's) gives on the same run: the rule reads only the
    loss, so the run is the same up to the epoch where it would stop; its weights are kept aside there.
    """
    epochs = PYG_EXAMPLE["epochs"]
    model, opt = pyg_model(g, seed)
    best, best_epoch, wait, best_state, stop_epoch, es_state = float("inf"), 0, 0, None, None, None
    losses: list[float] = []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        loss = pyg_epoch(model, opt, g)
        losses.append(loss)
        if stop_epoch is not None:
            continue
        if loss < best:
            best, best_epoch, wait = loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            wait += 1
        if wait >= patience or epoch == epochs:  # stops here, or ran out of epochs: restores its best weights
            stop_epoch, es_state, es_best = epoch, best_state, (best, best_epoch)
    secs = (time.perf_counter() - t0) / epochs
    as_written = {"seed": seed, **_pyg_scores(model, g), "epochs": epochs, "final_loss": losses[-1],
                  "first_losses": [round(v, 4) for v in losses[:5]], "seconds_per_epoch": secs}
    model.load_state_dict(es_state)
    early = {"seed": seed, **_pyg_scores(model, g), "epochs": stop_epoch, "best_loss": es_best[0],
             "best_epoch": es_best[1], "stopped_early": stop_epoch < epochs, "seconds_per_epoch": secs}
    return as_written, early


# ------------------------------------------------------------------ ours


def run_ours(method: str, g: GraphData, seed: int, **train_overrides: Any) -> dict[str, Any]:
    from selfsup.config import apply_overrides

    spec = get_method(method)
    train = apply_overrides(GraphTrainConfig(), {**spec.optim_defaults, "seed": seed, **train_overrides})
    model, fit = train_graph_method(spec, spec.config_cls(), train, g)
    z = model.embed(g)
    return {"seed": seed, **probes(z, g), "acc_pyg_logreg": sklearn_probe(z, g), "epochs": fit["epochs"], "best_loss": fit["best_loss"],
            "stop_reason": fit["stop_reason"], "seconds_per_epoch": fit["seconds_per_epoch"]}


def summary(rows: list[dict[str, Any]], key: str = "acc") -> dict[str, Any]:
    a = np.array([r[key] for r in rows])
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "min": float(a.min()),
            "values": [round(float(v), 4) for v in a]}


def timing(g: GraphData, epochs: int) -> dict[str, Any]:
    """Alternate one epoch of ours and one of the PyG example; per-epoch seconds of each."""
    spec = get_method("dgi")
    from selfsup.methods.base import DataInfo

    ours = spec.build(spec.config_cls(), None, DataInfo((g.num_features,)), seed=0)
    opt = torch.optim.Adam(ours.parameters(), lr=0.001)
    pyg, popt = pyg_model(g, 0)
    t_ours, t_pyg = [], []
    for i in range(epochs + 2):
        t = time.perf_counter()
        opt.zero_grad()
        ours.training_step(g).loss.backward()
        opt.step()
        t1 = time.perf_counter()
        pyg_epoch(pyg, popt, g)
        t2 = time.perf_counter()
        if i >= 2:  # warm-up
            t_ours.append(t1 - t)
            t_pyg.append(t2 - t1)
    mo, mp = float(np.median(t_ours)), float(np.median(t_pyg))
    return {"epochs": epochs, "ours_median_s": mo, "pyg_median_s": mp, "ratio_ours_over_pyg": mo / mp,
            "ours_mean_s": float(np.mean(t_ours)), "pyg_mean_s": float(np.mean(t_pyg))}


def env() -> dict[str, Any]:
    import torch_geometric

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=HERE).stdout.strip()
    except OSError:
        commit = "?"
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return {"machine": f"{cpu}, {torch.get_num_threads()} threads", "python": platform.python_version(),
            "torch": torch.__version__, "torch_geometric": torch_geometric.__version__, "commit": commit,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": "python " + " ".join(sys.argv)}


def save(key: str, value: Any) -> None:
    res = json.loads(OUT.read_text()) if OUT.is_file() else {}
    res[key] = {**value, "env": env()}
    OUT.write_text(json.dumps(res, indent=2))
    print(f"[{key}] saved", flush=True)


DGI_ROWS = ("ours", "pyg_example_as_written", "pyg_example_early_stop")


def merge_runs(old: list[dict[str, Any]], old_env: dict[str, Any] | None, new: list[dict[str, Any]],
               new_env: dict[str, Any]) -> dict[str, Any]:
    """One row's runs: ``new`` replaces the seeds it holds, the other seeds of ``old`` stay; each run carries the
    env (commit, date, command) of the process that measured it; the summary is over the merged runs."""
    by_seed = {r["seed"]: {**r, "env": r.get("env", old_env)} for r in old}
    by_seed.update({r["seed"]: {**r, "env": r.get("env", new_env)} for r in new})
    runs = [by_seed[s] for s in sorted(by_seed)]
    return {"summary": summary(runs), "runs": runs}


def merge_parts(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Merge the dgi parts of ``other`` (a result file of another process) into ``into``, run by run, by seed.

    See :func:`merge_runs`; parts other than the dgi ones (or not yet in ``into``) are copied over whole.
    """
    out = json.loads(json.dumps(into))
    for part, entry in other.items():
        if part not in ("dgi-cora", "dgi-citeseer") or part not in out:
            out[part] = entry
            continue
        dst = out[part]
        for key in DGI_ROWS:
            src = entry.get(key)
            if not src or not src.get("runs"):
                continue
            old = dst.get(key) or {}
            dst[key] = merge_runs(old.get("runs", []), old.get("env", dst.get("env")), src["runs"],
                                  src.get("env", entry["env"]))
    return out


def _provenance(runs: list[dict[str, Any]], env: dict[str, Any]) -> str:
    """``commit, date`` of a row; runs merged from several processes list theirs, with the seeds each measured."""
    groups: dict[tuple[str, str], list[int]] = {}
    for r in runs:
        e = r.get("env") or env
        groups.setdefault((e["commit"], e["date"]), []).append(r["seed"])
    if len(groups) == 1:
        (commit, date), = groups
        return f"{commit}, {date}"
    return "; ".join(f"{c}, {d} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})"
                     for (c, d), s in groups.items())


def markdown() -> str:
    """The BENCHMARKS.md table from graph.json (or ``--out``)."""
    res = json.loads(OUT.read_text())
    rows = ["| what | data | test acc., linear probe (L2 on val), mean ± std over seeds | min | per seed | kNN (k on val) | "
            "example's own probe (C=1) | epochs | s/epoch | commit, date |",
            "|---|---|---|---|---|---|---|---|---|---|"]

    def add(name: str, data: str, block: dict[str, Any] | None, env: dict[str, Any]) -> None:
        if not block or not block.get("runs"):
            return
        sm, runs = block["summary"], block["runs"]
        env = block.get("env", env)  # parts measured in separate processes carry their own
        eps = ", ".join(str(r["epochs"]) for r in runs)
        spe = np.mean([r["seconds_per_epoch"] for r in runs])

        def other(key: str) -> str:
            if not all(key in r for r in runs):
                return "-"
            o = summary(runs, key)
            return f"{o['mean']:.4f} ± {o['std']:.4f}"

        rows.append(f"| {name} | {data} | {sm['mean']:.4f} ± {sm['std']:.4f} ({len(runs)} seeds) | {sm['min']:.4f} | "
                    f"{', '.join(f'{v:.3f}' for v in sm['values'])} | {other('acc_knn')} | {other('acc_pyg_logreg')} | "
                    f"{eps} | {spe:.3f} | {_provenance(runs, env)} |")

    for key, data in (("dgi-cora", "Cora"), ("dgi-citeseer", "CiteSeer")):
        if key in res:
            e = res[key]
            tg = e["env"].get("torch_geometric", "?")
            src = e.get("pyg_example_source", {})
            pin = f"torch_geometric {tg}, {src.get('file', '')} @ {src.get('tag', '?')}" if src else f"torch_geometric {tg}"
            add("DGI (ours, defaults)", data, e.get("ours"), e["env"])
            add("DGI (ours, earlier defaults: raw features, 300 epochs)", data, e.get("ours_before"), e["env"])
            add(f"PyG DGI example as written ({pin})", data, e.get("pyg_example_as_written"), e["env"])
            add(f"PyG example + patience-20 early stopping (ours) ({pin})", data, e.get("pyg_example_early_stop"), e["env"])
            add("PyG DGI example + patience 20 (ours; the earlier script's \"PyG example\" row)", data, e.get("pyg_example"),
                e["env"])
    if "grace-cora" in res:
        add("GRACE (ours, defaults)", "Cora", res["grace-cora"]["ours"], res["grace-cora"]["env"])
    out = "\n".join(rows)
    if "timing-cora" in res:
        t = res["timing-cora"]
        out += (f"\n\nSeconds per DGI epoch on Cora, one epoch of each alternated for {t['epochs']} epochs in one process: "
                f"ours {t['ours_median_s']:.3f} s, PyG example {t['pyg_median_s']:.3f} s (medians), ratio "
                f"{t['ratio_ours_over_pyg']:.2f} ({t['env']['commit']}, {t['env']['date']}).")
    return out


def main() -> None:
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="dgi-cora,timing,grace-cora,dgi-citeseer")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--pyg-seeds", help="seeds for the PyG example rows (default: --seeds; 'none': no PyG runs)")
    ap.add_argument("--timing-epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 wastes less CPU on a crowded machine)")
    ap.add_argument("--only-pyg", action="store_true", help="dgi parts: run only the PyG example rows (keep our saved runs)")
    ap.add_argument("--data-dir", help="directory holding planetoid/<Name>/raw (default: $SELFSUP_DATA_DIR, then the "
                                       "download cache)")
    ap.add_argument("--out", default=str(OUT), help="json file the parts are merged into")
    ap.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md table from the json file and exit")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="merge the dgi runs of these result files (other "
                    "processes' --out) into --out by seed, each run keeping its commit/date, and exit")
    args = ap.parse_args()
    OUT = Path(args.out)
    if args.merge:
        res = json.loads(OUT.read_text()) if OUT.is_file() else {}
        for f in args.merge:
            res = merge_parts(res, json.loads(Path(f).read_text()))
        OUT.write_text(json.dumps(res, indent=2))
        print(f"merged {', '.join(args.merge)} into {OUT}")
        return
    if args.markdown:
        print(markdown())
        return
    import torch_geometric

    if not torch_geometric.__version__.startswith("2.8."):
        print(f"warning: torch_geometric {torch_geometric.__version__} installed; the PyG rows follow "
              f"{PYG_EXAMPLE['file']} of {PYG_EXAMPLE['tag']}", file=sys.stderr)
    seeds = [int(s) for s in args.seeds.split(",")]
    pseeds = seeds if args.pyg_seeds is None else [int(s) for s in args.pyg_seeds.split(",") if s.strip() not in ("", "none")]
    parts = args.parts.split(",")
    torch.set_num_threads(max(1, min(args.threads, torch.get_num_threads())))

    def graph(name: str) -> GraphData:
        return load_planetoid(name, locate_planetoid(name, args.data_dir))

    loaded: dict[str, GraphData] = {}

    def cora() -> GraphData:
        return loaded.setdefault("cora", graph("cora"))

    for part in parts:
        if part in ("dgi-cora", "dgi-citeseer"):
            g = cora() if part == "dgi-cora" else graph("citeseer")
            ours: list[dict[str, Any]] = []
            written: list[dict[str, Any]] = []
            early: list[dict[str, Any]] = []
            saved = json.loads(OUT.read_text()).get(part, {}) if OUT.is_file() else {}

            def block(rows: list[dict[str, Any]], key: str) -> Any:
                """This process's runs merged by seed into those saved in --out (a seed run here replaces its own)."""
                if not rows:
                    return saved.get(key)
                old = saved.get(key) or {}
                return merge_runs(old.get("runs", []), old.get("env", saved.get("env")), rows, env())

            def save_dgi() -> None:  # after every run, so a stopped benchmark keeps what it measured
                save(part, {"ours": block(ours, "ours"), "pyg_example_as_written": block(written, "pyg_example_as_written"),
                            "pyg_example_early_stop": block(early, "pyg_example_early_stop"),
                            "pyg_example_source": PYG_EXAMPLE,
                            "probe": ("linear probe on the public training nodes, L2 chosen on the 500 public validation "
                                      "nodes; kNN with k chosen on the same nodes; test nodes read once per number")})

            for s in sorted(set(seeds) | set(pseeds)):
                if s in seeds and not args.only_pyg:
                    ours.append(run_ours("dgi", g, s))
                    print(part, "ours", ours[-1], flush=True)
                    save_dgi()
                if s in pseeds:
                    w, e = run_pyg(g, s)
                    written.append(w)
                    early.append(e)
                    print(part, "pyg as written", w, flush=True)
                    print(part, "pyg + early stopping", e, flush=True)
                    save_dgi()
        elif part == "timing":
            t = timing(cora(), args.timing_epochs)
            print(t, flush=True)
            save("timing-cora", t)
        elif part == "grace-cora":
            rows = []
            for s in seeds:
                rows.append(run_ours("grace", cora(), s))
                print(part, rows[-1], flush=True)
                save(part, {"ours": {"summary": summary(rows), "runs": rows}})
        else:
            raise SystemExit(f"unknown part {part}")


if __name__ == "__main__":
    main()
