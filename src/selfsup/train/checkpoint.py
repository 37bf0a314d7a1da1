"""Atomic, safely loadable checkpoints.

* Training state (Lightning's checkpoint dict: weights, optimiser, loop counters,
  plus our RNG and data-order state) is written with ``torch.save`` to a temporary
  file, fsynced, then renamed: a partial file never carries a checkpoint's name.
  Next to it, ``step-XXXXXXXX.ckpt.sha256`` holds its SHA-256, written before the
  rename: a checkpoint whose checksum is missing or differs (truncated, modified,
  copied without it) is refused. It is loaded with ``torch.load(weights_only=True)``:
  tensors and plain containers only.
* A full disk raises a :class:`UserError` naming the file; the temporary file is removed,
  so the run directory keeps only complete files.
* Weights for downstream use are safetensors (``encoder.safetensors``, ``model.safetensors``).
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

# the atomic writes live in a torch-free module (the word2vec path writes its run files without torch)
from selfsup.runfiles import _replacing, atomic_write_bytes, atomic_write_text  # noqa: F401
from selfsup.errors import UserError

CKPT_RE = re.compile(r"^step-(\d{8})\.ckpt$")
# our temporary files: ".NAME.RANDOM.tmp" (tempfile.mkstemp: RANDOM is 8 characters of [a-z0-9_]), NAME one of
# the files a run writes: only these are ever treated as leftovers (a user's ".draft.tmp" is not ours)
TMP_RE = re.compile(r"^\.(?:step-\d{8}\.ckpt(?:\.sha256)?|[\w.-]+\.(?:json|yaml|safetensors|pt|txt|csv|md|png|npy|npz))"
                    r"\.[a-z0-9_]{8}\.tmp$")
CHECKSUM_SUFFIX = ".sha256"
FORMAT = 1  # version of the content of ``checkpoint["selfsup"]``; bump when it changes


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum_path(path: Path) -> Path:
    return Path(str(path) + CHECKSUM_SUFFIX)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file (fsynced), write its checksum file, then rename."""
    path = Path(path)

    def write_checksum(tmp: Path) -> None:
        atomic_write_text(checksum_path(path), f"{file_sha256(tmp)}  {path.name}\n")

    atomic_write_bytes(path, lambda f: torch.save(obj, f), before_replace=write_checksum)


def atomic_save_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save tensors as safetensors atomically (contiguous CPU copies)."""
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with _replacing(Path(path)) as tmp:
        save_file(flat, str(tmp), metadata=metadata)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, with a clear error for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} not found", hint="is this a finished selfsup run directory?")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types
        raise UserError(f"cannot load weights from {path}: {e}", hint="the file is corrupt; re-run or restore it") from None


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Checkpoint files in ``ckpt_dir``, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if CKPT_RE.match(p.name))


def verify_checksum(path: Path) -> None:
    """Refuse a checkpoint whose checksum file is missing or does not match."""
    path = Path(path)
    side = checksum_path(path)
    if not side.is_file():
        raise UserError(f"checkpoint {path} has no checksum file ({side.name})",
                        hint="it is incomplete or was not written by this version of selfsup")
    expected = side.read_text().split()[0] if side.read_text().strip() else ""
    if file_sha256(path) != expected:
        raise UserError(f"checkpoint {path} does not match its checksum",
                        hint="the file was truncated, corrupted or modified after it was written")


def load_checkpoint(path: Path, method: str | None = None) -> dict[str, Any]:
    """Load a training checkpoint safely: checksum first, then ``weights_only=True``.

    Args:
        path: the ``step-XXXXXXXX.ckpt`` file.
        method: refuse a checkpoint of another method.
    """
    path = Path(path)
    verify_checksum(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"checkpoint {path} cannot be loaded safely: {e}", hint="it is corrupt or was not written by selfsup") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or not isinstance(ckpt.get("selfsup"), dict):
        raise UserError(f"checkpoint {path} is not a selfsup training checkpoint")
    extra = ckpt["selfsup"]
    if extra.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} has format {extra.get('format')}; this selfsup reads format {FORMAT}",
                        hint=f"it was written by selfsup {extra.get('selfsup_version', '(unknown)')}; resume it with that version")
    if method is not None and extra.get("method") != method:
        raise UserError(f"checkpoint {path} belongs to method {extra.get('method')!r}, not {method!r}",
                        hint="resume a run directory with its own checkpoints")
    return ckpt


def latest_valid_checkpoint(ckpt_dir: Path, method: str | None = None) -> Path | None:
    """The newest checkpoint that passes :func:`load_checkpoint` (``None`` if none does);
    bad ones are skipped with a warning that says why."""
    for path in reversed(list_checkpoints(ckpt_dir)):
        try:
            load_checkpoint(path, method)
            return path
        except UserError as e:
            warnings.warn(f"skipping unusable checkpoint: {e.message}", stacklevel=2)
    return None


def remove_partial_files(run_dir: Path) -> list[Path]:
    """Delete what a killed writer left behind in ``run_dir`` and its ``checkpoints/``:
    temporary files and checksum files without their checkpoint. Returns what was removed."""
    removed = []
    for d in (Path(run_dir), Path(run_dir) / "checkpoints"):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            # a checkpoint's checksum file whose checkpoint is gone (never any other *.sha256)
            orphan = (CKPT_RE.match(p.name[: -len(CHECKSUM_SUFFIX)]) is not None and p.name.endswith(CHECKSUM_SUFFIX)
                      and not p.with_name(p.name[: -len(CHECKSUM_SUFFIX)]).exists())
            if p.is_file() and (TMP_RE.match(p.name) or orphan):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def prune_checkpoints(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (and their checksum files)."""
    for old in list_checkpoints(ckpt_dir)[:-keep]:
        for p in (old, checksum_path(old)):
            try:
                p.unlink()
            except OSError:
                pass
