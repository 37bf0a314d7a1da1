"""Text benchmark: pretrain small Transformers (BERT on the KJV, masked LM on fortunes,
utterance order on chatterbot dialogues), then fine-tune / linear-probe them with 10% of the
labels against the same Transformer trained from scratch, bag-of-words logistic regression
and averaged word2vec vectors. Writes benchmarks/text.json; --markdown prints the tables.

Pretraining is inductive by default (the test texts of the tasks defined on the corpus are left
out of it); --transductive pretrains on the whole corpus, --exclude-tasks names the tasks to leave
out. --steps fixes the number of pretraining steps (load-independent) instead of the clock.

    python benchmarks/text.py --minutes 6 --out bench_runs/text
    python benchmarks/text.py --only bert --steps 1600 --exclude-tasks kjv-testament --tasks kjv-testament --append
    python benchmarks/text.py --markdown
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [  # (method, corpus, downstream tasks)
    ("bert", "kjv", ["kjv-testament", "polarity"]),
    ("mlm", "fortunes", ["fortunes"]),
    ("utterance-order", "chatterbot", []),
]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=HERE).stdout.strip()
    except OSError:
        return "?"


def _epochs_for_steps(method: str, corpus: str, args: argparse.Namespace, batch: int = 64) -> float:
    """Epochs that make ``args.steps`` optimizer steps on the rows this corpus gives in this mode."""
    from selfsup.pipelines.text_corpus import TextDataConfig, make_text_data

    tcfg = TextDataConfig(seg_tokens=args.seg_tokens, transductive=args.transductive,
                          exclude_tasks=tuple(t for t in (args.exclude_tasks or "").split(",") if t))
    rows = len(make_text_data(corpus, method, 3 if method == "utterance-order" else 2, tcfg, seed=0)["train"])
    per_epoch = rows // batch  # the loader drops the last incomplete batch
    return (args.steps - 0.5) / per_epoch  # ceil(epochs * per_epoch) = steps


def run(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)  # on a shared 2-core machine, 1 thread avoids OpenMP spin contention
    from selfsup.pipelines.text_eval import TextEvalConfig, run_text_evaluation
    from selfsup.train.run import load_run

    out = Path(args.out)
    json_path = Path(args.json)
    res = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "commit": _commit(),
           "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, "
           f"{torch.get_num_threads()} threads, no GPU", "torch": torch.__version__, "runs": []}
    this = {k: res[k] for k in ("command", "commit", "date")}
    kept: list[dict] = []
    if args.append:  # add these runs to the existing benchmarks/text.json, each with its own command
        res = json.loads(json_path.read_text())
        kept = res["runs"]
        res["runs"] = []
    for method, corpus, tasks in RUNS:
        if args.only and method not in args.only.split(","):
            continue
        mode = "-transductive" if args.transductive else ("-excl-" + args.exclude_tasks.replace(",", "+")
                                                          if args.exclude_tasks else "")
        rd = out / f"{method}-{corpus}{mode}"
        if not (rd / "run.json").exists() or json.loads((rd / "run.json").read_text()).get("status") != "finished":
            budget = (["--epochs", f"{_epochs_for_steps(method, corpus, args):.6f}"] if args.steps else
                      ["--epochs", "30", "--max-minutes", str(args.minutes)])
            cmd = [str(Path(sys.executable).with_name("selfsup")), "pretrain", method, "--data", corpus, "--out", str(rd),
                   *budget, "--no-progress",
                   "--set", f"dim={args.dim}", "--set", f"depth={args.depth}", "--set", f"seg_tokens={args.seg_tokens}",
                   "--set", f"threads={args.threads}"]
            if args.transductive:
                cmd.append("--transductive")
            if args.exclude_tasks:
                cmd += ["--set", f"exclude_tasks={args.exclude_tasks}"]
            subprocess.run(["rm", "-rf", str(rd)], check=True)
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
        meta = load_run(rd)
        entry = {"method": method, "corpus": corpus, "steps": meta.get("steps"), "train_seconds": meta.get("train_seconds"),
                 "heldout": meta.get("heldout"), "transductive": meta.get("transductive", True),
                 "excluded_tasks": (meta["text"].get("heldout_test_texts") or {}).get("excluded_tasks", []),
                 "rows": meta["text"].get("rows"), "budget": "steps" if args.steps else "minutes", "tasks": {}}
        if args.append:
            entry.update(this)
        for task in tasks:
            if args.tasks and task not in args.tasks.split(","):
                continue
            ecfg = TextEvalConfig(labels=tuple(args.labels.split(",")), seeds=tuple(int(s) for s in args.seeds.split(",")),
                                  finetune_steps=args.finetune_steps, finetune_epochs=args.finetune_epochs,
                                  finetune_min_steps=args.finetune_min_steps,
                                  lr_grid=tuple(float(v) for v in args.lr_grid.split(",")))
            r = run_text_evaluation(rd, meta, task, ecfg=ecfg)
            entry["tasks"][task] = {k: r[k] for k in ("protocols", "baselines", "train_size", "test_size", "classes",
                                                      "settings", "eval_seconds", "transductive", "pretraining_corpus")}
            json_path.write_text(json.dumps({**res, "runs": kept + res["runs"] + [entry]}, indent=2))
        res["runs"].append(entry)
        json_path.write_text(json.dumps({**res, "runs": kept + res["runs"]}, indent=2))
    return {**res, "runs": kept + res["runs"]}


def _m(e: dict | None) -> str:
    return "–" if not e else f"{e['mean']:.3f} ± {e['std']:.3f}"


def _lrs(e: dict | None) -> str:
    return "–" if not e or "lr" not in e else ", ".join(f"{v:g}" for v in e["lr"])


def _steps(e: dict | None) -> str:
    return "–" if not e or "steps" not in e else "/".join(str(v) for v in sorted(set(e["steps"])))


def _name(r: dict) -> str:
    if "transductive" not in r:  # runs from before the corpus left test texts out: the whole corpus
        mode = ""
    elif r["transductive"]:
        mode = ", transductive"
    else:
        mode = f", inductive: without the test texts of {'+'.join(r['excluded_tasks']) or 'no task'}"
    budget = f"{r['steps']} steps" if r.get("budget") == "steps" else f"{(r['train_seconds'] or 0) / 60:.1f} min"
    return f"{r['method']} on {r['corpus']} ({budget}{mode})"


def markdown(res: dict) -> str:
    lines = [f"commit {res['commit']}, {res['date']}, {res['machine']}, torch {res['torch']}; command: `{res['command']}`"]
    lines += [f"and {_name(r)}: commit {r['commit']}, {r['date']}, command `{r['command']}`" for r in res["runs"]
              if "command" in r]
    lines.append("")
    lines += ["| pretraining | steps (s) | held-out pretext score | chance |", "|---|---|---|---|"]
    for r in res["runs"]:
        h = r["heldout"] or {}
        parts, chance = [], []
        if "mlm_accuracy" in h:
            parts.append(f"masked-token acc {h['mlm_accuracy']:.3f}, perplexity {h['mlm_perplexity']:.1f}")
        if "nsp_accuracy" in h:
            parts.append(f"NSP acc {h['nsp_accuracy']:.3f}")
            chance.append("NSP 0.5")
        if "order_accuracy" in h:
            parts.append(f"order acc {h['order_accuracy']:.3f} ({h['rows']} windows)")
            chance.append(f"order {h['order_chance']:.3f}")
        lines.append(f"| {_name(r)} | {r['steps']} ({r['train_seconds']}) | {'; '.join(parts)} | "
                     f"{', '.join(chance) or '–'} |")
    lines += ["", "| task (train/test, classes) | pretrained | labels | fine-tune | scratch (same Transformer) | "
              "linear probe | bag-of-words LR | avg word2vec | lr picked (fine-tune; scratch) | steps |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        for task, t in r["tasks"].items():
            p, b = t["protocols"], t["baselines"]
            for lab in p.get("finetune", {}):
                lines.append(f"| {task} ({t['train_size']}/{t['test_size']}, {t['classes']}) | {_name(r)} "
                             f"| {lab} | {_m(p['finetune'].get(lab))} | {_m(b.get('supervised', {}).get('finetune', {}).get(lab))} "
                             f"| {_m(p.get('linear', {}).get(lab))} | {_m(b.get('bow', {}).get('linear', {}).get(lab))} "
                             f"| {_m(b.get('word2vec', {}).get('linear', {}).get(lab))} "
                             f"| {_lrs(p['finetune'].get(lab))}; {_lrs(b.get('supervised', {}).get('finetune', {}).get(lab))} "
                             f"| {_steps(p['finetune'].get(lab))} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench_runs/text")
    ap.add_argument("--minutes", type=float, default=6.0, help="pretraining budget per run")
    ap.add_argument("--labels", default="10%")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--finetune-steps", type=int, default=0, help="fixed fine-tuning steps (0: from --finetune-epochs)")
    ap.add_argument("--finetune-epochs", type=float, default=4.0,
                    help="passes over the fit part of the labeled subset, for fine-tuning and scratch alike")
    ap.add_argument("--finetune-min-steps", type=int, default=150)
    ap.add_argument("--lr-grid", default="3e-4,1e-3", help="encoder learning rates each arm picks from on validation")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--seg-tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", help="comma list of methods to run")
    ap.add_argument("--tasks", help="comma list of the downstream tasks to evaluate (default: every task of the run)")
    ap.add_argument("--steps", type=int, default=0,
                    help="pretraining steps (epochs computed from the corpus' rows; no clock budget); 0: --minutes")
    ap.add_argument("--transductive", action="store_true",
                    help="pretrain on the whole corpus, downstream test texts included (results say transductive)")
    ap.add_argument("--exclude-tasks", help="tasks whose test texts pretraining leaves out (default: those of the corpus)")
    ap.add_argument("--append", action="store_true",
                    help="append these runs to benchmarks/text.json (e.g. a longer pretraining) instead of replacing it")
    ap.add_argument("--json", default=str(HERE / "text.json"),
                    help="results file (default benchmarks/text.json; another file lets two runs go side by side)")
    ap.add_argument("--markdown", action="store_true", help="print the tables of benchmarks/text.json")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.json).read_text())))
        return
    print(markdown(run(args)))


if __name__ == "__main__":
    main()
