"""Time series runs (modality "series"): pretraining through the engine and the series protocols.

Training runs through the Lightning engine (:func:`selfsup.train.run.pretrain`), so series runs
have checkpoints and ``selfsup pretrain --resume``. Run directory: the engine's (``run.json`` with
``series`` settings and an ``encoder_spec`` that rebuilds the backbone, ``config.yaml``,
``metrics.csv``, ``checkpoints/``), ``model.safetensors`` (the whole method: its ``embed`` is the
representation, CPC's with the context network) and ``encoder.safetensors`` (the backbone alone).
Runs of the first version (its own Adam loop: ``model.pt`` and a ``train`` section) still evaluate
and embed; they cannot resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from selfsup.errors import UserError
from selfsup.pipelines.modality import (
    NEW_RUN_HINT,
    Modality,
    refuse_resume,
    register_modality,
)
from selfsup.pipelines.requests import EvalRequest, PretrainRequest


@dataclass
class SeriesDataConfig:
    """Run-level series settings (``--set key=value``), stored in run.json under ``series``.

    Attributes:
        width: channels of the conv1d backbone (the encoder's size).
        length: unequal lengths: "mask" (NaN-padded, masked), "pad", "truncate", "resample" or "error".
        nan: missing values inside a series: "error" or what :mod:`selfsup.data.series` accepts.
    """

    width: int = 64
    length: str = "mask"
    nan: str = "error"


# the series recipe, as the first version's own Adam loop ran it: 40 epochs of batch 16, Adam at 1e-3,
# no weight decay, no warmup, a constant learning rate (every key can be changed with --set)
SERIES_DEFAULTS = {"epochs": 40, "batch_size": 16, "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
                   "warmup_epochs": 0.0, "schedule": "constant"}


def load_series_data(name: str, length: str = "mask", nan: str = "error", data_dir: Any = None,
                     download: bool = False) -> Any:
    """Load a dataset and check it is (N, C, T) series; a 3-D float "vector" dataset (npz:PATH) counts as series.

    Unequal lengths are NaN-padded and masked by default (``length="mask"``, see :mod:`selfsup.data.series`).
    """
    from selfsup.data import load_dataset

    data = load_dataset(name, data_dir=data_dir, length=length, nan=nan, download_ok=download)
    if data.modality == "vector" and data.x_train.dim() == 3:
        data.modality = "series"
    if data.modality != "series" or data.x_train.dim() != 3:
        raise UserError(f"dataset '{name}' is not a time series dataset (shape {tuple(data.x_train.shape)})",
                        hint="use ucr:NAME, mnist1d, series:PATH or npz:PATH with x of shape (N, C, T)")
    return data


def padded_lengths(data: Any) -> tuple[int, int] | None:
    """(shortest, longest) series length of NaN-padded (unequal-length) data, else None."""
    from selfsup.functional.padding import series_lengths

    xs = [x for x in (data.x_train, data.x_test) if x is not None and len(x)]
    if not any(bool(torch.isnan(x).any()) for x in xs):
        return None
    lens = torch.cat([series_lengths(x) for x in xs])
    return int(lens.min()), int(lens.max())


def series_encoder_spec(method: str, channels: int, length: int, width: int) -> dict[str, Any]:
    """The backbone of a series method on (C, T) data, as a spec :func:`build_series_encoder` rebuilds."""
    if method == "cpc":
        strides = (2, 2) if length >= 64 else ((2,) if length >= 32 else (1,))
        return {"name": "strided-conv1d", "in_channels": channels, "width": width, "strides": list(strides)}
    return {"name": "dilated-conv1d", "in_channels": channels, "width": width, "out_dim": 2 * width, "depth": 4}


def build_series_encoder(method: str, channels: int, length: int, width: int) -> torch.nn.Module:
    return encoder_from_spec(series_encoder_spec(method, channels, length, width))


def encoder_from_spec(spec: dict[str, Any]) -> torch.nn.Module:
    """A conv1d backbone from the ``encoder_spec`` of run.json."""
    from selfsup.encoders.conv1d import DilatedConv1d, StridedConv1d

    kw = {k: v for k, v in spec.items() if k != "name"}
    if spec["name"] == "strided-conv1d":
        return StridedConv1d(kw["in_channels"], width=kw["width"], strides=tuple(kw["strides"]))
    if spec["name"] == "dilated-conv1d":
        return DilatedConv1d(kw["in_channels"], width=kw["width"], out_dim=kw["out_dim"], depth=kw["depth"])
    raise UserError(f"unknown series encoder '{spec['name']}' in run.json", hint="pretrain the run again")


def build_series_method(method: str, spec: Any, cfg_dict: dict[str, Any], settings: dict[str, Any],
                        input_shape: tuple[int, ...]) -> torch.nn.Module:
    """``spec``'s method on (C, T) series: its config with ``cfg_dict`` applied, the backbone of
    :func:`series_encoder_spec` of ``settings["width"]`` channels, seeded by ``settings["seed"]``."""
    from selfsup.config import apply_overrides
    from selfsup.methods.base import DataInfo

    cfg = apply_overrides(spec.config_cls(), cfg_dict) if cfg_dict else spec.config_cls()
    enc = build_series_encoder(method, input_shape[0], input_shape[1], int(settings["width"]))
    return spec.build(cfg, enc, DataInfo(input_shape=tuple(input_shape)), seed=int(settings.get("seed", 0)))


def series_settings_of(spec: Any, data_name: str, encoder: str, overrides: dict[str, Any],
                       preset: str | None) -> tuple[Any, SeriesDataConfig]:
    """(engine configs, series data settings) of a series run, through the one settings router:
    :data:`SERIES_DEFAULTS`, then the preset, then ``overrides`` (``seed`` is the run's seed: weights,
    data order and views, never only the method's view seed)."""
    from selfsup.train.run import resolve_config

    ov = dict(overrides)
    if "seed" in ov:
        ov["train.seed"] = ov.pop("seed")
    defaults = dict(SERIES_DEFAULTS)
    if "channels_last" in {f for f in spec.config_cls.__dataclass_fields__}:
        defaults["method.channels_last"] = False  # (N, C, T) series have no channels_last layout
    cfg, data = resolve_config(spec.name, data_name, encoder=encoder, overrides=ov, preset=preset,
                               data_sections={"series": SeriesDataConfig()}, defaults=defaults)
    return cfg, data["series"]


def pretrain_series(req: PretrainRequest, spec: Any, overrides: dict[str, Any], data: Any = None) -> dict[str, Any]:
    """Pretrain a series method through the Lightning engine (checkpoints, exact resume, NaN guard,
    ``max_minutes``); ``data``: an already loaded series dataset (else ``req.data`` is loaded)."""
    ov = dict(overrides)
    # the settings are checked (unknown keys, types) before any data is loaded
    cfg0, scfg = series_settings_of(spec, req.data, "conv1d", ov, req.preset)
    if data is None:
        data = load_series_data(req.data, scfg.length, scfg.nan, req.data_dir, req.download)
    print(data.summary())
    if padded_lengths(data) is not None:
        lo, hi = padded_lengths(data)
        print(f"series of unequal lengths ({lo}..{hi} steps): NaN-padded to {hi} and masked, padding never counts "
              "as data (length=mask; --set length=pad|truncate|resample|error for the other choices)")
    c, t = data.input_shape
    espec = series_encoder_spec(spec.name, c, t, scfg.width)
    if "batch_size" not in ov and len(data.x_train) < cfg0.train.batch_size:
        ov["batch_size"] = len(data.x_train)  # the default batch fitted to a tiny training set
    cfg, scfg = series_settings_of(spec, req.data, espec["name"], ov, req.preset)
    return _train(spec, cfg, scfg, espec, data, Path(req.out), resume=False, progress=req.progress)


def _train(spec: Any, cfg: Any, scfg: SeriesDataConfig, espec: dict[str, Any], data: Any, out: Path, *,
           resume: bool, progress: bool) -> dict[str, Any]:
    from selfsup.config import to_dict
    from selfsup.train.run import pretrain

    settings = {"width": scfg.width, "seed": cfg.train.seed}
    torch.manual_seed(cfg.train.seed)
    model = build_series_method(spec.name, spec, to_dict(cfg.method_cfg), settings, tuple(data.input_shape))
    # "train": the first version's section of run.json, kept as a view of the engine's settings
    train = {"epochs": cfg.train.epochs, "batch_size": cfg.train.batch_size, "lr": cfg.optim.lr, "seed": cfg.train.seed,
             "max_minutes": cfg.train.max_minutes, **to_dict(scfg)}
    extra = {"modality": "series", "series": to_dict(scfg), "train": train, "encoder_spec": espec,
             "encoder": type(model.encoder).__name__}
    meta = pretrain(cfg, out, data=data, method=model, resume=resume, progress=progress, extra_meta=extra)
    print(f"pretrained {spec.name} for {meta['epochs']} epochs, {meta['steps']} steps ({meta['train_seconds']} s), "
          f"final loss {meta.get('final_loss')}: {out}")
    print(f"next: selfsup evaluate {out}")
    return meta


def resume_series(req: PretrainRequest, meta: dict[str, Any]) -> dict[str, Any]:
    """``selfsup pretrain --resume RUN_DIR`` of a series run: the same data (the run's length handling) and
    method, continued from the newest checkpoint. Runs of the first version (no checkpoints) are refused."""
    from selfsup.config import apply_overrides
    from selfsup.methods import get_method
    from selfsup.train.run import config_from_dict

    if "series" not in meta:
        return refuse_resume("it was trained by the first series loop, which keeps no checkpoints "
                             "(model.pt is its final result)", NEW_RUN_HINT)(req, meta)
    scfg = apply_overrides(SeriesDataConfig(), meta["series"])
    cfg = config_from_dict(meta["config"], req.changes)
    data = load_series_data(meta["dataset"], scfg.length, scfg.nan, req.data_dir or cfg.data_dir, req.download)
    print(f"resuming {meta['method']} in {req.resume}")
    return _train(get_method(meta["method"]), cfg, scfg, meta["encoder_spec"], data, Path(req.resume), resume=True,
                  progress=req.progress)


def series_settings(meta: dict[str, Any]) -> SeriesDataConfig:
    """A run's series settings: ``series`` (engine runs), else the first version's ``train`` section."""
    src = meta.get("series") or {k: meta["train"][k] for k in ("width", "length", "nan") if k in meta["train"]}
    return SeriesDataConfig(**src)


def load_series_run(run_dir: Path, meta: dict[str, Any]) -> torch.nn.Module:
    """The trained method of a series run (``model.safetensors``; runs from before it: ``model.pt``)."""
    from selfsup.methods import get_method
    from selfsup.train.checkpoint import load_safetensors

    run_dir = Path(run_dir)
    spec = get_method(meta["method"])
    if "series" in meta:  # trained by the engine: the method config and seed are in run.json's config
        mcfg, seed = meta["config"]["method_config"], meta["config"]["train"]["seed"]
        settings = {"width": meta["series"]["width"], "seed": seed}
    else:  # the first version's run.json: method overrides and a train section
        mcfg, settings = meta.get("method_overrides", {}), meta["train"]
    model = build_series_method(meta["method"], spec, mcfg, settings, tuple(meta["input_shape"]))
    if (run_dir / "model.safetensors").is_file():
        state = load_safetensors(run_dir / "model.safetensors")
    elif (run_dir / "model.pt").is_file():  # written before series runs saved safetensors
        state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
    else:
        raise UserError(f"{run_dir} has neither model.safetensors nor model.pt (the series run did not finish)",
                        hint=f"pretrain it again: selfsup pretrain {meta['method']} --data {meta['dataset']} --out DIR")
    model.load_state_dict(state)
    return model.eval()


class SeriesEmbedding(torch.nn.Module):
    """A series method's representation as a module: ``forward(x) = method.embed(x)`` ((B, C, T) -> (B, D);
    for CPC the encoder's and the context network's features)."""

    def __init__(self, method: torch.nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.method.embed(x)


def load_series_encoder(run_dir: Path, meta: dict[str, Any]) -> torch.nn.Module:
    return SeriesEmbedding(load_series_run(run_dir, meta)).eval()


def embed_series(run_dir: Path, meta: dict[str, Any], inputs: Any, log: Any = print) -> Any:
    """(N, D) representations of series: an (N, C, T) array or tensor, a .npy / .npz file (its ``x``),
    or a series dataset name (train then test split, loaded with the run's length handling)."""
    import numpy as np

    if isinstance(inputs, (np.ndarray, torch.Tensor)):
        x = torch.as_tensor(inputs).float()
    elif str(inputs).endswith((".npy", ".npz")):
        z = np.load(str(inputs), allow_pickle=False)
        x = torch.from_numpy(np.asarray(z if str(inputs).endswith(".npy") else z["x"], dtype=np.float32))
    else:
        sc = series_settings(meta)
        data = load_series_data(str(inputs), sc.length, sc.nan)
        x = data.x_train if data.x_test is None else torch.cat([data.x_train, data.x_test])
    if x.dim() == 2:
        x = x[:, None]  # (N, T) univariate -> (N, 1, T)
    c = int(meta["input_shape"][0])
    if x.dim() != 3 or x.shape[1] != c:
        raise UserError(f"series inputs have shape {tuple(x.shape)}; the encoder of {run_dir} takes (N, {c}, T)",
                        hint="pass an array of shape (N, C, T) with the training data's channels")
    return embed_all(load_series_run(run_dir, meta), x).numpy()


@torch.no_grad()
def embed_all(model: torch.nn.Module, x: torch.Tensor, bs: int = 256) -> torch.Tensor:
    return torch.cat([model.embed(x[i:i + bs]) for i in range(0, len(x), bs)]).float()


def evaluate_series(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    from selfsup.eval.report import plot_embedding_map, write_results
    from selfsup.eval.protocols import check_protocols
    from selfsup.eval.series import RAW_UNEQUAL, flatten_series, series_protocols

    run_dir = Path(req.run_dir)
    sc = series_settings(meta)
    data = load_series_data(meta["dataset"], sc.length, sc.nan, req.data_dir)
    if not data.labeled:
        raise UserError(f"{meta['dataset']} has no labels to evaluate against")
    protocols = tuple(req.protocols) if req.protocols else ("svm", "linear")
    check_protocols(protocols, SERIES_PROTOCOLS, "series runs")
    labels = tuple(req.labels) if req.labels else ("10%", "100%")
    seeds = tuple(int(s) for s in req.seeds) if req.seeds else (0, 1, 2)
    model = load_series_run(run_dir, meta)
    ftr, fte = embed_all(model, data.x_train), embed_all(model, data.x_test)
    nc = data.num_classes
    results = {"method": meta["method"], "dataset": meta["dataset"], "encoder": meta["encoder"],
               "epochs": meta["epochs"], "train_seconds": meta["train_seconds"],
               "protocols": series_protocols(ftr, data.y_train, fte, data.y_test, protocols, labels, seeds, nc)}
    rtr, rte = flatten_series(data.x_train), flatten_series(data.x_test)
    # raw series: 1-NN (Euclidean) and RBF-SVM; {baseline: {protocol: {label: ...}}} as in the harness
    results["baselines"] = {"raw": series_protocols(rtr, data.y_train, rte, data.y_test, ("1nn", "svm"),
                                                    labels, seeds, nc)}
    if padded_lengths(data) is not None:
        results["unequal_lengths"] = {"range": list(padded_lengths(data)), "encoder": "NaN padding, masked",
                                      "raw_baseline": RAW_UNEQUAL}
    write_results(run_dir, results)
    try:
        plot_embedding_map(fte, data.y_test, run_dir / "embedding_map.png", classes=data.classes)
    except Exception as e:  # the map is a convenience; never fail the evaluation on it
        print(f"(embedding map skipped: {e})")
    print((run_dir / "report.md").read_text())
    return results


# series features are per-sample with labels: every fixed-feature protocol of the registry (no fine-tuning)
SERIES_PROTOCOLS = ("svm", "linear", "knn", "1nn", "fewshot", "cluster")

register_modality(Modality(
    "series", pretrain_series, evaluate_series, embed=embed_series, load_encoder=load_series_encoder,
    resume=resume_series,
    default_encoder="strided-conv1d (cpc) / dilated-conv1d", protocols=SERIES_PROTOCOLS,
    artifacts=("run.json", "config.yaml", "metrics.csv", "checkpoints/", "encoder.safetensors", "model.safetensors",
               "loss.png"),
    inputs="an (N, C, T) array, a .npy/.npz file, or a series dataset name"))
