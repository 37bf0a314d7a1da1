"""Peer benchmark: lightly's SimCLR pipeline on Fashion-MNIST, as a lightly user writes it.

What is compared
    ``selfsup`` trains SimCLR on Fashion-MNIST with a small 4-layer CNN. This script
    is the *peer* side of that side-by-side: the same encoder architecture and the
    same loss / optimiser hyperparameters, but everything else is lightly's natural
    pipeline -- a torch ``Dataset`` of PIL images, ``lightly.transforms.SimCLRTransform``
    applied per image in ``DataLoader`` worker processes, lightly's
    ``SimCLRProjectionHead`` and ``NTXentLoss``. It reports training throughput
    (images/s, each image counted once although it yields two views) and can dump
    the backbone's features for a kNN / linear-probe comparison of quality.

Why a separate venv
    lightly needs torchvision, and installing torchvision into the project venv
    would replace the project's torch build. So this script runs only inside the
    throwaway venv made by ``benchmarks/peer_venv.sh``
    (``${PEER_VENV:-$HOME/.cache/selfsup-peer-venv}``) and never imports selfsup.

Usage
    PY=$(bash benchmarks/peer_venv.sh)
    $PY benchmarks/peer_lightly_simclr.py --max-steps 30
    $PY benchmarks/peer_lightly_simclr.py --epochs 0.05 --features-out /tmp/peer_feats.npz

The last line on stdout is one JSON object with the measured numbers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lightly
import numpy as np
import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

# Per-channel statistics of the 60k Fashion-MNIST training images (pixels scaled to
# [0, 1]); the images are single-channel, so ImageNet's 3-channel stats do not apply.
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530

IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


# --------------------------------------------------------------------------- data


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally gzipped) into a numpy array of its stored dtype."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (bad magic)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype = np.dtype(dtypes[raw[2]])
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=offset)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def default_data_dir() -> Path | None:
    candidates: list[Path] = []
    if env := os.environ.get("SELFSUP_DATA_DIR"):
        candidates.append(Path(env) / "fashion-mnist")
    candidates.append(Path("/usr/share/datasets/fashion-mnist"))
    return next((c for c in candidates if c.is_dir()), None)


def load_fashion_mnist(data_dir: Path) -> dict[str, np.ndarray]:
    """Return uint8 images (N, 28, 28) and int64 labels (N,) for train and test."""
    out: dict[str, np.ndarray] = {}
    for key, stem in IDX_FILES.items():
        path = next((p for p in (data_dir / f"{stem}.gz", data_dir / stem) if p.exists()), None)
        if path is None:
            raise FileNotFoundError(f"{data_dir}: missing {stem}[.gz]")
        arr = read_idx(path)
        out[key] = arr.astype(np.uint8) if key.endswith("_x") else arr.astype(np.int64)
    return out


class FashionMNISTPIL(Dataset[tuple[list[Tensor], int]]):
    """Fashion-MNIST as a map-style dataset of grayscale ('L' mode) PIL images."""

    def __init__(self, images: np.ndarray, labels: np.ndarray,
                 transform: Callable[[Image.Image], list[Tensor]]) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[list[Tensor], int]:
        image = Image.fromarray(self.images[index])  # uint8 (28, 28) -> mode 'L'
        return self.transform(image), int(self.labels[index])


def make_transform(gaussian_blur: float = 0.5) -> SimCLRTransform:
    """lightly's SimCLR augmentations, defaults kept wherever they work for 1x28x28.

    Non-default choices (everything else -- crop scale (0.08, 1), colour jitter
    p=0.8 with strength 1.0 (0.8/0.8/0.8/0.2), grayscale p=0.2, Gaussian blur
    p=0.5 with sigma in (0.1, 2), horizontal flip p=0.5, no vertical flip or
    rotation -- is lightly's default, even where lightly's own docs suggest
    weaker settings for small images):
      * input_size=28: Fashion-MNIST's native resolution (default 224 would upsample).
      * normalize: Fashion-MNIST's single-channel mean/std instead of the default
        3-channel ImageNet stats, which cannot normalise a 1-channel tensor.
    Images enter as 'L' PIL images, so every view stays 1 channel: hue and
    saturation jitter are no-ops on grayscale, RandomGrayscale keeps 1 channel, and
    ToTensor yields (1, 28, 28). No conversion to RGB is needed.
    ``gaussian_blur``: the blur's probability (lightly's default 0.5; 0 for the blur-off comparison).
    """
    return SimCLRTransform(
        input_size=28,
        gaussian_blur=gaussian_blur,
        normalize={"mean": [FASHION_MNIST_MEAN], "std": [FASHION_MNIST_STD]},
    )


# -------------------------------------------------------------------------- model


def conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """The shared encoder: 4 x [conv3x3-BN-ReLU], channels in->32 (s1), 32->64 (s2),
    64->128 (s2), 128->256 (s2), then global average pooling to 256-d."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, 32, 1),
            conv_bn_relu(32, 64, 2),
            conv_bn_relu(64, 128, 2),
            conv_bn_relu(128, 256, 2),
        )
        self.out_dim = 256

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x).mean(dim=(2, 3))  # global average pool + flatten


