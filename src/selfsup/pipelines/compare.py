"""``selfsup compare``: every applicable method on one dataset, one budget, one leaderboard, one page.

A comparison lives in one folder ``DIR``::

    compare.json      the plan, written first: data, methods, seeds, budget, protocols, labels, metric,
                      and the status of each (method, seed) run; ``--resume DIR`` reads it
    runs/<id>/        one ordinary run directory per (method, seed), ``<id>`` = ``<method>-s<seed>``
                      (``<method>-<preset>-s<seed>`` for a preset): pretrained and evaluated through the
                      library API, so ``selfsup evaluate`` / ``embed`` / ``pretrain --resume`` work on it
    leaderboard.json  the ranking (keys: :data:`LEADERBOARD_KEYS`, docs/compare.md)
    leaderboard.md    the same as a Markdown table
    report.html       one self-contained page (:mod:`selfsup.eval.html_report`)

The runs go through the functions of :mod:`selfsup.api` (``pretrain``, ``resume``, ``evaluate``,
``embed``), handed in as :class:`Ops` by ``selfsup.api.compare`` (this layer may not import the API).
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selfsup.errors import UserError
from selfsup.eval.wordsim import NO_LABELS, SCORE_KEYS, add_score_cells

FORMAT = "selfsup-compare"
PLAN = "compare.json"
# what a comparison writes into its folder (a folder holding anything else is not one of ours)
COMPARE_FILES = (PLAN, "runs", "leaderboard.json", "leaderboard.md", "report.html")
DEFAULT_MINUTES = 3.0
DEFAULT_SEEDS = (0, 1, 2)
# methods that `auto` leaves out, and why (written into compare.json)
AUTO_EXCLUDED_REGIMES = {"fitted": "PCA / GMM / k-means are baselines of the harness already (--baselines pca,gmm,kmeans)"}
# the data kind of the dataset registry -> the kind of method that `auto` picks for it: text corpora are
# registered as "words" data; `auto` compares the text-model methods on them (word vectors are evaluated on
# word similarity, not on a task: compare them with --methods word2vec:skipgram,word2vec:cbow)
AUTO_KIND = {"words": "text"}
# methods that need a particular kind of corpus: picked by `auto` only on those datasets
AUTO_ONLY_ON = {"utterance-order": ("chatterbot",)}

LEADERBOARD_KEYS = ("format", "data", "modality", "metric", "budget", "seeds", "protocols", "labels", "rows",
                    "baselines", "best_baseline", "failed", "tie_rule", "wall_seconds", "machine", "commands",
                    "created", "updated")
ROW_KEYS = ("rank", "method", "preset", "metric", "margin_over_best_baseline", "tie_with_next", "protocols",
            "seconds", "epochs", "samples_per_s", "eval_seconds", "runs", "commands")


@dataclass
class Ops:
    """The library API calls a comparison makes (``selfsup.api``'s functions)."""

    pretrain: Callable[..., Any]
    resume: Callable[..., Any]
    evaluate: Callable[..., Any]
    embed: Callable[..., Any]


# ----------------------------------------------------------------------------- the plan
def data_kind(data: str) -> str:
    """The kind of data a dataset name holds (the dataset registry's ``modality``)."""
    from selfsup.data.registry import dataset_entry

    return dataset_entry(data)[0].modality


def auto_methods(data: str) -> list[str]:
    """What ``--methods auto`` picks for ``data``: every registered method that trains on its kind of data
    (text corpora: the text-model methods), with its defaults; fitted ones (PCA, GMM, k-means) are left out,
    they are baselines of the evaluation already."""
    from selfsup.methods import METHODS, get_method

    get_method("simclr")  # registers the built-in methods
    kind = data_kind(data)
    kind = AUTO_KIND.get(kind, kind)
    base = data.split(":")[0]
    return sorted(n for n, s in METHODS.items()
                  if kind in s.modalities and s.regime not in AUTO_EXCLUDED_REGIMES
                  and base in AUTO_ONLY_ON.get(n, (base,)))


def parse_methods(methods: Any, data: str) -> list[dict[str, Any]]:
    """``"auto"`` or ``"m1,m2:preset"`` (or a list) -> ``[{"name", "method", "preset"}]`` (names checked)."""
    from selfsup.methods import get_method

    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods) if str(m).strip()]
    if names == ["auto"]:
        names = auto_methods(data)
        if not names:
            raise UserError(f"no registered method trains on {data} ({data_kind(data)} data)",
                            hint="name the methods with --methods m1,m2 (see `selfsup list`)")
    out, seen = [], set()
    for n in names:
        method, _, preset = n.partition(":")
        spec = get_method(method)
        if preset and preset not in spec.presets:
            from selfsup.errors import unknown_name

            raise unknown_name(f"preset of {method}", preset, spec.presets)
        name = f"{method}:{preset}" if preset else method
        if name in seen:
            raise UserError(f"--methods names {name} twice")
        seen.add(name)
        out.append({"name": name, "method": method, "preset": preset or None})
    return out


