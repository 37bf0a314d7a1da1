"""Video runs (frame-order, time-contrastive, tracking): pretrain, evaluate, embed, resume.

``pretrain`` trains through the shared Lightning engine (:func:`selfsup.train.run.pretrain`):
the batches are clips (B, T, C, H, W) and the encoder is a frame encoder. Settings of the
clip data (``--set train_clips=..., frames=..., data_seed=...``) are split off the method's
settings and stored in ``run.json`` under ``video_data``.

``evaluate`` writes ``results.json`` in the harness's shape: the single-frame item class
(moving-fashion-mnist frames of one-item clips) as the main protocols, against the raw,
PCA and random-init baselines; the clip-level motion direction under
``protocols.motion`` (and ``baselines.*.motion``); for frame-order, its own order
accuracy on held-out clips under ``frame_order``; plus ``embedding_map.png``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from selfsup.errors import UserError
from selfsup.pipelines.image import ENGINE_ARTIFACTS, embed_image, eval_config
from selfsup.pipelines.modality import Modality, register_modality
from selfsup.pipelines.requests import EvalRequest, PretrainRequest

@dataclass
class VideoDataConfig:
    """Settings of the clip data (``--set key=value``), stored in run.json under ``video_data``
    (only the keys that were set; an unset one is the dataset's own default).

    Attributes:
        train_clips, test_clips: clips generated for training / testing.
        frames: frames per clip.
        canvas: side of the generated frames, in pixels.
        min_items, max_items: moving items per clip.
        min_speed, max_speed: item speed range, pixels per frame.
        data_seed: the generator's seed (``seed`` in ``video_data``).
        size: side the frames are resized to.
        gray: single-channel frames.
    """

    train_clips: int | None = None
    test_clips: int | None = None
    frames: int | None = None
    canvas: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_speed: float | None = None
    max_speed: float | None = None
    data_seed: int | None = None
    size: int | None = None
    gray: bool | None = None


# --set keys that describe the clip data rather than the method ("data_seed" is the generator's seed)
DATA_KEYS = {f.name for f in fields(VideoDataConfig)}


def generator_settings(vcfg: VideoDataConfig) -> dict[str, Any]:
    """The loader's ``generator`` dict (run.json's ``video_data``): the keys that were set."""
    return {("seed" if k == "data_seed" else k): v for k, v in asdict(vcfg).items() if v is not None}


def load_video_data(name: str, generator: dict[str, Any] | None = None, data_dir: str | None = None,
                    download: bool = False, skip_bad_files: bool = False) -> Any:
    from selfsup.data import load_dataset
    from selfsup.data.registry import dataset_entry

    entry, _ = dataset_entry(name)
    if entry.modality != "video":
        raise UserError(f"dataset '{name}' holds no videos; the video methods train on clips",
                        hint="use --data moving-fashion-mnist or --data video:PATH")
    return load_dataset(name, data_dir=data_dir, download_ok=download, skip_bad_files=skip_bad_files,
                        generator=generator or {})


def pretrain_video(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    from selfsup.train.run import pretrain, resolve_config

    overrides = dict(overrides)
    enc_width = overrides.pop("encoder_width", None)
    cfg, data_cfgs = resolve_config(req.method, req.data, encoder=req.encoder or "small-cnn",
                                    encoder_width=float(enc_width) if enc_width is not None else None,
                                    overrides=overrides, preset=req.preset, data_dir=req.data_dir,
                                    data_sections={"video": VideoDataConfig()})
    gen = generator_settings(data_cfgs["video"])
    data = load_video_data(req.data, gen, req.data_dir, req.download, req.skip_bad_files)
    print(data.summary())
    out = Path(req.out)
    # the clip settings go into run.json from the start: a resumed run rebuilds the same clips
    meta = pretrain(cfg, out, data=data, progress=req.progress, extra_meta={"video_data": gen})
    print(f"pretrained {req.method} for {meta['epochs']} epochs ({meta['train_seconds']} s): {out}")
    print(f"next: selfsup evaluate {out}")
    return meta


def resume_video(req: PretrainRequest, meta: dict[str, Any]) -> dict[str, Any]:
    """``selfsup pretrain --resume RUN_DIR`` of a video run: the clips are generated again with the
    run's own settings (``video_data`` in run.json), then training continues from the newest checkpoint."""
    from selfsup.train.run import config_from_dict, pretrain

    run_dir = Path(req.resume)
    cfg = config_from_dict(meta["config"], req.changes)
    if "video_data" not in meta:
        print(f"note: run.json of {run_dir} holds no clip settings (video_data); using the dataset's defaults")
    gen = meta.get("video_data") or {}
    data = load_video_data(meta["dataset"], gen, req.data_dir or cfg.data_dir, req.download, req.skip_bad_files)
    print(f"resuming {meta['method']} in {run_dir} on {data.summary()}")
    meta = pretrain(cfg, run_dir, data=data, resume=True, progress=req.progress, extra_meta={"video_data": gen})
    print(f"pretrained {meta['method']} for {meta['epochs']} epochs ({meta['train_seconds']} s): {run_dir}")
    return meta


