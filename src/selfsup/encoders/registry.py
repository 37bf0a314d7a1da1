"""Encoder registry: name -> builder taking the input shape (C, H, W) or (D,)."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from selfsup.encoders.mlp import MLPEncoder
from selfsup.encoders.resnet import ResNet18
from selfsup.encoders.resnet_imagenet import ImageNetResNet
from selfsup.encoders.small_cnn import SmallCNN
from selfsup.errors import UserError, unknown_name


def _needs_image(name: str, shape: tuple[int, ...]) -> None:
    if len(shape) != 3:
        raise UserError(
            f"encoder '{name}' needs images (C, H, W), but the data has shape {shape}",
            hint="use --encoder mlp for flat inputs",
        )


def _small_cnn(shape: tuple[int, ...], width: float = 32) -> nn.Module:
    _needs_image("small-cnn", shape)
    return SmallCNN(in_channels=shape[0], width=int(width))


def _small_cnn_2x2(shape: tuple[int, ...], width: float = 32) -> nn.Module:
    _needs_image("small-cnn-2x2", shape)
    return SmallCNN(in_channels=shape[0], width=int(width), grid=2)


def _resnet18(shape: tuple[int, ...], width: float = 1.0) -> nn.Module:
    _needs_image("resnet18", shape)
    return ResNet18(in_channels=shape[0], width=width)


def _resnet18_imagenet(shape: tuple[int, ...], width: float = 1.0) -> nn.Module:
    _needs_image("resnet18-imagenet", shape)
    return ImageNetResNet(18, in_channels=shape[0], width=width)


def _resnet50(shape: tuple[int, ...], width: float = 1.0) -> nn.Module:
    _needs_image("resnet50", shape)
    return ImageNetResNet(50, in_channels=shape[0], width=width)


def _mlp(shape: tuple[int, ...], width: float = 512) -> nn.Module:
    return MLPEncoder(in_dim=math.prod(shape), hidden_dim=int(width))


def _pca(shape: tuple[int, ...], width: float = 50) -> nn.Module:
    from selfsup.encoders.fitted import PCAEncoder

    return PCAEncoder(math.prod(shape), int(width))


def _gmm(shape: tuple[int, ...], width: float = 50) -> nn.Module:
    from selfsup.encoders.fitted import GMMEncoder

    return GMMEncoder(math.prod(shape), int(width))  # buffer shapes follow the loaded state


def _kmeans(shape: tuple[int, ...], width: float = 50) -> nn.Module:
    from selfsup.encoders.fitted import KMeansEncoder

    return KMeansEncoder(math.prod(shape), int(width))


def _split(name: str, shape: tuple[int, ...], width: float | None) -> nn.Module:
    """``split:BASE:SPLIT`` -> a two-part encoder of two BASE encoders (see encoders/split.py)."""
    from selfsup.encoders.split import SplitEncoder

    _, base, split = name.split(":", 2)
    nets = [build_encoder(base, shape, width) for _ in range(2)]
    return SplitEncoder(nets[0], split, shape, net_b=nets[1], base_name=base)


ENCODERS: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "small-cnn": (_small_cnn, "4-layer CNN (32-64-128-256 channels), 256-d; --set encoder_width=W scales it"),
    "small-cnn-2x2": (_small_cnn_2x2, "small-cnn pooled to a 2x2 grid instead of globally (1024-d; keeps coarse "
                                      "layout: better kNN on small images at the same step cost)"),
    "resnet18": (_resnet18, "CIFAR-style ResNet-18; --set encoder_width=0.5 halves every stage"),
    "resnet18-imagenet": (_resnet18_imagenet, "ImageNet-style ResNet-18 (7x7 stride-2 stem, max-pool; for ~224-px "
                                              "images), 512-d"),
    "resnet50": (_resnet50, "ImageNet-style ResNet-50 (bottlenecks 3-4-6-3, 7x7 stem, max-pool), 2048-d; "
                            "--set encoder_width=0.5 halves every stage"),
    "mlp": (_mlp, "MLP on flattened inputs (2 x 512)"),
    "pca": (_pca, "PCA projection fitted by `selfsup pretrain pca` (width = components)"),
    "gmm": (_gmm, "PCA + Gaussian mixture responsibilities, fitted by `selfsup pretrain gmm`"),
    "kmeans": (_kmeans, "PCA + k-means triangle features, fitted by `selfsup pretrain kmeans`"),
}


def encoder_names() -> list[str]:
    return sorted(ENCODERS)


def build_encoder(name: str, input_shape: tuple[int, ...], width: float | None = None) -> nn.Module:
    """Build encoder ``name`` for inputs of ``input_shape`` (without the batch dim).

    Args:
        name: a registered encoder name (see :func:`encoder_names`).
        input_shape: (C, H, W) for images, (D,) or anything else for the MLP.
        width: optional width (channels of small-cnn's first layer, ResNet multiplier, MLP width).
    """
    if name.startswith("split:") and name.count(":") >= 2:
        return _split(name, tuple(input_shape), width)
    if name not in ENCODERS:
        raise unknown_name("encoder", name, ENCODERS)
    builder = ENCODERS[name][0]
    enc = builder(tuple(input_shape)) if width is None else builder(tuple(input_shape), width)
    enc.registry_name = name  # lets composite encoders (split-brain) record how to rebuild them
    return enc