# the protocol a kind of data is ranked on by default (others: the linear probe): series by the RBF SVM of the
# series literature (TS2Vec's protocol), which their raw-input baseline is scored with too
PRIMARY_PROTOCOL = {"series": "svm"}


def parse_metric(metric: str | None, protocols: tuple[str, ...] | None, labels: tuple[str, ...] | None,
                 kind: str | None = None) -> dict[str, Any]:
    """``"linear:1%"`` -> ``{"protocol": "linear", "labels": "1%"}``. None: the kind's primary protocol
    (:data:`PRIMARY_PROTOCOL`, else the linear probe; else the first protocol) at the smallest label fraction
    (None there: the smallest one the results hold)."""
    from selfsup.eval.lowlabel import parse_fraction

    if metric:
        proto, sep, lab = metric.partition(":")
        if not sep or not proto or not lab:
            raise UserError(f"--metric {metric}: expected PROTOCOL:LABELS", hint="e.g. --metric linear:1% or knn:100%")
        return {"protocol": proto.strip(), "labels": lab.strip(), "default": False}
    first = PRIMARY_PROTOCOL.get(kind or "", "linear")
    proto = first if not protocols or first in protocols else protocols[0]
    lab = None
    if labels:
        try:
            lab = min(labels, key=parse_fraction)
        except ValueError:
            lab = labels[0]
    return {"protocol": proto, "labels": lab, "default": True}


def run_id(entry: dict[str, Any], seed: int) -> str:
    return (entry["method"] + (f"-{entry['preset']}" if entry["preset"] else "")) + f"-s{seed}"


def new_plan(data: str, *, methods: Any = "auto", minutes_per_method: float | None = None,
             epochs_per_method: float | None = None, seeds: Any = DEFAULT_SEEDS, protocols: Any = None,
             labels: Any = None, encoder: str | None = None, metric: str | None = None, label_seeds: Any = None,
             baselines: Any = None, data_dir: str | None = None, settings: dict[str, Any] | None = None,
             task: str | None = None) -> dict[str, Any]:
    """The content of ``compare.json`` for a new comparison (every name checked before anything runs)."""
    from selfsup.pipelines.requests import as_tuple

    if minutes_per_method is not None and epochs_per_method is not None:
        raise UserError("give --minutes-per-method or --epochs-per-method, not both")
    if minutes_per_method is None and epochs_per_method is None:
        minutes_per_method = DEFAULT_MINUTES
    for what, v in (("--minutes-per-method", minutes_per_method), ("--epochs-per-method", epochs_per_method)):
        if v is not None and not (float(v) > 0):
            raise UserError(f"{what} must be positive, got {v}")
    kind = data_kind(data)
    entries = parse_methods(methods, data)
    words = words_only(entries)
    task = None if words and not task else comparison_task(data, kind, task)
    seed_list = [int(s) for s in (as_tuple(seeds) or ())]
    if not seed_list:
        raise UserError("--seeds needs at least one seed", hint="e.g. --seeds 0,1,2")
    if len(set(seed_list)) != len(seed_list):
        raise UserError(f"--seeds repeats a seed: {seeds}")
    protos, labs = as_tuple(protocols), as_tuple(labels)
    runs = [{"id": run_id(e, s), "name": e["name"], "method": e["method"], "preset": e["preset"], "seed": s,
             "dir": f"runs/{run_id(e, s)}", "status": "planned"}
            for s in seed_list for e in entries]  # seed-major: a full first ranking comes early
    return {
        "format": FORMAT, "version": 1, "data": data, "modality": kind, "data_dir": data_dir,
        "methods": entries, "seeds": seed_list,
        "budget": {"minutes_per_method": None if minutes_per_method is None else float(minutes_per_method),
                   "epochs_per_method": None if epochs_per_method is None else float(epochs_per_method)},
        "protocols": list(protos) if protos else None, "labels": list(labs) if labs else None,
        "label_seeds": [int(s) for s in as_tuple(label_seeds)] if label_seeds is not None else None,
        "baselines": list(as_tuple(baselines)) if baselines is not None else None,
        "encoder": encoder, "settings": dict(settings or {}),
        "metric": ({"protocol": "wordsim353", "labels": NO_LABELS, "default": True} if words and not metric
                   else parse_metric(metric, protos, labs, kind)),
        "task": task, "auto_excluded": AUTO_EXCLUDED_REGIMES if methods == "auto" else {},
        "baselines_from": None, "created": _now(), "status": "planned", "runs": runs,
    }


