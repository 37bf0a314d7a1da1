"""Dataset registry and loaders: offline sources first, the user's own data, clear errors."""

from typing import Any

from selfsup.data.registry import (
    DATASETS,
    dataset_names,
    load_dataset,
    register_dataset,
)

__all__ = ["DATASETS", "ArrayDataset", "dataset_names", "load_dataset", "register_dataset"]


def __getattr__(name: str) -> Any:
    if name == "ArrayDataset":  # imported on use: the text loaders (word2vec) need no torch
        from selfsup.data.base import ArrayDataset

        return ArrayDataset
    raise AttributeError(f"module 'selfsup.data' has no attribute {name!r}")
