"""The library API: everything the command line does, one call each, for every modality.

    import selfsup

    run = selfsup.pretrain("simclr", "digits", out="runs/simclr", epochs=2)
    results = selfsup.evaluate(run, protocols=["knn", "linear"], labels=["10%", "100%"])
    feats = selfsup.embed(run, "digits")            # (N, D) numpy array
    encoder = selfsup.load_encoder(run)             # the trained nn.Module
    selfsup.list_methods(modality="series")         # ['cpc', 'split-brain', 'temporal-contrast', 'ts2vec']

Each call looks up the run's :class:`~selfsup.pipelines.modality.Modality` (``run.json``'s
``modality``; for ``pretrain`` the method's) and hands it a typed request
(:mod:`selfsup.pipelines.requests`). The ``selfsup`` command line is argument parsing over these
functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfsup.errors import UserError

__all__ = ["Run", "compare", "embed", "evaluate", "list_methods", "load_encoder", "open_run", "pretrain", "report",
           "resume"]


@dataclass(frozen=True)
class Run:
    """A run directory and its ``run.json``.

    Attributes:
        path: the run directory.
        meta: the content of ``run.json``.
    """

    path: Path
    meta: dict[str, Any] = field(repr=False)

    @property
    def method(self) -> str:
        return str(self.meta["method"])

    @property
    def modality(self) -> str:
        return str(self.meta.get("modality", "image"))  # runs from before the key existed were image runs

    @property
    def dataset(self) -> str:
        return str(self.meta.get("dataset"))

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "finished"))

    @property
    def results(self) -> dict[str, Any] | None:
        """``results.json`` of the last evaluation (None before any)."""
        p = self.path / "results.json"
        return json.loads(p.read_text()) if p.is_file() else None


def open_run(run: str | Path | Run) -> Run:
    """A :class:`Run` from its directory (a clear error when it is none)."""
    from selfsup.runfiles import load_run

    if isinstance(run, Run):
        run = run.path
    return Run(Path(run), load_run(Path(run)))


def list_methods(modality: str | None = None) -> list[str]:
    """Names of the registered methods, sorted; ``modality`` (e.g. ``"series"``) keeps those that train on it."""
    from selfsup.methods import METHODS

    # a data kind ("series": split-brain too), a regime ("fitted") or a first-registry name ("graph-walks")
    return sorted(n for n, s in METHODS.items()
                  if modality is None or modality in (*s.modalities, s.regime, s.pipeline))


def pretrain(method: str, data: str, out: str | Path, *, encoder: str | None = None, preset: str | None = None,
             data_dir: str | None = None, image_size: int | None = None, download: bool = False,
             skip_bad_files: bool = False, progress: bool = True, transductive: bool = False,
             **settings: Any) -> Run:
    """Pretrain ``method`` on the dataset ``data`` into the new run directory ``out``.

    Args:
        method: a name of :func:`list_methods`.
        data: a dataset name (``selfsup list``): ``digits``, ``ucr:GunPoint``, ``text:PATH``, ``cora``, ...
        out: the run directory to create (absent or empty).
        encoder: encoder name; None = the modality's default.
        preset: a named preset of the method.
        data_dir, image_size, download, skip_bad_files: where and how the data is read.
        progress: show progress bars.
        transductive: text methods only: pretrain on the whole corpus (see the README's text section).
        **settings: any setting of the method, augmentation, optimiser or training (``epochs=2``,
            ``batch_size=64``, ``temperature=0.1``, ``optim.lr=0.01``: pass dotted keys with ``**{...}``).

    Returns:
        The finished :class:`Run`.
    """
    from selfsup.methods import get_method
    from selfsup.pipelines.modality import get_modality, no_empty_run_dir
    from selfsup.pipelines.requests import PretrainRequest

    spec = get_method(method)
    if transductive and spec.modality != "text":
        raise UserError(f"--transductive applies to text methods; {spec.name} is a {spec.modality} method")
    req = PretrainRequest(method=method, data=data, out=str(out), encoder=encoder, preset=preset, data_dir=data_dir,
                          image_size=image_size, download=download, skip_bad_files=skip_bad_files, progress=progress,
                          transductive=transductive)
    no_empty_run_dir(get_modality(spec.pipeline).pretrain)(req, spec, dict(settings))
    return open_run(out)


def resume(run: str | Path | Run, *, data_dir: str | None = None, download: bool = False,
           skip_bad_files: bool = False, progress: bool = True, **changes: Any) -> Run:
    """Continue an interrupted run from its newest checkpoint (``changes``: the settings a resume may
    change, e.g. ``on_nonfinite="skip"``, ``max_minutes=10``)."""
    from selfsup.pipelines.image import resume_engine
    from selfsup.pipelines.modality import get_modality
    from selfsup.pipelines.requests import PretrainRequest

    run_dir = Path(run.path if isinstance(run, Run) else run)
    if run_dir.is_dir() and not (run_dir / "run.json").exists():
        raise UserError(f"nothing to resume in {run_dir}: it has no run.json (the run stopped before writing it; "
                        "word2vec, deepwalk and graph runs write it when they finish, and keep no "
                        "checkpoints)", hint="start the run again with selfsup pretrain METHOD --data NAME --out DIR")
    r = open_run(run_dir)
    req = PretrainRequest(method=r.method, data=r.dataset, resume=str(run_dir), data_dir=data_dir, download=download,
                          skip_bad_files=skip_bad_files, progress=progress, changes=dict(changes))
    (get_modality(r.modality).resume or resume_engine)(req, r.meta)
    return open_run(run_dir)


def evaluate(run: str | Path | Run, *, protocols: Any = None, labels: Any = None, seeds: Any = None,
             baselines: Any = None, k: int | None = None, task: str | None = None, transductive: bool = False,
             split: str = "test", data_dir: str | None = None) -> dict[str, Any]:
    """Evaluate a finished run with few labels; writes ``results.json`` and ``report.md`` into it.

    Args:
        run: the run (directory or :class:`Run`).
        protocols, labels, seeds, baselines: sequences (or comma strings); None = the modality's defaults,
            an empty ``baselines`` = none.
        k: neighbours of the kNN classifier (None: chosen on the validation split).
        task: the labeled task of modalities with several (text: ``fortunes``, ``polarity``, ``csv:PATH``...).
        transductive: text runs: accept a task whose test texts are in the pretraining corpus.
        split: ``"validation"`` scores on a split of the training labels (image / array runs) or on the
            validation nodes (graph runs); writes ``validation.json``, the test set is not read.
        data_dir: where dataset files are.

    Returns:
        The content of ``results.json`` (``validation.json`` for ``split="validation"``).
    """
    from selfsup.pipelines.modality import get_modality
    from selfsup.pipelines.requests import EvalRequest, as_tuple

    r = open_run(run)
    if transductive and r.modality != "text":
        raise UserError(f"--transductive applies to text runs; {r.path} is a {r.modality} run")
    if split == "validation" and r.modality not in ("image", "graph"):
        raise UserError(f"--split validation is not available for {r.modality} runs yet (image / array and graph runs)",
                        hint="their evaluation already chooses its settings on a validation split; drop --split")
    seeds_t = as_tuple(seeds)
    req = EvalRequest(str(r.path), protocols=as_tuple(protocols), labels=as_tuple(labels),
                      seeds=None if seeds_t is None else tuple(int(s) for s in seeds_t),
                      baselines=as_tuple(baselines), k=k, task=task, transductive=transductive, split=split,
                      data_dir=data_dir)
    get_modality(r.modality).evaluate(req, r.meta)
    name = "validation.json" if split == "validation" else "results.json"
    return json.loads((r.path / name).read_text())


def embed(run: str | Path | Run, inputs: Any, *, log: Any = print) -> Any:
    """Representations (N, D) of ``inputs`` as a float32 numpy array, by the run's trained encoder.

    What ``inputs`` may be depends on the run's modality (``Modality.inputs``): images / arrays / a
    dataset name (image, fitted, video), an (N, C, T) array or a series dataset (series), texts
    (text), words (word2vec), ``"-"`` for the run's own graph (graph, DeepWalk)."""
    import numpy as np

    from selfsup.pipelines.image import embed_image
    from selfsup.pipelines.modality import get_modality

    r = open_run(run)
    fn = get_modality(r.modality).embed or embed_image
    return np.asarray(fn(r.path, r.meta, inputs, log), dtype=np.float32)


def load_encoder(run: str | Path | Run) -> Any:
    """The trained encoder of a run as an ``nn.Module`` in eval mode (series: the method's representation,
    ``forward(x) = method.embed(x)``; graph: the GCN, ``forward(x, edge_index)``)."""
    from selfsup.eval.features import load_run_encoder
    from selfsup.pipelines.modality import get_modality

    r = open_run(run)
    m = get_modality(r.modality)
    if m.load_encoder is not None:
        return m.load_encoder(r.path, r.meta)
    if r.modality in ("words", "graph-walks"):
        raise UserError(f"{r.method} runs hold vectors, not an encoder", hint="use selfsup.embed(run, inputs)")
    return load_run_encoder(r.path)[0].encoder.eval()


def _compare_ops() -> Any:
    from selfsup.pipelines.compare import Ops

    return Ops(pretrain=pretrain, resume=resume, evaluate=evaluate, embed=embed)


def compare(data: str | None = None, out: str | Path | None = None, *, methods: Any = "auto",
            minutes_per_method: float | None = None, epochs_per_method: float | None = None, seeds: Any = (0, 1, 2),
            protocols: Any = None, labels: Any = None, encoder: str | None = None, metric: str | None = None,
            label_seeds: Any = None, baselines: Any = None, data_dir: str | None = None, resume: str | Path | None = None,
            progress: bool = True, task: str | None = None, **settings: Any) -> dict[str, Any]:
    """Pretrain every applicable method on ``data`` under one budget, evaluate each the same way, rank them.

    Each (method, seed) is one run of :func:`pretrain` + :func:`evaluate` in ``out/runs/<method>-s<seed>``;
    the plan is written first to ``out/compare.json``; the results go to ``out/leaderboard.json``,
    ``leaderboard.md`` and ``report.html`` (docs/compare.md).

    Args:
        data: a dataset name (``selfsup list``).
        out: the comparison folder to create (absent or empty).
        methods: ``"auto"`` (every method that trains on the data's kind, fitted ones aside: they are
            baselines already) or names, a comma string or a list; ``name:preset`` picks a preset.
        minutes_per_method, epochs_per_method: the budget of every run: wall-clock minutes of training
            (the learning rate annealed by the clock) or epochs; neither = 3 minutes.
        seeds: pretraining seeds; each seed is a separate run of each method.
        protocols, labels, label_seeds, baselines: the evaluation (None = the modality's defaults).
        encoder: the encoder of every method (None = the modality's default).
        metric: ``"PROTOCOL:LABELS"`` ranked on; None = the linear probe at the smallest label fraction.
        data_dir: where dataset files are.
        task: text only: the labeled task every run is scored on (None = the corpus's own: fortunes,
            kjv -> kjv-testament, polarity; other corpora need one).
        resume: a comparison folder to continue instead (the other arguments are then read from it).
        progress: the one progress line per step of the comparison, on stderr.
        **settings: settings given to every run (the ``--set`` keys).

    Returns:
        The content of ``leaderboard.json``.
    """
    from selfsup.pipelines.compare import PLAN, check_new_folder, new_plan, run_comparison

    ops = _compare_ops()
    if resume is not None:
        return run_comparison(Path(resume), ops, progress=progress)
    if data is None or out is None:
        raise UserError("compare needs data and out (or resume=DIR)",
                        hint="e.g. selfsup compare --data fashion-mnist --out cmp/fmnist")
    out = Path(out)
    check_new_folder(out)
    plan = new_plan(data, methods=methods, minutes_per_method=minutes_per_method, epochs_per_method=epochs_per_method,
                    seeds=seeds, protocols=protocols, labels=labels, encoder=encoder, metric=metric,
                    label_seeds=label_seeds, baselines=baselines, data_dir=data_dir, settings=settings, task=task)
    out.mkdir(parents=True, exist_ok=True)
    (out / PLAN).write_text(json.dumps(plan, indent=2))
    return run_comparison(out, ops, progress=progress)


def report(run: str | Path | Run) -> Path:
    """Write ``report.html`` (one self-contained page: results, loss curve, embedding map, machine, commands)
    into an evaluated run directory, or again into a comparison folder; returns its path."""
    from selfsup.pipelines.compare import report_run

    return report_run(Path(run.path if isinstance(run, Run) else run), _compare_ops())
