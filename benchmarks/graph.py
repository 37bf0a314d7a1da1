"""Graph benchmark: DGI and GRACE (ours) vs PyTorch Geometric's DGI example, node classification.

    python benchmarks/graph.py --parts dgi-cora,timing,grace-cora,citeseer --seeds 0,1,2,3,4

Parts (each writes its entry into benchmarks/graph.json, merged with earlier parts):

* ``dgi-cora``: our DGI with its defaults on Cora, one pretraining run per seed, linear probe on the
  public split (L2 chosen on the public validation nodes); the PyG example's recipe (GCNConv
  cached + PReLU, ``torch_geometric.nn.DeepGraphInfomax``, Adam 1e-3, at most 300 epochs,
  early stopping with patience 20 on the training loss) for the same seeds, probed the same way.
* ``timing``: seconds per epoch of ours and of the PyG example, epochs alternated one by one in
  one process (a busy shared machine slows both alike).
* ``grace-cora``: GRACE with its defaults on Cora, same probe.
* ``dgi-citeseer``: ours vs the PyG recipe on CiteSeer (where patience 20 can stop at a plateau).

Every accuracy is the test accuracy of the public split; mean ± std over pretraining seeds.
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

from selfsup.cli.graph import train_graph_method
from selfsup.data.graph import GraphData, load_planetoid
from selfsup.eval.graph import node_eval_config, node_protocols, node_split
from selfsup.methods import get_method
from selfsup.train.graph import GraphTrainConfig

HERE = Path(__file__).resolve().parent
OUT = HERE / "graph.json"
DATA = HERE.parent.parent / "shared" / "data" / "planetoid"


def probe(z: torch.Tensor, g: GraphData) -> float:
    split = node_split(g.y, g.train_mask, g.test_mask, val_mask=g.val_mask)
    return float(node_protocols(z, g.y, split, node_eval_config(labels=()))["linear"]["public"]["mean"])


def sklearn_probe(z: torch.Tensor, g: GraphData) -> float:
    """The PyG example's own probe (``DeepGraphInfomax.test``): scikit-learn logistic regression, C=1,
    lbfgs, 150 iterations, on the raw (unstandardised) embeddings of the training nodes."""
    from sklearn.linear_model import LogisticRegression

    z, y = z.detach().cpu().numpy(), g.y.numpy()
    tr, te = g.train_mask.numpy(), g.test_mask.numpy()
    return float(LogisticRegression(solver="lbfgs", max_iter=150).fit(z[tr], y[tr]).score(z[te], y[te]))


# ------------------------------------------------------------------ PyG's example recipe


class _PygEncoder(torch.nn.Module):
    def __init__(self, f: int, h: int) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv = GCNConv(f, h, cached=True)
        self.act = torch.nn.PReLU(h)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x, edge_index))


def pyg_model(g: GraphData, seed: int) -> tuple[Any, torch.optim.Optimizer]:
    from torch_geometric.nn import DeepGraphInfomax

    torch.manual_seed(seed)
    model = DeepGraphInfomax(
        512, _PygEncoder(g.num_features, 512),
        summary=lambda z, *args, **kwargs: torch.sigmoid(z.mean(dim=0)),
        corruption=lambda x, edge_index: (x[torch.randperm(x.size(0))], edge_index),
    )
    return model, torch.optim.Adam(model.parameters(), lr=0.001)


def pyg_epoch(model: Any, opt: torch.optim.Optimizer, g: GraphData) -> float:
    model.train()
    opt.zero_grad()
    pos, neg, s = model(g.x, g.edge_index)
    loss = model.loss(pos, neg, s)
    loss.backward()
    opt.step()
    return float(loss)


def run_pyg(g: GraphData, seed: int, epochs: int = 300, patience: int = 20) -> dict[str, Any]:
    model, opt = pyg_model(g, seed)
    best, wait, best_state, t0, losses = float("inf"), 0, None, time.perf_counter(), []
    epoch = 0
    for epoch in range(1, epochs + 1):
        loss = pyg_epoch(model, opt, g)
        losses.append(loss)
        if loss < best:
            best, wait = loss, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            wait += 1
        if wait >= patience:
            break
    secs = time.perf_counter() - t0
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        z = model(g.x, g.edge_index)[0]
    sk = float(model.test(z[g.train_mask], g.y[g.train_mask], z[g.test_mask], g.y[g.test_mask], max_iter=150))
    return {"seed": seed, "acc": probe(z, g), "acc_pyg_logreg": sk, "epochs": epoch, "best_loss": best,
            "first_losses": [round(v, 4) for v in losses[:5]], "seconds_per_epoch": secs / epoch}


# ------------------------------------------------------------------ ours


def run_ours(method: str, g: GraphData, seed: int, **train_overrides: Any) -> dict[str, Any]:
    from selfsup.config import apply_overrides

    spec = get_method(method)
    train = apply_overrides(GraphTrainConfig(), {**spec.optim_defaults, "seed": seed, **train_overrides})
    model, fit = train_graph_method(spec, spec.config_cls(), train, g)
    z = model.embed(g)
    return {"seed": seed, "acc": probe(z, g), "acc_pyg_logreg": sklearn_probe(z, g), "epochs": fit["epochs"], "best_loss": fit["best_loss"],
            "stop_reason": fit["stop_reason"], "seconds_per_epoch": fit["seconds_per_epoch"]}


def summary(rows: list[dict[str, Any]], key: str = "acc") -> dict[str, Any]:
    a = np.array([r[key] for r in rows])
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "min": float(a.min()),
            "values": [round(float(v), 4) for v in a]}


def timing(g: GraphData, epochs: int) -> dict[str, Any]:
    """Alternate one epoch of ours and one of the PyG example; per-epoch seconds of each."""
    spec = get_method("dgi")
    from selfsup.methods.base import DataInfo

    ours = spec.build(spec.config_cls(), None, DataInfo((g.num_features,)), 0)
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


def markdown() -> str:
    """The BENCHMARKS.md table from graph.json."""
    res = json.loads(OUT.read_text())
    rows = ["| what | data | test acc. (public split), mean ± std over seeds | min | per seed | epochs | s/epoch | commit, date |",
            "|---|---|---|---|---|---|---|---|"]

    def add(name: str, data: str, block: dict[str, Any] | None, env: dict[str, Any]) -> None:
        if not block or not block.get("runs"):
            return
        sm, runs = block["summary"], block["runs"]
        env = block.get("env", env)  # parts measured in separate processes carry their own
        eps = ", ".join(str(r["epochs"]) for r in runs)
        spe = np.mean([r["seconds_per_epoch"] for r in runs])
        rows.append(f"| {name} | {data} | {sm['mean']:.4f} ± {sm['std']:.4f} ({len(runs)} seeds) | {sm['min']:.4f} | "
                    f"{', '.join(f'{v:.3f}' for v in sm['values'])} | {eps} | {spe:.3f} | {env['commit']}, {env['date']} |")

    for key, data in (("dgi-cora", "Cora"), ("dgi-citeseer", "CiteSeer")):
        if key in res:
            add("DGI (ours, defaults)", data, res[key].get("ours"), res[key]["env"])
            add("DGI (ours, earlier defaults: raw features, 300 epochs)", data, res[key].get("ours_before"), res[key]["env"])
            add("PyG DGI example (patience 20)", data, res[key].get("pyg_example"), res[key]["env"])
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
    ap.add_argument("--pyg-seeds", help="seeds for the PyG recipe (default: --seeds)")
    ap.add_argument("--timing-epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 wastes less CPU on a crowded machine)")
    ap.add_argument("--only-pyg", action="store_true", help="dgi parts: run only the PyG recipe (keep our saved runs)")
    ap.add_argument("--out", default=str(OUT), help="json file the parts are merged into")
    ap.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md table from graph.json and exit")
    args = ap.parse_args()
    OUT = Path(args.out)
    if args.markdown:
        print(markdown())
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    pseeds = seeds if args.pyg_seeds is None else [int(s) for s in args.pyg_seeds.split(",") if s.strip() not in ("", "none")]
    parts = args.parts.split(",")
    torch.set_num_threads(max(1, min(args.threads, torch.get_num_threads())))
    cora = load_planetoid("cora", DATA)
    for part in parts:
        if part in ("dgi-cora", "dgi-citeseer"):
            g = cora if part == "dgi-cora" else load_planetoid("citeseer", DATA)
            ours, pyg = [], []
            saved = json.loads(OUT.read_text()).get(part, {}) if OUT.is_file() else {}

            def save_dgi() -> None:  # after every run, so a stopped benchmark keeps what it measured
                entry = {"ours": {"summary": summary(ours), "runs": ours} if ours else saved.get("ours"),
                         "pyg_example": {"summary": summary(pyg), "runs": pyg} if pyg else saved.get("pyg_example")}
                save(part, entry)

            for s in sorted(set(seeds) | set(pseeds)):
                if s in seeds and not args.only_pyg:
                    ours.append(run_ours("dgi", g, s))
                    print(part, "ours", ours[-1], flush=True)
                    save_dgi()
                if s in pseeds:
                    pyg.append(run_pyg(g, s))
                    print(part, "pyg", pyg[-1], flush=True)
                    save_dgi()
        elif part == "timing":
            t = timing(cora, args.timing_epochs)
            print(t, flush=True)
            save("timing-cora", t)
        elif part == "grace-cora":
            rows = []
            for s in seeds:
                rows.append(run_ours("grace", cora, s))
                print(part, rows[-1], flush=True)
                save(part, {"ours": {"summary": summary(rows), "runs": rows}})
        else:
            raise SystemExit(f"unknown part {part}")


if __name__ == "__main__":
    main()
