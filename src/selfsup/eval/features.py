"""Turning inputs into features: any encoder (with its input normalisation), or a
trained run directory rebuilt from ``run.json`` + ``encoder.safetensors``."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from selfsup.encoders import build_encoder
from selfsup.errors import UserError


class Featurizer:
    """Wrap an encoder with the input preprocessing it was trained with.

    Args:
        encoder: a module mapping (B, ...) float inputs to (B, D) features.
        mean: per-channel mean (image inputs in [0, 1] units).
        std: per-channel std.
        size: side length images are resized to (None keeps them).
        channels_last: feed conv encoders channels_last tensors.
    """

    def __init__(self, encoder: nn.Module, mean: tuple[float, ...] = (0.0,), std: tuple[float, ...] = (1.0,),
                 size: int | None = None, channels_last: bool = True) -> None:
        self.encoder = encoder
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)
        self.size = size
        self.channels_last = channels_last

    def preprocess(self, x: Tensor) -> Tensor:
        """uint8 images -> normalised float; float arrays pass through (cast to float32)."""
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
            if self.size and x.dim() == 4 and x.shape[-1] != self.size:
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
            shape = (1, -1) + (1,) * (x.dim() - 2)
            x = (x - self.mean.view(shape)) / self.std.view(shape)
            if self.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            return x
        return x.float()

    @torch.no_grad()
    def __call__(self, x: Tensor, batch_size: int = 1024, desc: str | None = None) -> Tensor:
        """(N, D) features of all of ``x``, in eval mode, in batches."""
        was_training = self.encoder.training
        self.encoder.eval()
        state = next(iter([*self.encoder.parameters(), *self.encoder.buffers()]), None)  # fitted encoders: buffers only
        dev = state.device if state is not None else torch.device("cpu")
        out: Tensor | None = None
        rng = range(0, len(x), batch_size)
        for i in tqdm(rng, desc=desc, disable=desc is None or len(x) < 20 * batch_size, leave=False):
            f = self.encoder(self.preprocess(x[i : i + batch_size]).to(dev)).float().cpu()
            if out is None:
                # one result tensor, filled in place: small per-batch results kept alive between the large
                # temporaries fragment the heap, and RSS then grows with every batch (seen on data larger than RAM)
                out = torch.empty((len(x), *f.shape[1:]), dtype=f.dtype)
            out[i : i + len(f)] = f
        self.encoder.train(was_training)
        return out if out is not None else torch.zeros(0)


def load_run_encoder(run_dir: Path) -> tuple[Featurizer, dict]:
    """Rebuild the trained encoder of a run directory (no method code involved)."""
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    if not meta_path.is_file():
        raise UserError(f"{run_dir} is not a selfsup run directory (no run.json)",
                        hint="pass the --out directory of a `selfsup pretrain` run")
    meta = json.loads(meta_path.read_text())
    weights = run_dir / "encoder.safetensors"
    if not weights.is_file():
        raise UserError(f"{run_dir} has no encoder.safetensors (the run has not finished a segment)",
                        hint=f"finish it with: selfsup pretrain --resume {run_dir}")
    encoder = build_encoder(meta["encoder"], tuple(meta["input_shape"]), meta.get("encoder_width"),
                            **(meta.get("encoder_options") or {}))
    try:
        state = load_file(str(weights))
    except Exception as e:
        raise UserError(f"cannot read {weights}: {e}", hint="the file is corrupt; re-run the pretraining") from None
    try:
        encoder.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{weights} does not match encoder '{meta['encoder']}': {e}") from None
    if meta["config"]["method_config"].get("channels_last", False):
        encoder = encoder.to(memory_format=torch.channels_last)
    size = meta["input_shape"][-1] if len(meta["input_shape"]) == 3 else None
    return Featurizer(encoder, tuple(meta["mean"]), tuple(meta["std"]), size), meta