class SimCLR(nn.Module):
    def __init__(self, backbone: SmallCNN) -> None:
        super().__init__()
        self.backbone = backbone
        self.projection_head = SimCLRProjectionHead(backbone.out_dim, 256, 128)

    def forward(self, x: Tensor) -> Tensor:
        return self.projection_head(self.backbone(x))


# ---------------------------------------------------------------------- features


@torch.inference_mode()
def extract_features(backbone: nn.Module, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """256-d backbone features of un-augmented images, normalised as in training
    (ToTensor's /255, then the Fashion-MNIST mean/std)."""
    backbone.eval()
    feats: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start:start + batch_size]).to(torch.float32).div_(255.0)
        x = x.sub_(FASHION_MNIST_MEAN).div_(FASHION_MNIST_STD).unsqueeze(1)
        feats.append(backbone(x).numpy().astype(np.float32))
    return np.concatenate(feats)


# -------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=None,
                   help="directory with the Fashion-MNIST idx files (default: "
                        "$SELFSUP_DATA_DIR/fashion-mnist, else /usr/share/datasets/fashion-mnist)")
    p.add_argument("--epochs", type=float, default=1.0,
                   help="epochs to train; fractions allowed (0.2 = 20%% of an epoch's steps)")
    p.add_argument("--max-steps", type=int, default=None, help="cap on optimiser steps")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup-steps", type=int, default=5, help="steps excluded from timing")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--num-workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--gaussian-blur", type=float, default=0.5,
                   help="probability of lightly's Gaussian blur (sigma 0.1-2; default 0.5, lightly's own)")
    p.add_argument("--features-out", type=Path, default=None,
                   help="after training, save backbone features of train+test to this .npz")
    args = p.parse_args(argv)
    if args.data_dir is None:
        args.data_dir = default_data_dir()
        if args.data_dir is None:
            p.error("no Fashion-MNIST directory found; pass --data-dir")
    if args.epochs <= 0 or args.batch_size <= 0 or args.warmup_steps < 0:
        p.error("--epochs and --batch-size must be > 0, --warmup-steps >= 0")
    return args


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    data = load_fashion_mnist(args.data_dir)
    dataset = FashionMNISTPIL(data["train_x"], data["train_y"], make_transform(args.gaussian_blur))
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.num_workers,
        generator=torch.Generator().manual_seed(args.seed),
    )
    steps_per_epoch = len(loader)
    total_steps = max(1, math.ceil(args.epochs * steps_per_epoch))
    if args.max_steps is not None:
        total_steps = min(total_steps, args.max_steps)
    if total_steps <= args.warmup_steps:
        raise SystemExit(f"only {total_steps} steps planned; need more than "
                         f"--warmup-steps={args.warmup_steps} to time anything")

    model = SimCLR(SmallCNN(in_channels=1))
    criterion = NTXentLoss(temperature=args.temperature)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    log(f"lightly {lightly.__version__}, torch {torch.__version__}, threads {args.threads}, "
        f"workers {args.num_workers}; {total_steps} steps of batch {args.batch_size} "
        f"({steps_per_epoch} steps/epoch), first {args.warmup_steps} untimed")

    model.train()
    step = 0
    epoch = 0
    loss_value = float("nan")
    t_start: float | None = None if args.warmup_steps > 0 else time.perf_counter()
    t_end = float("nan")
    while step < total_steps:
        epoch_loss, epoch_steps = 0.0, 0
        for (view0, view1), _ in loader:
            z0 = model(view0)
            z1 = model(view1)
            loss = criterion(z0, z1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            loss_value = loss.item()
            epoch_loss += loss_value
            epoch_steps += 1
            step += 1
            if step == args.warmup_steps:
                t_start = time.perf_counter()  # clock covers data loading from here on
            if step >= total_steps:
                t_end = time.perf_counter()  # before the loader's workers shut down
                break
        epoch += 1
        print(f"epoch {epoch} ({epoch_steps}/{steps_per_epoch} steps): "
              f"mean loss {epoch_loss / epoch_steps:.4f}, last {loss_value:.4f}", flush=True)
    assert t_start is not None
    seconds = t_end - t_start
    timed_steps = total_steps - args.warmup_steps
    images_per_s = timed_steps * args.batch_size / seconds

    if args.features_out is not None:
        t0 = time.perf_counter()
        backbone = model.backbone
        np.savez(
            args.features_out,
            train_x=extract_features(backbone, data["train_x"]),
            train_y=data["train_y"].astype(np.int64),
            test_x=extract_features(backbone, data["test_x"]),
            test_y=data["test_y"].astype(np.int64),
        )
        log(f"features written to {args.features_out} ({time.perf_counter() - t0:.1f}s)")

    print(json.dumps({
        "peer": "lightly",
        "lightly_version": lightly.__version__,
        "torch_version": torch.__version__,
        "images_per_s": round(images_per_s, 2),
        "steps": total_steps,
        "timed_steps": timed_steps,
        "warmup_steps": args.warmup_steps,
        "epochs": round(total_steps / steps_per_epoch, 4),
        "seconds": round(seconds, 3),
        "final_loss": round(loss_value, 6),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "num_workers": args.num_workers,
    }), flush=True)


if __name__ == "__main__":
    main()
