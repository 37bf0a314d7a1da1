"""One file per method; importing this package registers them all.

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

Frames shared by the methods of one kind (views, ``embed``, ``build``; each method's file keeps
its pretext task, heads and loss): ``two_view`` (image methods on two augmented views),
``frame_method`` (video), ``text_method``, ``series_method``, ``graph_method`` (node methods).
"""

from selfsup.methods import simclr  # noqa: F401
from selfsup.methods import barlow_twins, byol, memory_bank, moco, simsiam, vicreg  # noqa: F401
from selfsup.methods import dino  # noqa: F401
from selfsup.methods import dgi, grace  # noqa: F401
from selfsup.methods import cpc, temporal_contrast, ts2vec  # noqa: F401
from selfsup.methods import word2vec  # noqa: F401  (word2vec, deepwalk)
from selfsup.methods import frame_order, time_contrastive, tracking  # noqa: F401
from selfsup.methods import bert, mlm, nsp, utterance_order  # noqa: F401
from selfsup.methods import autoencoder, gmm, kmeans, pca, split_brain  # noqa: F401
from selfsup.methods import ijepa, mae  # noqa: F401  (ViT masked-image methods)
from selfsup.methods.base import METHODS, DataInfo, MethodSpec, StepOutput, get_method, register_method

__all__ = ["METHODS", "DataInfo", "MethodSpec", "StepOutput", "get_method", "register_method"]
