"""Encoder registry: name -> builder taking the input shape (C, H, W) or (D,)."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from selfsup.encoders.mlp import MLPEncoder
from selfsup.encoders.resnet import ResNet18
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


def _resnet18(shape: tuple[int, ...], width: float = 1.0) -> nn.Module:
    _needs_image("resnet18", shape)
    return ResNet18(in_channels=shape[0], width=width)


def _mlp(shape: tuple[int, ...], width: float = 512) -> nn.Module:
    return MLPEncoder(in_dim=math.prod(shape), hidden_dim=int(width))


ENCODERS: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "small-cnn": (_small_cnn, "4-layer CNN (32-64-128-256 channels), 256-d; --set encoder_width=W scales it"),
    "resnet18": (_resnet18, "CIFAR-style ResNet-18; --set encoder_width=0.5 halves every stage"),
    "mlp": (_mlp, "MLP on flattened inputs (2 x 512)"),
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
    if name not in ENCODERS:
        raise unknown_name("encoder", name, ENCODERS)
    builder = ENCODERS[name][0]
    return builder(tuple(input_shape)) if width is None else builder(tuple(input_shape), width)
