"""Replacing a run directory without ever deleting what selfsup did not write.

``--fresh`` (quickstart) and the benchmarks that re-run into a fixed folder call
:func:`clear_run_dir`. It removes a folder's content only when

* the folder's ``run.json`` says it is a run of that command (``"command"`` key), and
* everything in it is a file or folder that such a run writes (:data:`RUN_ARTIFACTS`).

Anything else -- a folder without ``run.json``, a run of another command, a file the user put
there -- is a :class:`UserError` raised before a single file is touched.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from selfsup.errors import UserError

# what pretrain + evaluate write into a run directory (names, or patterns for numbered files)
RUN_ARTIFACTS = (
    "run.json", "config.yaml", "metrics.csv", "encoder.safetensors", "model.safetensors", "loss.png",
    "results.json", "report.md", "accuracy_vs_labels.png", "embedding_map.png", "checkpoints",
    "lightning_logs", "report.html",
)
_TMP = re.compile(r"^\.(?:" + "|".join(re.escape(n) for n in RUN_ARTIFACTS) + r")\..+\.tmp$")
_CKPT_FILES = re.compile(r"^(?:step-\d{8}\.ckpt(?:\.sha256)?|\.step-\d{8}\.ckpt(?:\.sha256)?\..+\.tmp)$")


def _is_artifact(p: Path) -> bool:
    return p.name in RUN_ARTIFACTS or bool(_TMP.match(p.name))


def _foreign_files(run_dir: Path) -> list[Path]:
    """Entries of ``run_dir`` that a run does not write (``checkpoints/`` is checked file by file)."""
    foreign = [p for p in run_dir.iterdir() if not _is_artifact(p) or p.is_symlink()]
    ckpts = run_dir / "checkpoints"
    if ckpts.is_dir() and not ckpts.is_symlink():
        foreign += [p for p in ckpts.iterdir() if not _CKPT_FILES.match(p.name) or not p.is_file()]
    return foreign


def run_command(run_dir: Path) -> str | None:
    """The ``command`` recorded in ``run_dir/run.json`` (``None`` when there is none or it is unreadable)."""
    try:
        meta = json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("command") if isinstance(meta, dict) else None


def clear_run_dir(run_dir: Path, command: str) -> bool:
    """Empty ``run_dir`` for a new run of ``command``; returns whether anything was removed.

    An absent or empty folder is left as it is. Otherwise the folder must be a run of ``command``
    holding only run artifacts; then exactly those artifacts are removed (the folder stays)."""
    run_dir = Path(run_dir)
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return False
    if not run_dir.is_dir() or run_dir.is_symlink():
        raise UserError(f"{run_dir} is not a run directory (it is a file or a link); nothing was deleted",
                        hint="pass --out with a new folder name")
    recorded = run_command(run_dir)
    if recorded != command:
        what = "has no run.json" if not (run_dir / "run.json").exists() else (
            f"is a run of `selfsup {recorded}`" if recorded else "has a run.json that does not name its command")
        raise UserError(f"{run_dir} {what}, not of `selfsup {command}`: it is left untouched",
                        hint=f"--fresh replaces only a folder written by `selfsup {command}`; pass --out with a new "
                             "folder, or delete this one yourself if you are sure")
    foreign = _foreign_files(run_dir)
    if foreign:
        names = ", ".join(str(p.relative_to(run_dir)) for p in foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise UserError(f"{run_dir} holds files selfsup did not write ({names}); nothing was deleted",
                        hint="move those files elsewhere, or pass --out with a new folder")
    for p in run_dir.iterdir():
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    return True
