"""Time series runs (modality "series"): a small Adam loop and the series protocols.

Run directory: ``run.json`` (settings, losses; ``encoder_spec`` rebuilds the backbone),
``model.safetensors`` (the whole method: its ``embed`` is the representation, CPC's with the
context network), ``encoder.safetensors`` (the backbone alone). Runs written before
``model.safetensors`` existed keep ``model.pt``; they load the same way.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from selfsup.pipelines.modality import NEW_RUN_HINT, Modality, refuse_resume, register_modality
from selfsup.pipelines.requests import EvalRequest, PretrainRequest
from selfsup.errors import UserError

TRAIN_KEYS = {"epochs": 40, "batch_size": 16, "lr": 1e-3, "seed": 0, "max_minutes": 0.0, "width": 64,
              "length": "mask", "nan": "error"}


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


def build_series_method(method: str, spec: Any, cfg_dict: dict[str, Any], train: dict[str, Any],
                        input_shape: tuple[int, ...]) -> torch.nn.Module:
    from selfsup.config import apply_overrides
    from selfsup.methods.base import DataInfo

    cfg = apply_overrides(spec.config_cls(), cfg_dict) if cfg_dict else spec.config_cls()
    enc = build_series_encoder(method, input_shape[0], input_shape[1], int(train["width"]))
    return spec.build(cfg, enc, DataInfo(input_shape=tuple(input_shape)), int(train["seed"]))


def train_series(model: torch.nn.Module, x: torch.Tensor, train: dict[str, Any]) -> tuple[list[float], float]:
    """Adam over shuffled minibatches; returns (per-epoch mean losses, seconds).

    ``x`` may hold NaN-padded series of unequal lengths: the methods mask the padding themselves.
    """
    torch.manual_seed(int(train["seed"]))
    opt = torch.optim.Adam(model.parameters(), lr=float(train["lr"]))
    gen = torch.Generator().manual_seed(int(train["seed"]))
    bs = min(int(train["batch_size"]), len(x))
    losses, t0 = [], time.time()
    model.train()
    for _ in range(int(train["epochs"])):
        perm = torch.randperm(len(x), generator=gen)
        ep = []
        for i in range(0, len(x) - bs + 1, bs):
            out = model.training_step((x[perm[i:i + bs]],))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            ep.append(float(out.loss.detach()))
        losses.append(sum(ep) / max(1, len(ep)))
        if train["max_minutes"] and time.time() - t0 > 60 * float(train["max_minutes"]):
            break
    model.eval()
    return losses, time.time() - t0


def pretrain_series(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    from selfsup.train.checkpoint import atomic_save_safetensors, atomic_write_text

    train = dict(TRAIN_KEYS)
    cfg_dict = {}
    for k, v in overrides.items():
        (train if k in TRAIN_KEYS else cfg_dict)[k] = v
    data = load_series_data(req.data, train["length"], train["nan"], req.data_dir, req.download)
    print(data.summary())
    if padded_lengths(data) is not None:
        lo, hi = padded_lengths(data)
        print(f"series of unequal lengths ({lo}..{hi} steps): NaN-padded to {hi} and masked, padding never counts "
              "as data (length=mask; --set length=pad|truncate|resample|error for the other choices)")
    model = build_series_method(spec.name, spec, cfg_dict, train, data.input_shape)
    losses, secs = train_series(model, data.x_train, train)
    out = Path(req.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_save_safetensors(model.state_dict(), out / "model.safetensors", metadata={"method": spec.name})
    atomic_save_safetensors(model.encoder.state_dict(), out / "encoder.safetensors",
                            metadata={"method": spec.name, "encoder": type(model.encoder).__name__})
    c, t = data.input_shape
    meta = {"method": spec.name, "dataset": req.data, "modality": "series", "config": asdict(model.cfg),
            "method_overrides": cfg_dict, "train": train, "input_shape": list(data.input_shape),
            "encoder": type(model.encoder).__name__, "status": "finished",
            "encoder_spec": series_encoder_spec(spec.name, c, t, int(train["width"])), "epochs": len(losses), "train_seconds": round(secs, 1),
            "losses": losses}
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    print(f"pretrained {spec.name} for {len(losses)} epochs ({secs:.1f} s), loss {losses[0]:.3f} -> {losses[-1]:.3f}: {out}")
    print(f"next: selfsup evaluate {out}")
    return meta


def load_series_run(run_dir: Path, meta: dict[str, Any]) -> torch.nn.Module:
    """The trained method of a series run (``model.safetensors``; runs from before it: ``model.pt``)."""
    from selfsup.methods import get_method
    from selfsup.train.checkpoint import load_safetensors

    run_dir = Path(run_dir)
    spec = get_method(meta["method"])
    model = build_series_method(meta["method"], spec, meta.get("method_overrides", {}), meta["train"],
                                tuple(meta["input_shape"]))
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
        train = meta["train"]
        data = load_series_data(str(inputs), train["length"], train["nan"])
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
    from selfsup.eval.series import RAW_UNEQUAL, flatten_series, series_protocols

    run_dir = Path(req.run_dir)
    train = meta["train"]
    data = load_series_data(meta["dataset"], train["length"], train["nan"], req.data_dir)
    if not data.labeled:
        raise UserError(f"{meta['dataset']} has no labels to evaluate against")
    protocols = tuple(req.protocols) if req.protocols else ("svm", "linear")
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


register_modality(Modality(
    "series", pretrain_series, evaluate_series, embed=embed_series, load_encoder=load_series_encoder,
    resume=refuse_resume("series methods train in one go and keep no checkpoints; model.safetensors is the "
                         "final result", NEW_RUN_HINT),
    default_encoder="strided-conv1d (cpc) / dilated-conv1d", protocols=("svm", "linear", "knn", "1nn"),
    artifacts=("run.json", "model.safetensors", "encoder.safetensors"),
    inputs="an (N, C, T) array, a .npy/.npz file, or a series dataset name"))
