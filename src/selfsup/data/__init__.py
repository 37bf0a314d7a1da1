"""Dataset registry and loaders: offline sources first, the user's own data, clear errors."""

from selfsup.data.base import ArrayDataset
from selfsup.data.registry import (
    DATASETS,
    dataset_names,
    load_dataset,
    register_dataset,
)

__all__ = ["DATASETS", "ArrayDataset", "dataset_names", "load_dataset", "register_dataset"]