def comparison_task(data: str, kind: str, task: str | None) -> str | None:
    """The labeled task a text comparison is scored on: ``task``, else the corpus's own (``fortunes`` ->
    fortunes, ``kjv`` -> kjv-testament, ``polarity`` -> polarity); other kinds of data have none."""
    if AUTO_KIND.get(kind, kind) != "text":
        if task:
            raise UserError(f"--task is for text comparisons; {data} is {kind} data", hint="leave --task out")
        return None
    if task:
        return task
    from selfsup.data.text_tasks import CORPUS_TASKS, TASKS

    own = CORPUS_TASKS.get(data)
    if not own:
        raise UserError(f"a text comparison is scored on a labeled task, and {data} has none of its own",
                        hint=f"pass --task (one of {', '.join(TASKS)})")
    return own[0]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, allow_nan=False))
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_plan(out: Path) -> dict[str, Any]:
    """``compare.json`` of a comparison folder, with a clear error when ``out`` is none."""
    p = Path(out) / PLAN
    if not p.is_file():
        raise UserError(f"{out} is not a comparison folder (no {PLAN})",
                        hint="start one with selfsup compare --data NAME --out DIR")
    try:
        plan = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{p} is corrupt: {e}") from None
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise UserError(f"{p} is not a selfsup comparison plan")
    return plan


def check_new_folder(out: Path) -> None:
    """Refuse a folder that already holds anything: a comparison there is continued with ``--resume``, anything
    else is not ours to write into (nothing is deleted or overwritten)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"{out} exists and is not a folder", hint="pass --out with a new folder name")
    if not any(out.iterdir()):
        return
    if (out / PLAN).is_file():
        raise UserError(f"{out} already holds a comparison", hint=f"continue it with: selfsup compare --resume {out}")
    names = ", ".join(sorted(p.name for p in out.iterdir())[:5])
    raise UserError(f"{out} is not empty and is not a comparison folder ({names}); nothing was written there",
                    hint="pass --out with a new (or empty) folder")


# ----------------------------------------------------------------------------- running it
class Progress:
    """One progress display for the whole comparison, on stderr: run i/n, method, seed, elapsed and the
    overall ETA (from the budget: minutes per run, or the seconds the finished runs took)."""

    def __init__(self, plan: dict[str, Any], enabled: bool = True) -> None:
        self.plan, self.enabled = plan, enabled
        self.t0 = time.monotonic()
        self.run_seconds: list[float] = []
        self.eval_seconds: list[float] = []

    def eta(self, left: int) -> float | None:
        minutes = self.plan["budget"].get("minutes_per_method")
        ev = statistics.mean(self.eval_seconds) if self.eval_seconds else 0.0
        if minutes is not None:
            return left * (60 * minutes + ev)
        if self.run_seconds:
            return left * statistics.mean(self.run_seconds)
        return None

    def show(self, i: int, run: dict[str, Any], what: str, left: int) -> None:
        if not self.enabled:
            return
        eta = self.eta(left)
        print(f"[compare {i}/{len(self.plan['runs'])}] {run['name']} seed {run['seed']}: {what} | elapsed "
              f"{_hms(time.monotonic() - self.t0)} | ETA {_hms(eta) if eta is not None else 'unknown'}",
              file=sys.stderr, flush=True)


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def read_results(path: Path) -> dict[str, Any]:
    """A run's results.json. Word vectors' results written before their evaluation wrote the label-free cell
    (:data:`~selfsup.eval.wordsim.NO_LABELS`) get it here, in memory (the file is not changed)."""
    res = json.loads(Path(path).read_text())
    if isinstance(res.get("protocols"), dict):
        add_score_cells(res["protocols"])
    return res


def words_only(entries: list[dict[str, Any]]) -> bool:
    from selfsup.methods import get_method

    return bool(entries) and all(get_method(e["method"]).regime == "word2vec" for e in entries)


def results_complete(run_dir: Path, plan: dict[str, Any]) -> bool:
    """Whether ``run_dir`` holds a finished run whose results.json has every planned protocol and the metric."""
    try:
        meta = json.loads((run_dir / "run.json").read_text())
        res = read_results(run_dir / "results.json")
    except (OSError, ValueError):
        return False
    if meta.get("status", "finished") != "finished" or not isinstance(res.get("protocols"), dict):
        return False
    protos = res["protocols"]
    if any(p not in protos for p in plan.get("protocols") or ()):
        return False
    m = plan["metric"]
    entry = protos.get(m["protocol"]) or {}
    return m["labels"] is None or m["labels"] in entry


# regimes that train by passes over a corpus with no clock (word2vec, DeepWalk: seconds to a minute here):
# a minutes budget leaves them at their default epochs; --epochs-per-method sets their epochs like any other's
CLOCKLESS_REGIMES = ("word2vec", "walks")


def run_settings(plan: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The settings one run is pretrained with: the budget, its seed, the comparison's ``--set`` keys."""
    from selfsup.methods import get_method

    b = plan["budget"]
    s = dict(plan.get("settings") or {})
    if b.get("epochs_per_method") is not None:
        s["epochs"] = b["epochs_per_method"]
    elif get_method(run["method"]).regime not in CLOCKLESS_REGIMES:
        s["max_minutes"] = b["minutes_per_method"]
    s["seed"] = run["seed"]
    return s


