"""One file per method.

| family | methods |
|---|---|
| contrastive | simclr, moco-v1, moco-v2, memory-bank, byol, simsiam, barlow-twins, vicreg, dino |
| contrastive (graph) | dgi, grace |
| context (image, series) | split-brain, autoencoder, denoising-ae, masked-ae |
| context (image, ViT) | mae (token dropping), ijepa (predicts target blocks' representations) |
| classical (fitted) | pca, gmm, kmeans |
| temporal (series) | cpc, temporal-contrast, ts2vec (contrastive) |
| temporal (video) | frame-order, time-contrastive, tracking |
| context / temporal (text) | mlm, bert (mlm + nsp); nsp, utterance-order |

Importing this package registers none of them: :func:`get_method` imports a method's module on
first use, ``METHODS`` (the whole registry) all of them.

Frames shared by the methods of one kind (views, ``embed``, ``build``; each method's file keeps
its pretext task, heads and loss): ``two_view`` (image methods on two augmented views),
``frame_method`` (video), ``text_method``, ``series_method``, ``graph_method`` (node methods).
"""

import importlib
from typing import Any

from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, get_method, register_method

# the modules of the built-in methods, imported on first use: ``get_method("word2vec")`` imports only
# ``selfsup.methods.word2vec`` (numpy/numba, no torch), the registry as a whole (``METHODS``) all of them
BUILTIN_MODULES = ("simclr", "barlow_twins", "byol", "memory_bank", "moco", "simsiam", "vicreg", "dgi", "grace", "cpc",
                   "temporal_contrast", "ts2vec", "word2vec", "frame_order", "time_contrastive", "tracking", "bert",
                   "mlm", "nsp", "utterance_order", "autoencoder", "gmm", "kmeans", "pca", "split_brain", "dino", "mae",
                   "ijepa")


def load_builtin(name: str | None = None) -> None:
    """Register the built-in methods: with ``name``, the module named after it first (``moco-v2`` -> none:
    then all); without, all of them."""
    from selfsup.methods.base import METHODS

    if name is not None:
        module = name.replace("-", "_")
        if module in BUILTIN_MODULES:
            importlib.import_module(f"selfsup.methods.{module}")
            if name in METHODS:
                return
    for module in BUILTIN_MODULES:
        importlib.import_module(f"selfsup.methods.{module}")


def __getattr__(name: str) -> Any:
    if name == "METHODS":  # the whole registry: every built-in method registered
        from selfsup.methods.base import METHODS

        load_builtin()
        return METHODS
    raise AttributeError(f"module 'selfsup.methods' has no attribute {name!r}")


__all__ = ["BUILTIN_MODULES", "METHODS", "DataInfo", "MethodSpec", "StepOutput", "get_method", "load_builtin",
           "register_method"]
