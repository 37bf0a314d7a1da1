"""Batched image augmentations on the input's device.

Every sample in a batch gets its own random parameters, drawn from one
``torch.Generator`` so a pipeline is reproducible from a seed (its state can be
saved and restored). Inputs are uint8 or float (B, C, H, W) in [0, 255] / [0, 1];
outputs are float (B, C, size, size), normalised with the given mean/std.

The geometric part (random resized crop + horizontal flip) is ONE
``grid_sample`` call with a per-sample affine matrix; colour ops are tensor
arithmetic; the blur is kornia's batched Gaussian blur with a per-sample sigma.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.config import Checked, bounded
from selfsup.errors import UserError


@dataclass
class ImageAugConfig(Checked):
    """Parameters of the SimCLR-style view pipeline (defaults tuned for small gray images)."""

    crop_scale_min: float = bounded(0.2, gt=0)
    crop_scale_max: float = bounded(1.0, le=1)
    crop_ratio_min: float = bounded(3 / 4, gt=0)
    crop_ratio_max: float = 4 / 3
    flip_p: float = bounded(0.5, ge=0, le=1)
    jitter_p: float = bounded(0.8, ge=0, le=1)
    brightness: float = 0.8
    contrast: float = 0.8
    saturation: float = 0.4
    hue: float = 0.1
    gray_p: float = bounded(0.2, ge=0, le=1)
    blur_p: float = bounded(0.0, ge=0, le=1)
    blur_sigma_min: float = bounded(0.1, gt=0)
    blur_sigma_max: float = 2.0
    blur_kernel: int = 0
    solarize_p: float = bounded(0.0, ge=0, le=1)

    def validate(self) -> None:
        super().validate()
        for low, high in (("crop_scale_min", "crop_scale_max"), ("crop_ratio_min", "crop_ratio_max"),
                          ("blur_sigma_min", "blur_sigma_max")):
            if getattr(self, low) > getattr(self, high):
                raise UserError(f"need {low} <= {high}, got {getattr(self, low)}, {getattr(self, high)}")
        if self.blur_kernel != 0 and (self.blur_kernel < 3 or self.blur_kernel % 2 == 0):
            raise UserError(f"blur_kernel must be 0 (about a tenth of the image side) or an odd size >= 3, "
                            f"got {self.blur_kernel}",
                            hint=f"a Gaussian of sigma up to {self.blur_sigma_max:g} needs "
                                 f"{blur_kernel_for_sigma(self.blur_sigma_max)} (2 * ceil(3 sigma) + 1)")


def _uniform(gen: torch.Generator, n: int, low: float, high: float, device: torch.device) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=device)


def _bernoulli(gen: torch.Generator, n: int, p: float, device: torch.device) -> Tensor:
    return torch.rand(n, generator=gen, device=device) < p


def crop_flip_params(
    gen: torch.Generator,
    n: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    flip_p: float,
    device: torch.device,
) -> Tensor:
    """Per-sample affine matrices (n, 2, 3) for random-resized-crop + flip.

    Area fraction s ~ U(scale), log aspect ratio r ~ U(log ratio); crop width
    sqrt(s r) and height sqrt(s / r) (fractions of the image side, clipped to
    1); centre uniform over the positions where the crop fits. Flip negates the
    x scale. Coordinates are ``affine_grid``'s normalised [-1, 1].
    """
    area = _uniform(gen, n, scale[0], scale[1], device)
    log_r = _uniform(gen, n, math.log(ratio[0]), math.log(ratio[1]), device)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)  # (n,) fraction of width
    h = torch.sqrt(area / r).clamp(max=1.0)  # (n,) fraction of height
    cx = (torch.rand(n, generator=gen, device=device) * 2 - 1) * (1 - w)  # (n,)
    cy = (torch.rand(n, generator=gen, device=device) * 2 - 1) * (1 - h)  # (n,)
    flip = _bernoulli(gen, n, flip_p, device)
    sx = torch.where(flip, -w, w)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = sx
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    return theta


def _gray(x: Tensor) -> Tensor:
    """Luma (B, 1, H, W) of RGB (B, 3, H, W) or the image itself if gray."""
    if x.shape[1] == 1:
        return x
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def color_jitter(x: Tensor, gen: torch.Generator, cfg: ImageAugConfig) -> Tensor:
    """Brightness, contrast (and for RGB saturation, hue) jitter applied with prob jitter_p."""
    b = x.shape[0]
    dev = x.device
    apply = _bernoulli(gen, b, cfg.jitter_p, dev).float().view(b, 1, 1, 1)
    bright = _uniform(gen, b, 1 - cfg.brightness, 1 + cfg.brightness, dev).view(b, 1, 1, 1)
    contr = _uniform(gen, b, 1 - cfg.contrast, 1 + cfg.contrast, dev).view(b, 1, 1, 1)
    bright = 1 + apply * (bright - 1)
    contr = 1 + apply * (contr - 1)
    x = (x * bright).clamp_(0, 1)
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    x = ((x - mean) * contr + mean).clamp_(0, 1)
    if x.shape[1] == 3:
        sat = _uniform(gen, b, 1 - cfg.saturation, 1 + cfg.saturation, dev).view(b, 1, 1, 1)
        sat = 1 + apply * (sat - 1)
        g = _gray(x)
        x = ((x - g) * sat + g).clamp_(0, 1)
        if cfg.hue > 0:
            hue = _uniform(gen, b, -cfg.hue, cfg.hue, dev) * apply.view(b)
            x = kornia.enhance.adjust_hue(x, hue * 2 * math.pi).clamp_(0, 1)
    return x


def random_grayscale(x: Tensor, gen: torch.Generator, p: float) -> Tensor:
    """Replace RGB images by their luma with probability p (no-op for gray images)."""
    if x.shape[1] != 3 or p <= 0:
        return x
    m = _bernoulli(gen, x.shape[0], p, x.device).view(-1, 1, 1, 1)
    return torch.where(m, _gray(x).expand_as(x), x)


def blur_kernel_for_sigma(sigma: float) -> int:
    """The odd kernel side that holds a Gaussian of std ``sigma`` out to 3 sigma (as PIL's and torchvision's do)."""
    return 2 * math.ceil(3 * sigma) + 1


def random_blur(x: Tensor, gen: torch.Generator, cfg: ImageAugConfig) -> Tensor:
    """Gaussian blur with per-sample sigma ~ U(blur_sigma), applied with prob blur_p.

    The kernel is ``cfg.blur_kernel`` pixels square, or with 0 about a tenth of the image side (odd, at least 3):
    at 28 px that is 3x3, which cuts a Gaussian of sigma above ~0.5 short; ``blur_kernel_for_sigma(blur_sigma_max)``
    (13 for sigma 2) gives the Gaussian of the sigma drawn, as PIL's GaussianBlur in lightly's pipeline does."""
    if cfg.blur_p <= 0:
        return x
    b, _, h, _ = x.shape
    m = _bernoulli(gen, b, cfg.blur_p, x.device)
    sigma = _uniform(gen, b, cfg.blur_sigma_min, cfg.blur_sigma_max, x.device)
    k = cfg.blur_kernel or max(3, int(0.1 * h) // 2 * 2 + 1)  # default: ~10% of the side, odd
    k = min(k, h if h % 2 else h - 1)  # never wider than the image (reflect padding needs it)
    blurred = kornia.filters.gaussian_blur2d(x, (k, k), sigma.unsqueeze(1).repeat(1, 2))
    return torch.where(m.view(-1, 1, 1, 1), blurred, x)


def random_solarize(x: Tensor, gen: torch.Generator, p: float) -> Tensor:
    """Invert pixels >= 0.5 with probability p per sample."""
    if p <= 0:
        return x
    m = _bernoulli(gen, x.shape[0], p, x.device).view(-1, 1, 1, 1)
    return torch.where(m & (x >= 0.5), 1 - x, x)


class ImageAugment:
    """One stochastic view pipeline: crop+flip -> colour jitter -> grayscale -> blur
    -> solarize -> normalise. Call it on a batch to get one view per sample.

    Args:
        cfg: augmentation parameters.
        size: output side length.
        mean: per-channel mean for normalisation.
        std: per-channel std for normalisation.
        seed: seed of the pipeline's generator.
    """

    def __init__(
        self,
        cfg: ImageAugConfig,
        size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        seed: int = 0,
    ) -> None:
        cfg.validate()
        self.cfg = cfg
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.seed = seed
        self._gen: torch.Generator | None = None

    def generator(self, device: torch.device) -> torch.Generator:
        """The pipeline's generator on ``device`` (created from the seed on first use)."""
        if self._gen is None or self._gen.device != device:
            state = self._gen.get_state() if self._gen is not None else None
            self._gen = torch.Generator(device=device)
            self._gen.manual_seed(self.seed)
            if state is not None and device.type == "cpu":
                self._gen.set_state(state)
        return self._gen

    def state_dict(self) -> dict[str, Tensor]:
        return {} if self._gen is None else {"rng": self._gen.get_state()}

    def load_state_dict(self, state: dict[str, Tensor], device: torch.device | None = None) -> None:
        if "rng" in state:
            self.generator(device or torch.device("cpu")).set_state(state["rng"])

    def to_float(self, x: Tensor) -> Tensor:
        """uint8 [0, 255] -> float [0, 1]; float inputs are taken as already in [0, 1]."""
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def normalize(self, x: Tensor) -> Tensor:
        if self.mean.device != x.device:  # moved once, not copied to the device at every call
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        return (x - self.mean) / self.std

    def __call__(self, x: Tensor) -> Tensor:
        """Return one augmented, normalised view (B, C, size, size) of batch ``x``."""
        gen = self.generator(x.device)
        x = self.to_float(x)
        cfg = self.cfg
        theta = crop_flip_params(
            gen,
            x.shape[0],
            (cfg.crop_scale_min, cfg.crop_scale_max),
            (cfg.crop_ratio_min, cfg.crop_ratio_max),
            cfg.flip_p,
            x.device,
        )
        grid = F.affine_grid(theta, [x.shape[0], x.shape[1], self.size, self.size], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if cfg.jitter_p > 0:
            x = color_jitter(x, gen, cfg)
        x = random_grayscale(x, gen, cfg.gray_p)
        x = random_blur(x, gen, cfg)
        x = random_solarize(x, gen, cfg.solarize_p)
        return self.normalize(x)

    def plain(self, x: Tensor) -> Tensor:
        """The un-augmented input, resized to ``size`` and normalised (for evaluation)."""
        x = self.to_float(x)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.normalize(x)


class MultiView:
    """Apply several view pipelines (or one pipeline n times) to the same batch.

    Args:
        pipelines: one pipeline per view.
    """

    def __init__(self, pipelines: list[ImageAugment]) -> None:
        if not pipelines:
            raise ValueError("MultiView needs at least one pipeline")
        self.pipelines = pipelines

    def __call__(self, x: Tensor) -> list[Tensor]:
        return [p(x) for p in self.pipelines]
