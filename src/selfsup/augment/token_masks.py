"""Masks over a ViT's patch tokens, as index tensors: batched, on the generator's device, seeded.

Tokens are numbered row-major on the patch grid (``row * cols + col``), as
:meth:`selfsup.encoders.vit.ViT.embed_patches` orders them. Every sample of a batch gets the same
number of indices, so the kept tokens of a batch are one (B, K) tensor (``ViT.forward(x, keep)``).

* :func:`random_token_mask` (MAE, He et al. 2022): each sample keeps exactly
  ``round((1 - ratio) * N)`` tokens drawn uniformly without replacement, independently per sample.
* :func:`block_masks` (I-JEPA, Assran et al. 2023): M target blocks (rectangles of a sampled scale
  and aspect ratio) and one large context block with every target token removed from it; the
  context of each sample is cut to the smallest context size in the batch, as the paper's collator
  does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from selfsup.errors import UserError


def _true_indices(mask: Tensor, k: int) -> Tensor:
    """The first ``k`` True positions (ascending) of each row of a (..., N) bool mask -> (..., k) long."""
    order = torch.argsort((~mask).to(torch.int8), dim=-1, stable=True)  # True positions first, in order
    return order[..., :k]


def random_token_mask(batch: int, n_tokens: int, ratio: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """MAE's random masking.

    Args:
        batch: B.
        n_tokens: N, the patch tokens of one image.
        ratio: the fraction masked, in [0, 1).
        gen: the random stream (its device is the output's).

    Returns:
        ``(keep, masked)``: (B, K) and (B, N - K) long indices, each row ascending, with
        ``K = round((1 - ratio) * N)`` (at least 1); together each row holds every token once.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {ratio}")
    k = max(1, int(round((1.0 - ratio) * n_tokens)))
    noise = torch.rand((batch, n_tokens), generator=gen, device=gen.device)  # (B, N)
    order = noise.argsort(dim=1)  # a random permutation per sample
    return order[:, :k].sort(dim=1).values, order[:, k:].sort(dim=1).values


@dataclass
class BlockMasks:
    """I-JEPA's masks of one batch.

    Attributes:
        context: (B, Kc) long indices of the context tokens (none of them in a target block).
        targets: (B, M, Kt) long indices of each target block's tokens (one block size per batch).
    """

    context: Tensor
    targets: Tensor


def _block_size(gen: torch.Generator, grid: tuple[int, int], scale: tuple[float, float],
                aspect: tuple[float, float]) -> tuple[int, int]:
    """(rows, cols) of a block covering a fraction ~U(scale) of the grid with aspect ratio
    (rows / cols) log-uniform in ``aspect``, each side clipped to [1, the grid's side]."""
    u = torch.rand(2, generator=gen, device=gen.device).tolist()
    area = (scale[0] + (scale[1] - scale[0]) * u[0]) * grid[0] * grid[1]
    ar = math.exp(math.log(aspect[0]) + (math.log(aspect[1]) - math.log(aspect[0])) * u[1])
    rows = min(grid[0], max(1, int(round(math.sqrt(area * ar)))))
    cols = min(grid[1], max(1, int(round(math.sqrt(area / ar)))))
    return rows, cols


def _rectangles(gen: torch.Generator, n: tuple[int, ...], grid: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """(*n, rows * cols) bool masks of ``size`` rectangles at uniformly random positions on ``grid``."""
    dev = gen.device
    top = torch.randint(0, grid[0] - size[0] + 1, n, generator=gen, device=dev)[..., None]  # (*n, 1)
    left = torch.randint(0, grid[1] - size[1] + 1, n, generator=gen, device=dev)[..., None]
    r = torch.arange(grid[0], device=dev).repeat_interleave(grid[1])  # (N,) row of each token
    c = torch.arange(grid[1], device=dev).repeat(grid[0])  # (N,) column of each token
    return (r >= top) & (r < top + size[0]) & (c >= left) & (c < left + size[1])


def block_masks(batch: int, grid: tuple[int, int], gen: torch.Generator, *, n_targets: int = 4,
                target_scale: tuple[float, float] = (0.15, 0.2), target_aspect: tuple[float, float] = (0.75, 1.5),
                context_scale: tuple[float, float] = (0.85, 1.0), min_context: int = 4,
                tries: int = 20) -> BlockMasks:
    """I-JEPA's multi-block masking on a ``grid`` = (rows, cols) of patch tokens.

    One target block size and one context block size are drawn per batch (as the paper's collator
    does), every position per sample. The context is its block minus the union of that sample's
    target blocks, cut to the batch's smallest context (the first tokens in row-major order are kept);
    if that is below ``min_context`` tokens the positions are drawn again (up to ``tries`` times).

    Args:
        batch: B.
        grid: patch-grid rows and columns.
        gen: the random stream (its device is the output's).
        n_targets: M target blocks per image.
        target_scale: range of a target block's area, as a fraction of the grid.
        target_aspect: range of a target block's rows / cols.
        context_scale: range of the context block's area (aspect ratio 1).
        min_context: fewest context tokens accepted.
        tries: draws of the positions before giving up.
    """
    t_size = _block_size(gen, grid, target_scale, target_aspect)
    c_size = _block_size(gen, grid, context_scale, (1.0, 1.0))
    for _ in range(tries):
        targets = _rectangles(gen, (batch, n_targets), grid, t_size)  # (B, M, N)
        context = _rectangles(gen, (batch,), grid, c_size) & ~targets.any(dim=1)  # (B, N)
        kc = int(context.sum(dim=1).min())
        if kc >= min_context:
            return BlockMasks(_true_indices(context, kc), _true_indices(targets, t_size[0] * t_size[1]))
    raise UserError(f"no context of {min_context} tokens left beside {n_targets} target blocks of "
                       f"{t_size[0]}x{t_size[1]} on a {grid[0]}x{grid[1]} grid in {tries} draws; "
                       "use fewer or smaller target blocks",
                    hint="or more tokens: a smaller patch (--set encoder_patch=P)")
