"""Encoder registry: name -> builder taking the input shape (C, H, W) or (D,)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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


def _vit(name: str) -> Callable[..., nn.Module]:
    def build(shape: tuple[int, ...], width: float | None = None, patch: int = 0, pool: str = "cls") -> nn.Module:
        from selfsup.encoders.vit import build_vit

        _needs_image(name, shape)
        return build_vit(name, shape, width, patch=patch, pool=pool)

    return build


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
    "vit-tiny": (_vit("vit-tiny"), "ViT-Tiny (192-d, 12 blocks, 3 heads; patch 4 up to 32 px, else 16: --set "
                                   "encoder_patch=P; --set encoder_pool=mean|cls; encoder_width sets D)"),
    "vit-small": (_vit("vit-small"), "ViT-Small (384-d, 12 blocks, 6 heads; encoder_patch, encoder_pool as vit-tiny)"),
    "resnet18-imagenet": (_resnet18_imagenet, "ImageNet-style ResNet-18 (7x7 stride-2 stem, max-pool; for ~224-px "
                                              "images), 512-d"),
    "resnet50": (_resnet50, "ImageNet-style ResNet-50 (bottlenecks 3-4-6-3, 7x7 stem, max-pool), 2048-d; "
                            "--set encoder_width=0.5 halves every stage"),
    "mlp": (_mlp, "MLP on flattened inputs (2 x 512)"),
    "pca": (_pca, "PCA projection fitted by `selfsup pretrain pca` (width = components)"),
    "gmm": (_gmm, "PCA + Gaussian mixture responsibilities, fitted by `selfsup pretrain gmm`"),
    "kmeans": (_kmeans, "PCA + k-means triangle features, fitted by `selfsup pretrain kmeans`"),
}


# --set keys of encoder settings other than the width -> the builder's keyword (only some encoders take them)
ENCODER_OPTIONS = {"encoder_patch": "patch", "encoder_pool": "pool"}
OPTION_ENCODERS = ("vit-tiny", "vit-small")


def encoder_options(settings: dict[str, Any]) -> dict[str, Any]:
    """Pop the encoder settings (:data:`ENCODER_OPTIONS` keys) out of ``settings`` -> builder keywords."""
    return {ENCODER_OPTIONS[k]: settings.pop(k) for k in list(settings) if k in ENCODER_OPTIONS}


def encoder_names() -> list[str]:
    return sorted(ENCODERS)


def build_encoder(name: str, input_shape: tuple[int, ...], width: float | None = None,
                  **options: Any) -> nn.Module:
    """Build encoder ``name`` for inputs of ``input_shape`` (without the batch dim).

    Args:
        name: a registered encoder name (see :func:`encoder_names`).
        input_shape: (C, H, W) for images, (D,) or anything else for the MLP.
        width: optional width (channels of small-cnn's first layer, ResNet multiplier, MLP width, ViT's D).
        options: the ViTs' ``patch`` (side in pixels, 0 = by image size) and ``pool`` ("cls" or "mean").
    """
    options = {k: v for k, v in options.items() if v is not None}
    if options and name not in OPTION_ENCODERS:
        keys = [k for k, v in ENCODER_OPTIONS.items() if v in options]
        raise UserError(f"encoder '{name}' has no setting {', '.join(keys)}",
                        hint=f"only {', '.join(OPTION_ENCODERS)} take {', '.join(ENCODER_OPTIONS)}")
    if name.startswith("split:") and name.count(":") >= 2:
        return _split(name, tuple(input_shape), width)
    if name not in ENCODERS:
        raise unknown_name("encoder", name, ENCODERS)
    builder = ENCODERS[name][0]
    if name in OPTION_ENCODERS:
        enc = builder(tuple(input_shape), width, **_typed_options(options))
    else:
        enc = builder(tuple(input_shape)) if width is None else builder(tuple(input_shape), width)
    enc.registry_name = name  # lets composite encoders (split-brain) record how to rebuild them
    return enc


def _typed_options(options: dict[str, Any]) -> dict[str, Any]:
    """``patch`` as an int >= 0 and ``pool`` one of cls / mean (values may be CLI strings)."""
    out = dict(options)
    if "patch" in out:
        try:
            out["patch"] = int(out["patch"])
        except (TypeError, ValueError):
            raise UserError(f"bad value {out['patch']!r} for 'encoder_patch': expected an integer") from None
        if out["patch"] < 0:
            raise UserError(f"bad value {out['patch']} for 'encoder_patch': expected >= 0 (0 = by image size)")
    if "pool" in out and out["pool"] not in ("cls", "mean"):
        raise UserError(f"bad value {out['pool']!r} for 'encoder_pool': choose cls or mean")
    return out