def eval_kwargs(plan: dict[str, Any], with_baselines: bool) -> dict[str, Any]:
    kw = {"protocols": plan.get("protocols"), "labels": plan.get("labels"), "seeds": plan.get("label_seeds"),
          "baselines": plan.get("baselines") if with_baselines else (), "data_dir": plan.get("data_dir")}
    if plan.get("task"):
        kw["task"] = plan["task"]
    return kw


def _run_status(run_dir: Path) -> str | None:
    try:
        return str(json.loads((run_dir / "run.json").read_text()).get("status", "finished"))
    except (OSError, ValueError):
        return None


def adopt_finished(out: Path, plan: dict[str, Any], run: dict[str, Any]) -> bool:
    """Whether ``run``'s folder holds a finished run with complete results (its own, or one copied in from a
    comparison run elsewhere); if so it is marked evaluated in ``plan`` (in memory), and its baselines become the
    comparison's when the plan has none yet."""
    run_dir = Path(out) / run["dir"]
    if not results_complete(run_dir, plan):
        return False
    run["status"] = "evaluated"
    if plan["baselines_from"] is None and json.loads((run_dir / "results.json").read_text()).get("baselines"):
        plan["baselines_from"] = run["id"]
    return True


def run_comparison(out: Path, ops: Ops, *, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) the comparison planned in ``out/compare.json``; returns the leaderboard.

    Finished runs with complete results are reused; a run stopped mid-way (interrupted, killed) continues
    from its newest checkpoint; the others are started. The baselines are evaluated once, with the first
    run evaluated. Ctrl-C stops after the current step, records where it stopped and re-raises."""
    out = Path(out)
    plan = read_plan(out)
    before = float(plan.get("wall_seconds_done") or 0.0)  # earlier segments of a resumed comparison
    (out / "runs").mkdir(exist_ok=True)
    prog = Progress(plan, progress)
    plan["status"] = "running"
    _write_json(out / PLAN, plan)
    n = len(plan["runs"])
    for i, run in enumerate(plan["runs"], 1):
        if adopt_finished(out, plan, run):
            prog.show(i, run, "finished earlier, reused", n - i)
            continue
        try:
            _one_run(out, plan, run, ops, prog, i, n)
        except KeyboardInterrupt:
            run["status"] = "interrupted"
            plan["status"] = "interrupted"
            plan["wall_seconds_done"] = round(before + time.monotonic() - prog.t0, 1)
            _write_json(out / PLAN, plan)
            print(f"selfsup compare: interrupted in {run['id']}; continue with: selfsup compare --resume {out}",
                  file=sys.stderr, flush=True)
            raise
        except UserError as e:  # this run cannot be done (bad setting for this method, data it refuses): the rest can
            run.update(status="failed", error=e.message)
            print(f"selfsup compare: {run['id']} failed: {e.message}", file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001  (a fault in one run, e.g. a full disk: recorded, the others go on;
            import traceback  # --resume tries it again)

            traceback.print_exc()
            run.update(status="failed", error=f"{type(e).__name__}: {e}")
            print(f"selfsup compare: {run['id']} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        # the wall time of every segment of the comparison (a killed one: up to its last finished run)
        plan["wall_seconds_done"] = round(before + time.monotonic() - prog.t0, 1)
        _write_json(out / PLAN, plan)
    plan["status"] = "finished" if all(r["status"] == "evaluated" for r in plan["runs"]) else "finished with failures"
    plan["updated"] = _now()
    _write_json(out / PLAN, plan)
    return write_outputs(out, plan, ops, wall_seconds=before + time.monotonic() - prog.t0)


def _one_run(out: Path, plan: dict[str, Any], run: dict[str, Any], ops: Ops, prog: Progress, i: int, n: int) -> None:
    run_dir = out / run["dir"]
    status = _run_status(run_dir)
    t0 = time.monotonic()
    if status in ("interrupted", "running", "failed"):
        run["status"] = "resuming"
        _write_json(out / PLAN, plan)
        prog.show(i, run, f"resuming from its checkpoint ({status})", n - i + 1)
        ops.resume(run_dir, data_dir=plan.get("data_dir"), progress=False)
    elif status is None:
        run["status"] = "pretraining"
        _write_json(out / PLAN, plan)
        prog.show(i, run, "pretraining", n - i + 1)
        ops.pretrain(run["method"], plan["data"], run_dir, encoder=plan.get("encoder"), preset=run["preset"],
                     data_dir=plan.get("data_dir"), progress=False, **run_settings(plan, run))
    run["status"] = "pretrained"
    run["pretrain_wall_seconds"] = round(time.monotonic() - t0, 2)
    _write_json(out / PLAN, plan)
    prog.show(i, run, "evaluating", n - i + 1)
    t1 = time.monotonic()
    with_baselines = plan["baselines_from"] is None
    res = ops.evaluate(run_dir, **eval_kwargs(plan, with_baselines))
    if with_baselines and res.get("baselines"):
        plan["baselines_from"] = run["id"]
    prog.eval_seconds.append(time.monotonic() - t1)
    prog.run_seconds.append(time.monotonic() - t0)
    run["status"] = "evaluated"
    run["eval_wall_seconds"] = round(time.monotonic() - t1, 2)


# ----------------------------------------------------------------------------- the leaderboard
def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def metric_value(results: dict[str, Any], metric: dict[str, Any]) -> float | None:
    entry = (results.get("protocols") or {}).get(metric["protocol"]) or {}
    cell = entry.get(metric["labels"]) if metric.get("labels") is not None else None
    v = cell.get("mean") if isinstance(cell, dict) else None
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def resolve_metric_labels(metric: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Fill in the metric's label fraction when the plan left it to the results: a graph's public split when they
    hold it, else the smallest fraction they hold."""
    from selfsup.eval.lowlabel import parse_fraction

    if metric.get("labels") is not None:
        return metric
    keys: list[str] = []
    for r in results:
        keys += [k for k in ((r.get("protocols") or {}).get(metric["protocol"]) or {}) if k not in keys]
    if not keys:
        return metric
    if "public" in keys:  # a graph's standard split (Planetoid: 20 labels a class, 500 validation nodes)
        return {**metric, "labels": "public"}

    def frac(k: str) -> float:
        try:
            return parse_fraction(k)
        except ValueError:
            return math.inf
    return {**metric, "labels": min(keys, key=frac)}


