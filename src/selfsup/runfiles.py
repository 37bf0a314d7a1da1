"""Run-directory files without torch: atomic writes (temporary file, fsync, rename) and reading
``run.json``, so that the torch-free paths (word2vec) write and read their runs without importing
it; :mod:`selfsup.train.checkpoint` builds its checkpoints on these writes.

A full disk raises a :class:`UserError` naming the file; the temporary file is removed, so a
directory keeps only complete files.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selfsup.errors import UserError

_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _no_space_error(path: Path, e: OSError) -> UserError:
    return UserError(
        f"no space left on the device while writing {path} ({e.strerror})",
        hint="free disk space, then continue with: selfsup pretrain --resume RUN_DIR "
        "(the run directory keeps its last complete checkpoint; the partial file was removed)",
    )


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


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed onto it when the block ends without error.

    On any error the temporary file is removed; a full disk is a :class:`UserError` naming ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            raise _no_space_error(path, e) from None
        raise


def atomic_write_bytes(path: Path, write: Any, before_replace: Any = None) -> None:
    """Write a file through ``write(fileobj)`` atomically (temp file, fsync, rename).

    ``before_replace(tmp_path)``, if given, runs after the fsync and before the rename (e.g. to
    write a checksum of the complete temporary file)."""
    with _replacing(Path(path)) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def load_run(run_dir: Path) -> dict[str, Any]:
    """Read ``run.json`` of a run directory with a clear error."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a selfsup run directory (no run.json)",
                        hint="pass the --out directory of a `selfsup pretrain` run")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is corrupt: {e}") from None
