"""Image / array runs (trained by the Lightning engine): pretrain, evaluate, embed, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from selfsup.errors import UserError, unknown_name
from selfsup.pipelines.modality import Modality, register_modality
from selfsup.pipelines.requests import EvalRequest, PretrainRequest

# The default encoder of image runs, chosen on the validation split (BENCHMARKS.md "quickstart",
# benchmarks/sweep_quickstart.json: SimCLR on Fashion-MNIST, kNN-100% on 6,000 held-out training labels,
# small-cnn-2x2 0.875 / small-cnn 0.849 at T=0.1). Same convolutions as small-cnn, the last map pooled to 2x2 cells.
IMAGE_DEFAULT_ENCODER = "small-cnn-2x2"


def pretrain_image(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    from selfsup.data import load_dataset
    from selfsup.data.cache import data_options
    from selfsup.encoders.registry import OPTION_ENCODERS, encoder_options
    from selfsup.train.run import pretrain, resolve_config

    overrides = dict(overrides)
    enc_width = overrides.pop("encoder_width", None)
    encoder = req.encoder or spec.default_encoder or IMAGE_DEFAULT_ENCODER
    enc_options = encoder_options(overrides)  # encoder_patch / encoder_pool (ViTs)
    if encoder in OPTION_ENCODERS:
        enc_options = {**spec.encoder_options, **enc_options}
    cfg = resolve_config(req.method, req.data, encoder=encoder,
                         encoder_width=float(enc_width) if enc_width is not None else None,
                         encoder_options=enc_options,
                         overrides=overrides, preset=req.preset, image_size=req.image_size, data_dir=req.data_dir)
    data = load_dataset(req.data, data_dir=req.data_dir, image_size=req.image_size,
                        download_ok=req.download, skip_bad_files=req.skip_bad_files, **data_options(cfg.train))
    print(data.summary())
    meta = pretrain(cfg, Path(req.out), data=data, progress=req.progress)
    print(f"pretrained {req.method} for {meta['epochs']} epochs, {meta['steps']} steps ({meta['train_seconds']} s): "
          f"{req.out}")
    print(f"next: selfsup evaluate {req.out}")
    return meta


def resume_engine(req: PretrainRequest, meta: dict[str, Any]) -> dict[str, Any]:
    """Continue a run of the Lightning engine from its newest checkpoint; its config rebuilds the data."""
    from selfsup.train.run import config_from_dict, pretrain

    cfg = config_from_dict(meta["config"], req.changes)  # e.g. --set on_nonfinite=skip
    print(f"resuming {meta['method']} in {req.resume}")
    out = pretrain(cfg, Path(req.resume), resume=True, progress=req.progress)
    print(f"done: {req.resume}")
    return out


def eval_config(req: EvalRequest) -> Any:
    """The harness's :class:`~selfsup.eval.harness.EvalConfig` of a request, names checked."""
    from selfsup.eval.harness import BASELINES, PROTOCOLS, EvalConfig
    from selfsup.eval.protocols import check_protocols

    kw: dict[str, Any] = {}
    if req.protocols:
        kw["protocols"] = tuple(req.protocols)
    if req.labels:
        kw["labels"] = tuple(req.labels)
    if req.seeds:
        kw["seeds"] = tuple(int(s) for s in req.seeds)
    if req.baselines is not None:
        kw["baselines"] = tuple(b for b in req.baselines if b != "none")
    if req.k:
        kw["knn_k"] = req.k
    if req.split:
        kw["split"] = req.split
    cfg = EvalConfig(**kw)
    check_protocols(cfg.protocols, PROTOCOLS, "image runs")
    for b in cfg.baselines:
        if b not in BASELINES:
            raise unknown_name("baseline", b, BASELINES)
    return cfg


def evaluate_image(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    from selfsup.pipelines.image_eval import evaluate_run

    cfg = eval_config(req)
    if req.task:
        raise UserError("--task is not used for image runs (the dataset's own labels are the task)")
    results = evaluate_run(Path(req.run_dir), cfg, data_dir=req.data_dir)
    if cfg.split == "validation":
        print((Path(req.run_dir) / "validation.md").read_text())
        print(f"wrote {req.run_dir}/validation.json, validation.md (validation split; the test set was not read)")
        return results
    print((Path(req.run_dir) / "report.md").read_text())
    print(f"wrote {req.run_dir}/results.json, report.md, accuracy_vs_labels.png, embedding_map.png")
    return results


def array_inputs(inputs: Any, shape: tuple[int, ...]) -> Any:
    """Inputs of an image / array encoder as a tensor: an array or tensor, a folder of images (resized
    to the encoder's input size), a .npy / .npz file (its ``x``), or a registered dataset name (train
    then test split)."""
    import torch

    from selfsup.data import load_dataset
    from selfsup.data.arrays import _as_images_or_vectors, _load_arrays
    from selfsup.data.folder import decode, scan

    if isinstance(inputs, (np.ndarray, torch.Tensor)):
        xs = torch.as_tensor(inputs)
        return xs.float() if xs.dtype not in (torch.uint8, torch.float32) else xs
    p = Path(str(inputs))
    if p.is_dir():
        paths, _, _ = scan(p)
        if not paths:
            raise UserError(f"no images found in {p}")
        return torch.from_numpy(decode(paths, shape[-1] if len(shape) == 3 else 32)[0])
    if p.suffix in (".npz", ".npy"):
        arr = _load_arrays(p)["x"] if p.suffix == ".npy" else _load_arrays(p).get("x", np.zeros(0))
        return _as_images_or_vectors(arr, p, "x")[0]
    data = load_dataset(str(inputs), image_size=shape[-1] if len(shape) == 3 else None)
    return data.x_train if data.x_test is None else torch.cat([data.x_train, data.x_test])


def embed_image(run_dir: Path, meta: dict[str, Any], inputs: Any, log: Any = print) -> np.ndarray:
    """(N, D) features of ``inputs`` (see :func:`array_inputs`) by the run's encoder."""
    from selfsup.eval.features import load_run_encoder

    featurizer, meta = load_run_encoder(Path(run_dir))
    shape = tuple(meta["input_shape"])
    xs = array_inputs(inputs, shape)
    if tuple(xs.shape[1:]) != shape:
        raise UserError(f"inputs have shape {tuple(xs.shape[1:])}, the encoder expects {shape}",
                        hint="pass inputs with the training data's channels and size (image folders are resized)")
    return featurizer(xs, desc="embedding").numpy()


ENGINE_ARTIFACTS = ("run.json", "config.yaml", "metrics.csv", "checkpoints/", "encoder.safetensors",
                    "model.safetensors", "loss.png")

register_modality(Modality(
    "image", pretrain_image, evaluate_image, embed=embed_image, resume=resume_engine,
    default_encoder=IMAGE_DEFAULT_ENCODER,
    protocols=("knn", "linear", "svm", "1nn", "finetune", "fewshot", "cluster"), artifacts=ENGINE_ARTIFACTS,
    inputs="a folder of images, a .npy/.npz file, an array, or a dataset name"))
