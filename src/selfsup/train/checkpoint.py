"""Atomic, safely loadable checkpoints.

* Training state (Lightning's checkpoint dict: weights, optimiser, loop counters,
  plus our RNG and data-order state) is written with ``torch.save`` to a temporary
  file, fsynced, then renamed: a partial file never carries a checkpoint's name.
  It is loaded with ``torch.load(weights_only=True)``: tensors and plain containers only.
* Weights for downstream use are safetensors (``encoder.safetensors``, ``model.safetensors``).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from selfsup.errors import UserError

CKPT_RE = re.compile(r"^step-(\d{8})\.ckpt$")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Write a file through ``write(fileobj)`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write_bytes(path, lambda f: torch.save(obj, f))


def atomic_save_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save tensors as safetensors atomically (contiguous CPU copies)."""
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        save_file(flat, tmp, metadata=metadata)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a training checkpoint safely (``weights_only=True``)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"checkpoint {path} cannot be loaded safely: {e}", hint="it is corrupt or was not written by selfsup") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UserError(f"checkpoint {path} is not a selfsup training checkpoint")
    return ckpt


def latest_valid_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest checkpoint that loads; corrupt ones are skipped (with a warning)."""
    import warnings

    for path in reversed(list_checkpoints(ckpt_dir)):
        try:
            load_checkpoint(path)
            return path
        except UserError as e:
            warnings.warn(f"skipping unreadable checkpoint: {e}", stacklevel=2)
    return None


def prune_checkpoints(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for old in list_checkpoints(ckpt_dir)[:-keep]:
        try:
            old.unlink()
        except OSError:
            pass
