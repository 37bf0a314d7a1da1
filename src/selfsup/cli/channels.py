"""CLI glue for methods that train on images or on multivariate series (split-brain,
modality "image,series"): the data decides which engine runs.

* images / arrays: the Lightning engine (:mod:`selfsup.cli.image`; checkpoints, resume, metrics);
* series (ucr:NAME, series:PATH, (N, C, T) arrays): the series runner and its protocols
  (:mod:`selfsup.cli.series`), whose run.json says modality "series".
"""

from __future__ import annotations

import argparse
from typing import Any

from selfsup.cli.runners import register_runner


def _is_series(args: argparse.Namespace) -> bool:
    from selfsup.data.registry import dataset_entry

    entry, _ = dataset_entry(str(args.data))
    return entry.modality == "series"


def pretrain_channels(args: argparse.Namespace, spec: Any, overrides: dict[str, Any]) -> int:
    if _is_series(args):
        from selfsup.cli.series import pretrain_series

        return pretrain_series(args, spec, overrides)
    from selfsup.cli.image import pretrain_image

    return pretrain_image(args, spec, overrides)


def evaluate_channels(args: argparse.Namespace, meta: dict[str, Any]) -> int:
    from selfsup.cli.image import evaluate_image

    return evaluate_image(args, meta)  # series runs are written with modality "series"


register_runner("image,series", pretrain_channels, evaluate_channels)
