"""Dataset registry: command-line name -> loader.

Names are exact (``fashion-mnist``) or prefixed (``folder:PATH``, ``npz:PATH``).
Other modalities register their own names from their modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selfsup.errors import UserError, unknown_name


@dataclass
class DatasetEntry:
    loader: Callable[..., Any]
    description: str
    prefix: bool = False
    modality: str = "image"


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(
    name: str, description: str, *, prefix: bool = False, modality: str = "image"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``loader(arg, **options)`` under ``name``.

    For a prefixed name (``npz``), the loader gets the text after ``name:``.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        DATASETS[name] = DatasetEntry(fn, description, prefix, modality)
        return fn

    return deco


def _ensure_builtin() -> None:
    # Importing the loader modules registers them.
    from selfsup.data import (  # noqa: F401
        arrays,
        digits,
        fashion_mnist,
        folder,
        graph,
        series,
        text,
        text_tasks,
        video,
    )


def dataset_names() -> list[str]:
    _ensure_builtin()
    return sorted(f"{k}:PATH" if v.prefix else k for k, v in DATASETS.items())


def dataset_entry(name: str) -> tuple[DatasetEntry, str | None]:
    """Resolve ``name`` to its registry entry and the prefix argument (if any)."""
    _ensure_builtin()
    if ":" in name:
        head, arg = name.split(":", 1)
        entry = DATASETS.get(head)
        if entry is not None and entry.prefix:
            if not arg:
                raise UserError(f"dataset '{name}' needs a path after '{head}:'", hint=f"e.g. {head}:/path/to/data")
            return entry, arg
    entry = DATASETS.get(name)
    if entry is None or entry.prefix:
        if entry is not None:
            raise UserError(f"dataset '{name}' needs a path", hint=f"use {name}:PATH")
        raise unknown_name("dataset", name, dataset_names())
    return entry, None


def load_dataset(name: str, **options: Any) -> Any:
    """Load dataset ``name``; ``options`` (data_dir, image_size, download, ...) go to the loader.

    Loaders ignore options they do not use.
    """
    entry, arg = dataset_entry(name)
    return entry.loader(arg, **options) if entry.prefix else entry.loader(**options)