# --------------------------------------------------------------------------- evaluate
def load_video_method(run_dir: Path, meta: dict[str, Any]) -> torch.nn.Module:
    """The whole trained method (encoder + heads) of a run, for method-specific checks."""
    from selfsup.methods import DataInfo, get_method
    from selfsup.train.checkpoint import load_safetensors
    from selfsup.train.run import build_method, config_from_dict

    cfg = config_from_dict(meta["config"])
    spec = get_method(meta["method"])
    info = DataInfo(tuple(meta["input_shape"]), tuple(meta["mean"]), tuple(meta["std"]))
    method = build_method(cfg, spec, info)
    method.load_state_dict(load_safetensors(run_dir / "model.safetensors"))
    return method.eval()


@torch.no_grad()
def order_accuracy(method: Any, clips: torch.Tensor, rounds: int = 3, seed: int = 1234,
                   batch: int = 128) -> dict[str, Any]:
    """Accuracy of a frame-order model's classifier on tuples sampled from ``clips``, against chance."""
    gen = torch.Generator().manual_seed(seed)
    correct, labels_all = 0, []
    for _ in range(rounds):
        for i in range(0, len(clips), batch):
            tuples, labels = method.sample(clips[i : i + batch], gen)
            pred = method.order_logits(tuples).argmax(1)
            correct += int((pred == labels).sum())
            labels_all.append(labels)
    y = torch.cat(labels_all)
    n_cls = method.cfg.num_classes
    majority = float(torch.bincount(y, minlength=n_cls).max()) / len(y)
    return {"variant": method.cfg.variant, "accuracy": correct / len(y), "chance": 1.0 / n_cls,
            "majority_rate": majority, "tuples": len(y), "clips": len(clips)}


