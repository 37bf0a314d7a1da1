"""Multi-crop views (Caron et al. 2020, SwAV; used by DINO, Caron et al. 2021): a few *global*
crops at the input's size that cover much of the image, and several small *local* crops.

The crops are made by the image pipeline of :mod:`selfsup.augment.image` (crop + flip, colour
jitter, grayscale, blur, solarize, normalise), with its config: the global crops take the run's
:class:`ImageAugConfig` as it is (its ``crop_scale_min``/``crop_scale_max`` are the global crops'
area range), the local crops the same config with their own area range. Each crop *group* is one
batched call: the batch is repeated once per crop of the group (crop-major rows) and every row
draws its own random parameters, so crops of one image and crops of different images are
independent. Two seeded generators (global, local) make the result reproducible from a seed.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from torch import Tensor

from selfsup.augment.image import ImageAugConfig, ImageAugment


class Crops(NamedTuple):
    """The crops of a batch of B images, crop-major: rows ``[k * B, (k + 1) * B)`` are crop ``k``.

    Attributes:
        global_crops: (n_global * B, C, size, size).
        local_crops: (n_local * B, C, local_size, local_size); 0 rows when there are no local crops.
    """

    global_crops: Tensor
    local_crops: Tensor


def default_local_size(side: int) -> int:
    """The local crop side for inputs of ``side`` pixels: DINO's 96/224 of the side, rounded down to a
    multiple of 4 (a ViT's patch at this scale), at least 4: 12 for 28 px and 32 px, 96 for 224 px."""
    return max(4, (side * 3 // 7) // 4 * 4)


class MultiCrop:
    """``n_global`` global crops (area in the config's crop scale, output ``size``) and ``n_local``
    local crops (area in ``local_scale``, output ``local_size``) of every image of a batch.

    Args:
        aug: the image augmentation settings (the global crops' area range is its crop scale).
        size: global crop side (the input side).
        mean: per-channel mean for normalisation.
        std: per-channel std for normalisation.
        n_global: global crops per image.
        n_local: local crops per image (0: none).
        local_size: local crop side.
        local_scale: (min, max) area fraction of a local crop.
        seed: seed of the global pipeline; the local one is seeded ``seed + 1``.
    """

    def __init__(self, aug: ImageAugConfig, size: int, mean: tuple[float, ...], std: tuple[float, ...], *,
                 n_global: int = 2, n_local: int = 6, local_size: int = 12,
                 local_scale: tuple[float, float] = (0.05, 0.4), seed: int = 0) -> None:
        if n_global < 1 or n_local < 0 or local_size < 1:
            raise ValueError(f"need n_global >= 1, n_local >= 0, local_size >= 1; got {n_global}, {n_local}, "
                             f"{local_size}")
        local_aug = dataclasses.replace(aug, crop_scale_min=local_scale[0], crop_scale_max=local_scale[1])
        self.n_global, self.n_local = n_global, n_local
        self.global_aug = ImageAugment(aug, size, mean, std, seed=seed)
        self.local_aug = ImageAugment(local_aug, local_size, mean, std, seed=seed + 1)

    @property
    def pipelines(self) -> list[ImageAugment]:
        """The seeded pipelines (global first): what a checkpoint saves to resume the same crops, and
        ``pipelines[0].plain`` is the un-augmented view at the input size."""
        return [self.global_aug, self.local_aug]

    def __call__(self, x: Tensor) -> Crops:
        """The crops of batch ``x`` (B, C, H, W), uint8 in [0, 255] or float in [0, 1]."""
        glob = self.global_aug(x.repeat(self.n_global, 1, 1, 1))  # (n_global * B, C, size, size)
        if self.n_local == 0:
            s = self.local_aug.size
            return Crops(glob, glob.new_zeros(0, glob.shape[1], s, s))
        loc = self.local_aug(x.repeat(self.n_local, 1, 1, 1))  # (n_local * B, C, local_size, local_size)
        return Crops(glob, loc)
