"""Two-part ("split-brain") encoders: the input's channels (or halves) are split in two
groups and each group is seen by its own sub-network; the feature is their concatenation.

Split presets (the ``split`` string):

* ``lab``: RGB images are converted to CIE Lab; part A = L, part B = ab (Zhang et al., 2017);
* ``halves``: part A = left half of the last axis (image columns, or the first half of a
  series), part B = the right half;
* ``channels:0,1,2/3,4,5``: part A = channels 0-2, part B = channels 3-5 (e.g. accelerometer
  / gyroscope of a multivariate series, or any channel groups of an image).

Each sub-network is a full copy of the base encoder fed the whole input with the other part
zeroed (in normalised units), so any encoder (CNN, MLP, 1-D conv) works unchanged: a zeroed
channel adds nothing to a convolution, so this equals a network that sees only its part.

Inputs are what the evaluation featurizer feeds every encoder (images normalised with the
data's mean/std; series as floats). :meth:`SplitEncoder.units` maps them to "natural units"
in [0, 1] (Lab scaled, raw pixel values, or clipped per-series z-scores) from which the
training targets are quantised.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.errors import UserError
from selfsup.functional.color import rgb_to_lab
from selfsup.functional.padding import pad_beyond, series_lengths

SPLIT_HELP = "use lab (RGB images), halves, or channels:0,1,2/3,4,5"
SERIES_Z_CLIP = 3.0  # series units: per-sample, per-channel z-scores clipped to [-3, 3], mapped to [0, 1]


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split: ``kind`` in {"lab", "halves", "channels"}; ``groups`` the channel
    indices of parts A and B (for "lab": (0,) and (1, 2) of the Lab tensor)."""

    kind: str
    groups: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())

    def take(self, u: Tensor, part: int) -> Tensor:
        """The values of part 0 (A) or 1 (B) of (B, C, ...) units ``u``.

        NaN-padded series (unequal lengths) split each series' own real steps in halves; each half
        starts at index 0 of its part and is NaN-padded to the part's width (T // 2, T - T // 2).
        """
        if self.kind == "halves":
            w = u.shape[-1] // 2
            if u.dim() == 3 and bool(torch.isnan(u).any()):
                lengths = series_lengths(u)
                start = torch.zeros_like(lengths) if part == 0 else lengths // 2
                n = lengths // 2 if part == 0 else lengths - lengths // 2
                width = w if part == 0 else u.shape[-1] - w
                idx = (start[:, None] + torch.arange(width, device=u.device)[None]).clamp_max(u.shape[-1] - 1)
                return pad_beyond(u.gather(2, idx[:, None].expand(u.shape[0], u.shape[1], width)), n)
            return u[..., :w] if part == 0 else u[..., w:]
        return u[:, list(self.groups[part])]

    def masks(self, input_shape: tuple[int, ...]) -> Tensor:
        """(2, *input_shape) float masks: 1 where part A (row 0) / part B (row 1) lives."""
        m = torch.zeros((2, *input_shape))
        if self.kind == "halves":
            w = input_shape[-1] // 2
            m[0, ..., :w] = 1
            m[1, ..., w:] = 1
        else:
            for p in (0, 1):
                m[p, list(self.groups[p])] = 1
        return m


def parse_split(split: str, input_shape: tuple[int, ...]) -> SplitSpec:
    """Parse and check a split string against the input shape (C, H, W) or (C, T)."""
    s = split.strip()
    shape = tuple(input_shape)
    if s == "lab":
        if len(shape) != 3 or shape[0] != 3:
            raise UserError(f"split=lab needs RGB images (3, H, W), the data has shape {shape}",
                            hint="use split=halves for gray images, or split=channels:... for other channel groups")
        return SplitSpec("lab", ((0,), (1, 2)))
    if s == "halves":
        if len(shape) < 2 or shape[-1] < 2:
            raise UserError(f"split=halves needs inputs (C, H, W) or (C, T) with a last axis >= 2, got {shape}")
        return SplitSpec("halves")
    if s.startswith("channels:"):
        body = s[len("channels:"):]
        parts = body.split("/")
        if len(parts) != 2:
            raise UserError(f"bad split '{split}': expected two channel groups separated by '/'",
                            hint="e.g. split=channels:0,1,2/3,4,5")
        try:
            groups = tuple(tuple(int(v) for v in p.split(",") if v.strip()) for p in parts)
        except ValueError:
            raise UserError(f"bad split '{split}': channel indices must be integers", hint=SPLIT_HELP) from None
        if len(shape) < 2:
            raise UserError(f"split=channels needs inputs with a channel axis (C, ...), got shape {shape}")
        c = shape[0]
        a, b = groups
        if not a or not b:
            raise UserError(f"bad split '{split}': both channel groups must be non-empty")
        bad = [i for i in a + b if not 0 <= i < c]
        if bad:
            raise UserError(f"split '{split}' names channel(s) {bad}, the data has {c} channels (0..{c - 1})")
        if set(a) & set(b) or len(set(a)) != len(a) or len(set(b)) != len(b):
            raise UserError(f"bad split '{split}': the two groups must not share or repeat channels")
        return SplitSpec("channels", (a, b))  # type: ignore[arg-type]
    raise UserError(f"unknown split '{split}'", hint=SPLIT_HELP)


