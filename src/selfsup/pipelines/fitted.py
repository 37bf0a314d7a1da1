"""Fitted (closed-form / EM) methods: ``selfsup pretrain pca|gmm|kmeans --data ...``.

The fitted model is an encoder (encoders/fitted.py) saved like a trained one (run.json +
encoder.safetensors), so ``selfsup evaluate`` and ``selfsup embed`` treat it as any image or
array run. Inputs are scaled to [0, 1] (mean 0, std 1 in run.json), as the raw baseline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from selfsup.errors import UserError
from selfsup.pipelines.image import embed_image, evaluate_image
from selfsup.pipelines.modality import Modality, refuse_resume, register_modality
from selfsup.pipelines.requests import PretrainRequest

WIDTH_KEY = {"pca": "n_components", "gmm": "pca_dim", "kmeans": "pca_dim"}


def pretrain_fitted(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    from selfsup import __version__
    from selfsup.config import preset_of, route_settings, to_dict
    from selfsup.data import load_dataset
    from selfsup.methods import DataInfo
    from selfsup.train.checkpoint import atomic_save_safetensors, atomic_write_text

    overrides = dict(overrides)
    for k in ("epochs", "batch_size", "max_minutes"):
        if overrides.pop(k, None) is not None:
            raise UserError(f"{spec.name} is fitted on the whole training set in one go; --{k.replace('_', '-')} "
                            "does not apply", hint=f"see the settings of {spec.name} with `selfsup list`")
    cfg = route_settings({"method": spec.config_cls()}, preset_of(spec, req.preset), overrides)["method"]
    out = Path(req.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"run directory {out} already exists and is not empty", hint="choose another --out")
    data = load_dataset(req.data, data_dir=req.data_dir, image_size=req.image_size,
                        download_ok=req.download, skip_bad_files=req.skip_bad_files)
    print(data.summary())
    shape = tuple(data.input_shape)
    method = spec.build(cfg, None, DataInfo(shape), seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    t0 = time.monotonic()
    method.fit(data.x_train)
    secs = time.monotonic() - t0
    out.mkdir(parents=True, exist_ok=True)
    name = spec.name
    atomic_save_safetensors(method.encoder.state_dict(), out / "encoder.safetensors",
                            metadata={"encoder": name, "method": name})
    c = shape[0] if len(shape) == 3 else 1
    meta = {
        "selfsup_version": __version__, "torch_version": torch.__version__,
        "method": name, "family": spec.family, "modality": spec.pipeline, "dataset": req.data,
        "encoder": name, "encoder_width": float(getattr(cfg, WIDTH_KEY[name])), "input_shape": list(shape),
        "mean": [0.0] * c, "std": [1.0] * c,
        "config": {"method": name, "data": req.data, "encoder": name, "image_size": req.image_size,
                   "data_dir": req.data_dir, "method_config": to_dict(cfg)},
        "status": "finished", "epochs": None, "train_seconds": round(secs, 2), "out_dim": int(method.encoder.out_dim),
    }
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    print(f"fitted {name} on {req.data} in {secs:.1f} s ({meta['out_dim']}-d features): {out}")
    print(f"next: selfsup evaluate {out}")
    return meta


register_modality(Modality(
    "fitted", pretrain_fitted, evaluate_image, embed=embed_image,
    resume=refuse_resume("fitted methods are fitted in one go, not trained by steps; there is nothing to continue",
                         "to fit other settings, start a new run: "
                         "selfsup pretrain {method} --data {dataset} --out NEW_DIR --set KEY=VALUE"),
    default_encoder=None, protocols=("knn", "linear", "svm", "1nn", "fewshot", "cluster"),
    artifacts=("run.json", "encoder.safetensors"), inputs="as image runs"))
