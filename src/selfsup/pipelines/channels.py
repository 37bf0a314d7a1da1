"""Methods that train on images or on multivariate series (split-brain, modality "image,series"):
the data decides which pipeline runs.

* images / arrays: the Lightning engine (:mod:`selfsup.pipelines.image`; checkpoints, resume, metrics);
* series (ucr:NAME, series:PATH, (N, C, T) arrays): the series pipeline and its protocols
  (:mod:`selfsup.pipelines.series`), whose run.json says modality "series".
"""

from __future__ import annotations

from typing import Any

from selfsup.pipelines.image import (
    ENGINE_ARTIFACTS,
    IMAGE_DEFAULT_ENCODER,
    embed_image,
    evaluate_image,
    pretrain_image,
    resume_engine,
)
from selfsup.pipelines.modality import Modality, register_modality
from selfsup.pipelines.requests import PretrainRequest


def _is_series(req: PretrainRequest) -> bool:
    from selfsup.data.registry import dataset_entry

    entry, _ = dataset_entry(str(req.data))
    return entry.modality == "series"


def pretrain_channels(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    if _is_series(req):
        from selfsup.pipelines.series import pretrain_series

        return pretrain_series(req, spec, overrides)
    return pretrain_image(req, spec, overrides)


# series runs are written with modality "series"; what is left here are image / array runs
register_modality(Modality(
    "image,series", pretrain_channels, evaluate_image, embed=embed_image, resume=resume_engine,
    default_encoder=IMAGE_DEFAULT_ENCODER, protocols=("knn", "linear", "svm", "1nn", "finetune", "fewshot", "cluster"),
    artifacts=ENGINE_ARTIFACTS, inputs="as image runs"))