def _reinit(module: nn.Module) -> None:
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


class SplitEncoder(nn.Module):
    """Two sub-networks, one per part of the input; ``forward`` -> (B, D_a + D_b).

    Args:
        net_a: the encoder of part A (its copy, re-initialised, becomes the encoder of part B
            unless ``net_b`` is given).
        split: the split string (see the module docstring).
        input_shape: (C, H, W) or (C, T).
        mean: per-channel mean the inputs were normalised with (images).
        std: per-channel std.
        net_b: the encoder of part B.
        base_name: the registry name of the base encoder (to rebuild this one from ``run.json``).
    """

    def __init__(self, net_a: nn.Module, split: str, input_shape: tuple[int, ...],
                 mean: tuple[float, ...] = (0.0,), std: tuple[float, ...] = (1.0,),
                 net_b: nn.Module | None = None, base_name: str | None = None) -> None:
        super().__init__()
        self.spec = parse_split(split, input_shape)
        self.split = split
        self.input_shape = tuple(input_shape)
        if net_b is None:
            net_b = copy.deepcopy(net_a)
            _reinit(net_b)
        self.nets = nn.ModuleList([net_a, net_b])
        self.part_dims = (int(net_a.out_dim), int(net_b.out_dim))
        self.out_dim = sum(self.part_dims)
        self.registry_name = f"split:{base_name}:{split}" if base_name else None
        c = self.input_shape[0]
        self.series = len(self.input_shape) == 2
        self.register_buffer("data_mean", torch.as_tensor(mean, dtype=torch.float32).expand(c).clone())
        self.register_buffer("data_std", torch.as_tensor(std, dtype=torch.float32).expand(c).clone())
        self.register_buffer("part_masks", self.spec.masks(self.input_shape), persistent=False)

    def _chan(self, v: Tensor, x: Tensor) -> Tensor:
        return v.to(x.device).view(1, -1, *([1] * (x.dim() - 2)))

    def units(self, x: Tensor) -> Tensor:
        """Inputs (as the featurizer gives them) -> natural units in [0, 1], same shape
        (for "lab": L/100, (a+110)/220, (b+110)/220)."""
        x = x.float()
        if self.series:
            if bool(torch.isnan(x).any()):  # NaN-padded (unequal lengths): statistics of the real steps; padding stays NaN
                mean = torch.nanmean(x, -1, keepdim=True)
                n = (~torch.isnan(x)).sum(-1, keepdim=True)
                std = ((x - mean).nan_to_num(0.0).square().sum(-1, keepdim=True) / (n - 1).clamp_min(1)).sqrt()
            else:
                mean, std = x.mean(-1, keepdim=True), x.std(-1, keepdim=True)
            z = (x - mean) / std.clamp_min(1e-6)
            return (z.clamp(-SERIES_Z_CLIP, SERIES_Z_CLIP) + SERIES_Z_CLIP) / (2 * SERIES_Z_CLIP)
        raw = (x * self._chan(self.data_std, x) + self._chan(self.data_mean, x)).clamp(0.0, 1.0)
        if self.spec.kind == "lab":
            lab = rgb_to_lab(raw)
            return torch.cat([lab[:, :1] / 100.0, (lab[:, 1:] + 110.0) / 220.0], dim=1).clamp(0.0, 1.0)
        return raw

    def net_input(self, u: Tensor) -> Tensor:
        """Units -> the sub-networks' (normalised) input."""
        if self.series:
            return (u - 0.5) * (2 * SERIES_Z_CLIP)
        if self.spec.kind == "lab":
            return (u - 0.5) / 0.25
        return (u - self._chan(self.data_mean, u)) / self._chan(self.data_std, u)

    def forward_parts(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(units (B, C, ...), [features of part A (B, D_a), of part B (B, D_b)])."""
        u = self.units(x)
        z = self.net_input(u)
        masks = self.part_masks.to(z.dtype).unsqueeze(1)  # (2, 1, C, ...)
        if self.series and self.spec.kind == "halves" and bool(torch.isnan(z).any()):
            # NaN-padded series: the halves of each series' own real steps (padding stays NaN for the encoder)
            half = (series_lengths(z) // 2)[:, None, None]  # (B, 1, 1)
            pos = torch.arange(z.shape[-1], device=z.device)[None, None]  # (1, 1, T)
            masks = torch.stack([pos < half, pos >= half]).to(z.dtype)  # (2, B, 1, T)
        feats = [net(z * masks[p]) for p, net in enumerate(self.nets)]  # a zeroed step stays NaN where padded
        return u, feats

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self.forward_parts(x)[1], dim=1)  # (B, D_a + D_b)
