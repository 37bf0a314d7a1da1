"""Per-modality glue for ``selfsup pretrain`` and ``selfsup evaluate``.

Each modality registers two functions here:

* ``pretrain(args, spec, overrides) -> int``: ``args`` is the argparse namespace of
  ``selfsup pretrain`` (``method``, ``data``, ``out``, ``data_dir``, ``seed``, ``epochs``, ...),
  ``spec`` the method's registry entry, ``overrides`` the merged ``--config``/``--set`` values
  (with --epochs/--batch-size/--seed/--max-minutes folded in);
* ``evaluate(args, meta) -> int``: ``args`` of ``selfsup evaluate`` (``run_dir``, ``protocols``,
  ``labels``, ``seeds``, ``task``, ...), ``meta`` the run's ``run.json`` (its ``modality`` key
  selects the runner);
* optionally ``resume(args, meta) -> int`` for ``selfsup pretrain --resume RUN_DIR``: modalities
  without one are resumed by the Lightning engine from the run's config alone (image, array);
  modalities that keep no checkpoints register :func:`refuse_resume`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PRETRAIN: dict[str, Callable[..., int]] = {}
EVALUATE: dict[str, Callable[..., int]] = {}
EMBED: dict[str, Callable[..., int]] = {}  # modality -> embed(args, meta) for `selfsup embed` (others: encoders)
RESUME: dict[str, Callable[..., int]] = {}  # modality -> resume(args, meta) (others: the generic engine resume)


def register_runner(modality: str, pretrain: Callable[..., int], evaluate: Callable[..., int]) -> None:
    PRETRAIN[modality] = pretrain
    EVALUATE[modality] = evaluate


def register_embedder(modality: str, embed: Callable[..., int]) -> None:
    """``selfsup embed`` for a modality whose runs are not encoders (word vectors, node vectors)."""
    EMBED[modality] = embed


def register_resumer(modality: str, resume: Callable[..., int]) -> None:
    """``selfsup pretrain --resume RUN_DIR`` for a modality whose data or model the run's config
    alone does not rebuild (text: the tokenizer; video: the clip generator settings)."""
    RESUME[modality] = resume


# the hint of runs that cannot continue: a new, longer run
NEW_RUN_HINT = "to train longer, start a new run: selfsup pretrain {method} --data {dataset} --out NEW_DIR --epochs N"


def refuse_resume(what: str, hint: str) -> Callable[..., int]:
    """A resumer for runs that keep no checkpoints: a clear error naming what to do instead.

    Args:
        what: why the run cannot continue, e.g. "word2vec runs train in one go and keep no checkpoints".
        hint: what to run instead; ``{method}`` and ``{dataset}`` are filled in from the run.
    """

    def resume(args: Any, meta: dict[str, Any]) -> int:
        from selfsup.errors import UserError

        method, dataset = meta.get("method", "METHOD"), meta.get("dataset", "NAME")
        status = meta.get("status", "finished")
        raise UserError(f"cannot resume {args.resume} ({method}, {status}): {what}",
                        hint=hint.format(method=method, dataset=dataset))

    return resume


def resume_runner(modality: str) -> Callable[..., int] | None:
    _load_all()
    return RESUME.get(modality)


def embed_runner(modality: str) -> Callable[..., int] | None:
    _load_all()
    return EMBED.get(modality)


def _load_all() -> None:
    """Import the modality glue modules (each calls :func:`register_runner`)."""
    import importlib

    for mod in ("selfsup.cli.image", "selfsup.cli.graph", "selfsup.cli.series", "selfsup.cli.fitted", "selfsup.cli.channels", "selfsup.cli.words", "selfsup.cli.text",
                "selfsup.cli.video"):
        importlib.import_module(mod)


def pretrain_runner(modality: str) -> Callable[..., int]:
    _load_all()
    from selfsup.errors import UserError

    if modality not in PRETRAIN:
        raise UserError(f"no pretraining runner for modality '{modality}'")
    return _no_empty_run_dir(PRETRAIN[modality])


def _no_empty_run_dir(run: Callable[..., int]) -> Callable[..., int]:
    """Wrap a pretraining runner: when it fails, the run directory (and any missing parents) that
    this command created is removed if it is still empty (the failure came before anything was
    written, e.g. bad input data). A directory that existed before, or that holds any file
    (run.json with the failure, checkpoints), is never touched."""
    import functools
    from pathlib import Path

    @functools.wraps(run)
    def wrapped(args: Any, spec: Any, overrides: dict[str, Any]) -> int:
        top = None  # the outermost folder of --out that does not exist yet
        p = Path(args.out) if getattr(args, "out", None) else None
        while p is not None and not p.exists() and not p.is_symlink():
            top = p
            p = p.parent if p.parent != p else None
        try:
            return run(args, spec, overrides)
        except BaseException:
            if top is not None:
                _remove_empty_tree(top)
            raise

    return wrapped


def _remove_empty_tree(root: Any) -> None:
    """Remove ``root`` if it holds only (nested) empty folders; leave it alone otherwise."""
    import os

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


def evaluate_runner(modality: str) -> Callable[..., Any]:
    _load_all()
    from selfsup.errors import UserError

    if modality not in EVALUATE:
        raise UserError(f"no evaluation runner for modality '{modality}'")
    return EVALUATE[modality]
