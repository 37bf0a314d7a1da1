"""The modality registry: one declared :class:`Modality` per kind of data a run can hold.

A modality names what the rest of the library asks of it, in one place:

* ``pretrain(req, spec, overrides)``: train ``spec`` on ``req.data`` into ``req.out`` (``overrides``:
  the merged ``--config`` / ``--set`` / keyword settings);
* ``evaluate(req, meta) -> dict``: score a finished run (``meta``: its run.json), write results.json
  and report.md, return the results;
* ``embed(run_dir, meta, inputs, log) -> ndarray`` (optional): representations of ``inputs``;
  without one, the run's encoder (:func:`load_encoder`) is applied to array / image inputs;
* ``load_encoder(run_dir, meta) -> nn.Module`` (optional): the trained encoder; without one, the
  generic reader of ``encoder.safetensors`` + run.json (:func:`selfsup.eval.features.load_run_encoder`);
* ``resume(req, meta)`` (optional): continue a run whose data or model its config alone does not
  rebuild, or :func:`refuse_resume` for runs that keep no checkpoints; without one, the engine
  resumes from the run's config (image, array);
* ``default_encoder``, ``protocols`` and ``artifacts``: what ``selfsup list`` and the docs show.

A method's ``MethodSpec.modality`` names the modality that pretrains it; a run's ``run.json``
``modality`` names the one that evaluates, embeds and resumes it (split-brain on series data
writes a series run). Adding a modality = one module that calls :func:`register_modality`, plus
its name in :data:`MODULES`.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsup.errors import UserError


@dataclass(frozen=True)
class Modality:
    """One kind of data, declared once (see the module docstring for each function's contract)."""

    name: str
    pretrain: Callable[..., Any]
    evaluate: Callable[..., Any]
    embed: Callable[..., Any] | None = None
    load_encoder: Callable[..., Any] | None = None
    resume: Callable[..., Any] | None = None
    default_encoder: str | None = None
    protocols: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    inputs: str = ""  # what `embed` accepts, in words


MODALITIES: dict[str, Modality] = {}

# the modules that declare the built-in modalities (imported on first use: `selfsup --help` stays fast)
MODULES = ("image", "fitted", "channels", "series", "text", "graph", "video", "words")


def register_modality(m: Modality) -> Modality:
    MODALITIES[m.name] = m
    return m


def load_modalities() -> dict[str, Modality]:
    """Every built-in modality, registered (all of :data:`MODULES` imported)."""
    for mod in MODULES:
        importlib.import_module(f"selfsup.pipelines.{mod}")
    return MODALITIES


def get_modality(name: str) -> Modality:
    """The registered modality ``name``: the module named after it is imported first (``words`` does
    not import torch or lightning), the other built-in ones only when that does not declare it."""
    if name in MODULES and name not in MODALITIES:
        importlib.import_module(f"selfsup.pipelines.{name}")
    if name in MODALITIES:
        return MODALITIES[name]
    load_modalities()
    if name not in MODALITIES:
        from selfsup.errors import unknown_name

        raise unknown_name("modality", name, MODALITIES)
    return MODALITIES[name]


# the hint of runs that cannot continue: a new, longer run
NEW_RUN_HINT = "to train longer, start a new run: selfsup pretrain {method} --data {dataset} --out NEW_DIR --epochs N"


def refuse_resume(what: str, hint: str) -> Callable[..., Any]:
    """A resumer for runs that keep no checkpoints: a clear error naming what to do instead.

    Args:
        what: why the run cannot continue, e.g. "word2vec runs train in one go and keep no checkpoints".
        hint: what to run instead; ``{method}`` and ``{dataset}`` are filled in from the run.
    """

    def resume(req: Any, meta: dict[str, Any]) -> Any:
        method, dataset = meta.get("method", "METHOD"), meta.get("dataset", "NAME")
        status = meta.get("status", "finished")
        raise UserError(f"cannot resume {req.resume} ({method}, {status}): {what}",
                        hint=hint.format(method=method, dataset=dataset))

    return resume


def no_empty_run_dir(run: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a pretraining function ``run(req, ...)``: when it fails, the run directory (and any
    missing parents) that this call created is removed if it is still empty (the failure came before
    anything was written, e.g. bad input data). A directory that existed before, or that holds any
    file (run.json with the failure, checkpoints), is never touched."""

    @functools.wraps(run)
    def wrapped(req: Any, *a: Any, **kw: Any) -> Any:
        top = None  # the outermost folder of req.out that does not exist yet
        p = Path(req.out) if getattr(req, "out", None) else None
        while p is not None and not p.exists() and not p.is_symlink():
            top = p
            p = p.parent if p.parent != p else None
        try:
            return run(req, *a, **kw)
        except BaseException:
            if top is not None:
                _remove_empty_tree(top)
            raise

    return wrapped


def _remove_empty_tree(root: Path) -> None:
    """Remove ``root`` if it holds only (nested) empty folders; leave it alone otherwise."""
    if not root.is_dir() or root.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        if filenames or any(os.path.islink(os.path.join(dirpath, d)) for d in dirnames):
            return
    for dirpath, _, _ in sorted(os.walk(root), key=lambda t: -len(t[0])):  # deepest first
        try:
            os.rmdir(dirpath)
        except OSError:
            return