def tie_with_next(a: dict[str, Any], b: dict[str, Any] | None) -> bool | None:
    """The noise mark: the gap between two adjacent rows is inside the seed noise when it is smaller than
    the larger of their standard deviations over seeds. None when either row has fewer than two seeds (the
    noise is not measured) or there is no next row."""
    if b is None or a["metric"]["n"] < 2 or b["metric"]["n"] < 2:
        return None
    return abs(a["metric"]["mean"] - b["metric"]["mean"]) < max(a["metric"]["std"], b["metric"]["std"])


TIE_RULE = ("a row is marked (tie_with_next, ≈ in the tables) when |mean - next row's mean| < the larger of the two "
            "standard deviations over pretraining seeds; not marked (null) when a row has fewer than two seeds")


def _metrics_csv(run_dir: Path) -> list[dict[str, str]]:
    p = run_dir / "metrics.csv"
    try:
        with open(p, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def loss_history(run_dir: Path) -> tuple[list[int], list[float]]:
    """(steps, losses) from a run's metrics.csv (empty when it kept none)."""
    steps, losses = [], []
    for r in _metrics_csv(run_dir):
        try:
            s, v = int(float(r["step"])), float(r["loss"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(v):
            steps.append(s)
            losses.append(v)
    return steps, losses


def samples_per_s(run_dir: Path) -> float | None:
    """Median training throughput (samples/s; images/s on image data) recorded in metrics.csv, None if none."""
    vals = []
    for r in _metrics_csv(run_dir)[1:]:  # the first row includes the start-up
        try:
            v = float(r["samples_per_s"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(v) and v > 0:
            vals.append(v)
    return round(statistics.median(vals), 1) if vals else None


def run_commands(out: Path, plan: dict[str, Any], run: dict[str, Any], with_baselines: bool) -> list[str]:
    """The two commands that reproduce one run of the comparison."""
    import shlex

    s = run_settings(plan, run)
    d = out / run["dir"]
    parts = ["selfsup", "pretrain", run["method"], "--data", plan["data"], "--out", str(d)]
    if plan.get("encoder"):
        parts += ["--encoder", plan["encoder"]]
    if run["preset"]:
        parts += ["--preset", run["preset"]]
    parts += ["--seed", str(s.pop("seed"))]
    if "epochs" in s:
        parts += ["--epochs", f"{s.pop('epochs'):g}"]
    if "max_minutes" in s:
        parts += ["--max-minutes", f"{s.pop('max_minutes'):g}"]
    for k, v in s.items():
        parts += ["--set", f"{k}={v}"]
    if plan.get("data_dir"):
        parts += ["--data-dir", plan["data_dir"]]
    ev = ["selfsup", "evaluate", str(d)]
    for flag, key in (("--task", "task"), ("--protocols", "protocols"), ("--labels", "labels"),
                      ("--seeds", "label_seeds")):
        if plan.get(key):  # the task is one name; the others are lists
            v = plan[key]
            ev += [flag, v if isinstance(v, str) else ",".join(str(x) for x in v)]
    if not with_baselines:
        ev += ["--baselines", "none"]
    elif plan.get("baselines") is not None:
        ev += ["--baselines", ",".join(plan["baselines"]) or "none"]
    return [shlex.join(parts), shlex.join(ev)]


def machine_info() -> dict[str, Any]:
    """The machine and the versions a comparison ran with."""
    import torch

    from selfsup import __version__

    info: dict[str, Any] = {"selfsup": __version__, "python": platform.python_version(), "torch": torch.__version__,
                            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        info["load_1min"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    try:  # the CPU's model name, where Linux says it
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def build_leaderboard(out: Path, plan: dict[str, Any], wall_seconds: float | None = None) -> dict[str, Any]:
    """leaderboard.json's content from the runs' results (keys: :data:`LEADERBOARD_KEYS` / :data:`ROW_KEYS`)."""
    out = Path(out)
    results: dict[str, dict[str, Any]] = {}
    metas: dict[str, dict[str, Any]] = {}
    for run in plan["runs"]:
        d = out / run["dir"]
        if run["status"] == "evaluated" and (d / "results.json").is_file():
            results[run["id"]] = read_results(d / "results.json")
            metas[run["id"]] = json.loads((d / "run.json").read_text())
    metric = resolve_metric_labels(plan["metric"], list(results.values()))
    base_res = results.get(plan.get("baselines_from") or "", {}).get("baselines") or {}
    baselines = {b: {p: {lab: c.get("mean") for lab, c in (entries or {}).items() if isinstance(c, dict)}
                     for p, entries in res.items()} for b, res in base_res.items()}
    best_b = None
    for b, res in baselines.items():
        v = (res.get(metric["protocol"]) or {}).get(metric["labels"])
        if isinstance(v, (int, float)) and math.isfinite(v) and (best_b is None or v > best_b["value"]):
            best_b = {"name": b, "value": v}
    rows, failed = [], []
    for entry in plan["methods"]:
        runs = [r for r in plan["runs"] if r["name"] == entry["name"]]
        done = [r for r in runs if r["id"] in results]
        failed += [{"run": r["id"], "status": r["status"], "error": r.get("error")} for r in runs if r["id"] not in results]
        vals = [(r["seed"], metric_value(results[r["id"]], metric)) for r in done]
        vals = [(s, v) for s, v in vals if v is not None]
        if not vals:
            continue
        mean, std = _mean_std([v for _, v in vals])
        protos: dict[str, dict[str, float]] = {}
        for r in done:
            for p, entries in (results[r["id"]].get("protocols") or {}).items():
                for lab, c in (entries or {}).items():
                    if isinstance(c, dict) and isinstance(c.get("mean"), (int, float)):
                        protos.setdefault(p, {}).setdefault(lab, []).append(c["mean"])  # type: ignore[arg-type]
        protos = {p: {lab: round(statistics.mean(v), 4) for lab, v in e.items()} for p, e in protos.items()}

        def avg(key: str, src: dict[str, dict[str, Any]], rs: list[dict[str, Any]] = done) -> float | None:
            v = [src[r["id"]].get(key) for r in rs]
            v = [x for x in v if isinstance(x, (int, float))]
            return round(statistics.mean(v), 2) if v else None

        rates = [x for r in done if (x := samples_per_s(out / r["dir"])) is not None]
        rows.append({
            "method": entry["name"], "preset": entry["preset"],
            "metric": {"mean": round(mean, 4), "std": round(std, 4), "n": len(vals),
                       "per_seed": {str(s): round(v, 4) for s, v in vals}},
            "margin_over_best_baseline": round(mean - best_b["value"], 4) if best_b else None,
            "protocols": protos,
            "seconds": avg("train_seconds", metas), "epochs": avg("epochs", metas),
            "samples_per_s": round(statistics.mean(rates), 1) if rates else None,
            "eval_seconds": avg("eval_seconds", results),
            "runs": [r["dir"] for r in done],
            "commands": [c for r in done for c in run_commands(out, plan, r, r["id"] == plan.get("baselines_from"))],
        })
    rows.sort(key=lambda r: -r["metric"]["mean"])
    for i, r in enumerate(rows):
        r["rank"] = i + 1
        r["tie_with_next"] = tie_with_next(r, rows[i + 1] if i + 1 < len(rows) else None)
    rows = [{k: r[k] for k in ROW_KEYS} for r in rows]
    cmd = ["selfsup", "compare", "--data", plan["data"], "--out", str(out),
           "--methods", ",".join(e["name"] for e in plan["methods"]), "--seeds", ",".join(map(str, plan["seeds"]))]
    b = plan["budget"]
    cmd += (["--epochs-per-method", f"{b['epochs_per_method']:g}"] if b.get("epochs_per_method") is not None
            else ["--minutes-per-method", f"{b['minutes_per_method']:g}"])
    for flag, key in (("--task", "task"), ("--protocols", "protocols"), ("--labels", "labels"),
                      ("--encoder", "encoder")):
        if plan.get(key):
            cmd += [flag, plan[key] if isinstance(plan[key], str) else ",".join(plan[key])]
    if metric.get("labels") is not None:
        cmd += ["--metric", f"{metric['protocol']}:{metric['labels']}"]
    import shlex

    return {
        "format": "selfsup-leaderboard", "data": plan["data"], "modality": plan.get("modality"),
        "metric": {"protocol": metric["protocol"], "labels": metric["labels"], "default": metric.get("default", False)},
        "budget": plan["budget"], "seeds": plan["seeds"], "protocols": plan.get("protocols"),
        "labels": plan.get("labels"), "rows": rows, "baselines": baselines, "best_baseline": best_b,
        "failed": failed, "tie_rule": TIE_RULE,
        "wall_seconds": round(wall_seconds, 1) if wall_seconds is not None else None,
        "machine": machine_info(), "commands": {"compare": shlex.join(cmd), "resume": f"selfsup compare --resume {out}"},
        "created": plan.get("created"), "updated": _now(),
    }


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if isinstance(v, (int, float)) and math.isfinite(v) else "–"


def leaderboard_markdown(board: dict[str, Any]) -> str:
    """leaderboard.md: the ranking, the baselines, the rule of the noise mark, the commands."""
    from selfsup.eval.html_report import budget_text

    m = board["metric"]
    budget = budget_text(board) + " of pretraining per run"
    lines = [f"# Comparison on {board['data']}", "",
             (f"Primary metric: {m['protocol']} ({SCORE_KEYS.get(m['protocol'], 'score')} x 100, mean ± std over "
              f"pretraining seeds {', '.join(map(str, board['seeds']))}); {budget}." if m["labels"] == NO_LABELS else
              f"Primary metric: {m['protocol']} at {m['labels']} labels (test accuracy, %, mean ± std over pretraining "
              f"seeds {', '.join(map(str, board['seeds']))}); {budget}; every choice made on the validation split."), "",
             "| rank | method | metric | per seed | ≈ next | margin over best baseline | seconds | epochs | samples/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in board["rows"]:
        mm = r["metric"]
        tie = {True: "≈", False: "", None: "?"}[r["tie_with_next"]] if r["rank"] < len(board["rows"]) else ""
        margin = "–" if r["margin_over_best_baseline"] is None else f"{100 * r['margin_over_best_baseline']:+.1f}"
        lines.append(f"| {r['rank']} | {r['method']} | {_pct(mm['mean'])} ± {_pct(mm['std'])} | "
                     f"{' / '.join(_pct(v) for v in mm['per_seed'].values())} | {tie} | {margin} | "
                     f"{r['seconds'] if r['seconds'] is not None else '–'} | {r['epochs'] if r['epochs'] is not None else '–'} | "
                     f"{r['samples_per_s'] if r['samples_per_s'] is not None else '–'} |")
    for name, res in board["baselines"].items():
        v = (res.get(m["protocol"]) or {}).get(m["labels"])
        lines.append(f"| – | baseline: {name} | {_pct(v)} | | | | | | |")
    lines += ["", f"≈: {board['tie_rule']}; ?: not measured.", ""]
    if board["best_baseline"]:
        lines += [f"Best baseline on the metric: {board['best_baseline']['name']} "
                  f"({_pct(board['best_baseline']['value'])}).", ""]
    if board["failed"]:
        lines += ["Not in the ranking: " + "; ".join(f"{f['run']} ({f['status']}"
                                                      + (f": {f['error']}" if f.get("error") else "") + ")"
                                                      for f in board["failed"]), ""]
    lines += ["Reproduce:", "", "```", board["commands"]["compare"]]
    for r in board["rows"]:
        lines += r["commands"]
    lines += ["```", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the page
def embedding_points(run_dir: Path, data: str, ops: Ops, data_dir: str | None = None, n: int = 1000,
                     cache: dict[str, Any] | None = None) -> tuple[Any, Any, list[str] | None] | None:
    """(features of ~``n`` test items by the run's encoder through the API's ``embed``, their labels, class
    names) for data with an array test split (images, series); None for other data."""
    import numpy as np

    from selfsup.data import load_dataset

    cache = {} if cache is None else cache
    if "data" not in cache:
        try:
            cache["data"] = load_dataset(data, data_dir=data_dir)
        except Exception:  # noqa: BLE001  (no map rather than no page)
            cache["data"] = None
    d = cache["data"]
    xte, yte = getattr(d, "x_test", None), getattr(d, "y_test", None)
    if xte is None or yte is None or not hasattr(xte, "shape"):
        return None
    idx = np.random.default_rng(0).choice(len(xte), size=min(n, len(xte)), replace=False)
    idx.sort()
    try:
        feats = ops.embed(run_dir, xte[idx], log=lambda *a, **k: None)
    except Exception:  # noqa: BLE001
        return None
    return np.asarray(feats), np.asarray(yte[idx]), getattr(d, "classes", None)


def write_outputs(out: Path, plan: dict[str, Any], ops: Ops | None, wall_seconds: float | None = None) -> dict[str, Any]:
    """leaderboard.json, leaderboard.md and report.html of a comparison folder."""
    from selfsup.eval.html_report import write_html_report

    board = build_leaderboard(out, plan, wall_seconds)
    _write_json(out / "leaderboard.json", board)
    _write_text(out / "leaderboard.md", leaderboard_markdown(board))
    losses: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    maps: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    for row in board["rows"]:
        losses[row["method"]] = {Path(d).name: loss_history(out / d) for d in row["runs"]}
        first = out / row["runs"][0]
        pts = embedding_points(first, plan["data"], ops, plan.get("data_dir"), cache=cache) if ops else None
        maps[row["method"]] = pts if pts is not None else first / "embedding_map.png"
    write_html_report(out / "report.html", board, losses, maps,
                      title=f"selfsup compare: {plan['data']}")
    return board


def plan_seed(meta: dict[str, Any]) -> int:
    """The pretraining seed a run's run.json records (0 when it records none)."""
    conf = meta.get("config") or {}
    seed = (conf.get("train") or {}).get("seed", conf.get("seed", 0))
    return int(seed) if isinstance(seed, (int, float)) else 0


def report_run(run_dir: Path, ops: Ops) -> Path:
    """``selfsup report RUN_DIR``: the comparison's page for one evaluated run (RUN_DIR/report.html); on a
    comparison folder, its leaderboard and page again."""
    run_dir = Path(run_dir)
    if (run_dir / PLAN).is_file():
        plan = read_plan(run_dir)  # run folders copied in since the plan was written count (compare.json unchanged)
        for run in plan["runs"]:
            adopt_finished(run_dir, plan, run)
        write_outputs(run_dir, plan, ops)
        return run_dir / "report.html"
    from selfsup.eval.html_report import write_html_report

    meta_p, res_p = run_dir / "run.json", run_dir / "results.json"
    if not meta_p.is_file():
        raise UserError(f"{run_dir} is not a run directory (no run.json) nor a comparison folder (no {PLAN})",
                        hint="pass the --out folder of selfsup pretrain or selfsup compare")
    if not res_p.is_file():
        raise UserError(f"{run_dir} has not been evaluated (no results.json)", hint=f"run: selfsup evaluate {run_dir}")
    meta, res = json.loads(meta_p.read_text()), json.loads(res_p.read_text())
    name = meta.get("method", "method")
    protocols = list(res.get("protocols") or {})
    labels = res.get("settings", {}).get("labels")
    plan = {"data": meta.get("dataset"), "modality": meta.get("modality"), "data_dir": None,
            "methods": [{"name": name, "method": name, "preset": None}],
            "seeds": [],
            "budget": {"minutes_per_method": None, "epochs_per_method": meta.get("epochs")},
            "protocols": protocols, "labels": labels, "label_seeds": res.get("settings", {}).get("seeds"),
            "baselines": list(res.get("baselines") or {}), "encoder": meta.get("encoder"),
            "metric": parse_metric(None, tuple(protocols), tuple(labels) if labels else None), "settings": {},
            "baselines_from": "run", "created": None,
            "runs": [{"id": "run", "name": name, "method": name, "preset": None, "seed": plan_seed(meta), "dir": "",
                      "status": "evaluated"}]}
    plan["seeds"] = [plan_seed(meta)]
    board = build_leaderboard(run_dir, plan)
    board["commands"] = {"compare": "", "resume": ""}  # one run: its row's commands reproduce it
    pts = embedding_points(run_dir, str(meta.get("dataset")), ops)
    write_html_report(run_dir / "report.html", board, {name: {run_dir.name: loss_history(run_dir)}},
                      {name: pts if pts is not None else run_dir / "embedding_map.png"},
                      title=f"selfsup report: {name} on {meta.get('dataset')}")
    return run_dir / "report.html"