def motion_results(featurizer: Any, data: Any, cfg: Any, baselines: tuple[str, ...], log: Any,
                    max_clips: int | None = None) -> tuple[dict, dict]:
    """Motion direction (4 classes) of one-item clips from pooled frame features: method and baselines.

    ``max_clips`` keeps the first clips of each split only (for quick runs)."""
    from selfsup.eval.baselines import fit_pca, random_init, raw_features
    from selfsup.eval.video import motion_protocol, pooled_clip_features

    def single(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        m = data.clip_meta[split]
        keep = torch.nonzero(m["num_items"] == 1).flatten()[:max_clips]
        x = data.x_train if split == "train" else data.x_test
        return x[keep], m["direction"][keep]

    (ctr, ytr), (cte, yte) = single("train"), single("test")
    log("motion direction (linear probe on pooled clip features):")
    method = motion_protocol(pooled_clip_features(featurizer, ctr), ytr, pooled_clip_features(featurizer, cte),
                             yte, cfg, 4, log)
    base: dict[str, Any] = {}
    if "raw" in baselines or "pca" in baselines:
        rtr, rte = pooled_clip_features(raw_features, ctr), pooled_clip_features(raw_features, cte)
        if "raw" in baselines:
            log(" baseline raw:")
            base["raw"] = motion_protocol(rtr, ytr, rte, yte, cfg, 4, log)
        if "pca" in baselines:
            log(" baseline pca:")
            frames = ctr.reshape(-1, *ctr.shape[2:])
            mean, proj = fit_pca(raw_features(frames[:: max(1, len(frames) // 20000)]), cfg.pca_components or 50)

            def pca(x: torch.Tensor) -> torch.Tensor:
                return (raw_features(x) - mean) @ proj

            base["pca"] = motion_protocol(pooled_clip_features(pca, ctr), ytr, pooled_clip_features(pca, cte),
                                          yte, cfg, 4, log)
    if "random_init" in baselines:
        log(" baseline random-init encoder:")
        rnd = random_init(featurizer, seed=0)
        base["random_init"] = motion_protocol(pooled_clip_features(rnd, ctr), ytr, pooled_clip_features(rnd, cte),
                                              yte, cfg, 4, log)
    return method, base


def evaluate_video(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    import time

    from selfsup.data.video import frame_task
    from selfsup.eval.features import load_run_encoder
    from selfsup.eval.harness import evaluate
    from selfsup.eval.report import (
        plot_accuracy_vs_labels,
        plot_embedding_map,
        write_results,
    )

    run_dir = Path(req.run_dir)
    cfg = eval_config(req)
    if req.task:
        raise UserError("--task is not used for video runs (item class and motion direction are both reported)")
    t0 = time.monotonic()
    featurizer, _ = load_run_encoder(run_dir)
    data = load_video_data(meta["dataset"], meta.get("video_data"), req.data_dir or meta["config"].get("data_dir"))
    results: dict[str, Any] = {"method": meta["method"], "dataset": meta["dataset"], "encoder": meta["encoder"],
                               "epochs": meta.get("epochs"), "train_seconds": meta.get("train_seconds"),
                               "protocols": {}, "baselines": {}}
    frames = None
    if data.labeled:
        frames = frame_task(data, per_clip=4)
        print(f"item class: {frames.summary()}")
        res = evaluate(featurizer, frames, cfg)
        results["protocols"], results["baselines"] = res["protocols"], res["baselines"]
        motion, motion_base = motion_results(featurizer, data, cfg, cfg.baselines, print)
        results["protocols"]["motion"] = motion
        for name, r in motion_base.items():
            results["baselines"].setdefault(name, {})["motion"] = r
    else:
        print(f"{meta['dataset']} has no labels: only the method's own pretext accuracy is reported")
    if meta["method"] == "frame-order":
        held_out = data.x_test if data.x_test is not None and len(data.x_test) else data.x_train
        results["frame_order"] = order_accuracy(load_video_method(run_dir, meta), held_out)
        fo = results["frame_order"]
        print(f"frame order ({fo['variant']}) on {fo['clips']} held-out clips: accuracy {fo['accuracy']:.3f} "
              f"(chance {fo['chance']:.3f})")
    results["eval_seconds"] = round(time.monotonic() - t0, 1)
    results["settings"] = {"labels": list(cfg.labels), "seeds": list(cfg.seeds), "knn_k": cfg.knn_k,
                           "pca_components": cfg.pca_components, "item_task": "one frame class per frame of "
                           "one-item clips (4 frames per clip)", "motion_task": "4 directions (right, down, left, "
                           "up) of the item's initial velocity, one-item clips", "motion_pooling":
                           "concat(mean of first-half frame features, mean of second-half)"}
    write_results(run_dir, results)
    report = run_dir / "report.md"
    if "frame_order" in results:
        fo = results["frame_order"]
        report.write_text(report.read_text() + f"## frame order ({fo['variant']})\n\naccuracy on {fo['tuples']} tuples "
                          f"of {fo['clips']} held-out clips: {fo['accuracy']:.3f} (chance {fo['chance']:.3f})\n")
    if frames is not None:
        plot_accuracy_vs_labels(results, run_dir / "accuracy_vs_labels.png")
        try:
            feats = featurizer(frames.x_test)
            plot_embedding_map(feats, frames.y_test, run_dir / "embedding_map.png", frames.classes,
                               title=f"{meta['method']} frame features, {meta['dataset']} test (t-SNE)")
        except Exception as e:  # the map is a convenience; never fail the evaluation on it
            print(f"(embedding map skipped: {e})")
    print(report.read_text())
    return results


def embed_video(run_dir: Path, meta: dict[str, Any], inputs: Any, log: Any = print) -> Any:
    """Frame features (N, D) of frames (as image runs), or clip features (N, T, D) of clips (N, T, C, H, W):
    an array, a .npy / .npz file, or a video dataset name (the run's clip settings; train then test clips)."""
    import numpy as np

    if isinstance(inputs, str) and not inputs.endswith((".npy", ".npz")) and not Path(inputs).is_dir():
        data = load_video_data(inputs, meta.get("video_data") if inputs == meta["dataset"] else None)
        inputs = data.x_train if data.x_test is None else torch.cat([data.x_train, data.x_test])
    x = torch.as_tensor(inputs) if isinstance(inputs, (np.ndarray, torch.Tensor)) else None
    if x is not None and x.dim() == 5:  # clips: every frame through the frame encoder
        n, t = x.shape[:2]
        return embed_image(run_dir, meta, x.reshape(n * t, *x.shape[2:]), log).reshape(n, t, -1)
    return embed_image(run_dir, meta, inputs if x is None else x, log)


register_modality(Modality(
    "video", pretrain_video, evaluate_video, embed=embed_video, resume=resume_video, default_encoder="small-cnn",
    protocols=("knn", "linear", "svm", "1nn", "fewshot", "cluster", "motion"), artifacts=ENGINE_ARTIFACTS,
    inputs="frames or clips (N, T, C, H, W): an array, a .npy/.npz file, or a video dataset name"))
