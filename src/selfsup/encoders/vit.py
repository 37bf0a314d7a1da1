"""A Vision Transformer (Dosovitskiy et al. 2021) for small and large images.

The image is cut into ``patch x patch`` patches by a strided convolution (one token each), a learned
positional embedding is added, a learned [CLS] token is prepended, then ``depth`` pre-LN Transformer
blocks (:class:`selfsup.encoders.transformer.PreLNBlock`, attention by :func:`selfsup.encoders.transformer.attention`)
and a final LayerNorm. ``forward(x) -> (B, D)`` pools the [CLS] state or the mean of the patch states.

Masked methods (MAE, I-JEPA) pass ``keep``: (B, K) indices of the patch tokens to keep (the same K for
every sample); the blocks then run on the [CLS] token and those K tokens only, so dropped tokens cost
nothing and cannot leak into the result. Inputs of another size than the built one (DINO's local crops)
get the positional embedding resized by bicubic interpolation of its grid.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.encoders.transformer import PreLNBlock
from selfsup.errors import UserError


def default_patch(image_size: int) -> int:
    """4 for small images (<= 32 px: 7x7 tokens at 28 px, 8x8 at 32 px), else 16 (14x14 at 224 px)."""
    return 4 if image_size <= 32 else 16


def gather_tokens(tokens: Tensor, index: Tensor) -> Tensor:
    """``tokens[b, index[b, k]]``: (B, N, D) tokens, (B, K) long indices -> (B, K, D)."""
    return tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def resize_pos_embed(pos: Tensor, grid: tuple[int, int], new_grid: tuple[int, int]) -> Tensor:
    """(1, gh * gw, D) positional embeddings of a ``grid`` -> (1, nh * nw, D) for ``new_grid`` (bicubic)."""
    if tuple(grid) == tuple(new_grid):
        return pos
    d = pos.shape[-1]
    p = pos.reshape(1, grid[0], grid[1], d).permute(0, 3, 1, 2)  # (1, D, gh, gw)
    p = F.interpolate(p.float(), size=new_grid, mode="bicubic", align_corners=False).to(pos.dtype)
    return p.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], d)


class ViT(nn.Module):
    """Patch embedding -> + positional embedding -> [CLS] + tokens -> pre-LN blocks -> LayerNorm.

    Args:
        in_channels: channels of the input images.
        image_size: (H, W) the positional embedding is built for (other sizes are interpolated).
        dim: token width D (= ``out_dim``).
        depth: number of Transformer blocks.
        heads: attention heads (``dim`` must divide by it).
        patch: side of the square patches in pixels (0 = :func:`default_patch` of the image size).
        mlp_ratio: hidden width of each block's MLP as a multiple of ``dim``.
        pool: "cls" (the [CLS] state) or "mean" (mean of the patch states) for ``forward``.
    """

    def __init__(self, in_channels: int, image_size: tuple[int, int], dim: int = 192, depth: int = 12,
                 heads: int = 3, patch: int = 0, mlp_ratio: float = 4.0, pool: Literal["cls", "mean"] = "cls") -> None:
        super().__init__()
        h, w = image_size
        patch = patch or default_patch(max(h, w))
        if dim % heads:
            raise UserError(f"ViT width {dim} must be divisible by its {heads} heads",
                            hint=f"use a width that is a multiple of {heads} (--set encoder_width=...)")
        if patch < 1 or h % patch or w % patch:
            raise UserError(f"image size {h}x{w} is not a whole number of {patch}-pixel patches",
                            hint="choose --set encoder_patch=P with P dividing the image size")
        if pool not in ("cls", "mean"):
            raise UserError(f"bad ViT pooling '{pool}': choose cls or mean")
        self.patch, self.pool, self.heads, self.out_dim = patch, pool, heads, dim
        self.grid = (h // patch, w // patch)
        self.num_patches = self.grid[0] * self.grid[1]
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, dim))  # (1, N, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(PreLNBlock(dim, heads, mlp_ratio, 0.0) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self._init_weights()

    def _init_weights(self) -> None:
        """MAE's initialisation: truncated N(0, 0.02) embeddings, Xavier-uniform linear maps, zero biases."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(self.out_dim, -1))
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def grid_of(self, x: Tensor) -> tuple[int, int]:
        """The patch grid (rows, columns) of an image batch (B, C, H, W)."""
        return x.shape[-2] // self.patch, x.shape[-1] // self.patch

    def pos_embed_for(self, grid: tuple[int, int]) -> Tensor:
        """(1, rows * cols, D) positional embeddings of a patch grid (interpolated if not the built one)."""
        return resize_pos_embed(self.pos_embed, self.grid, grid)

    def embed_patches(self, x: Tensor) -> Tensor:
        """(B, C, H, W) images -> (B, N, D) patch tokens with their positional embeddings (row-major order)."""
        t = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, N, D)
        return t + self.pos_embed_for(self.grid_of(x))

    def run_blocks(self, tokens: Tensor) -> Tensor:
        """(B, L, D) tokens -> (B, L, D) after the blocks and the final LayerNorm."""
        for blk in self.blocks:
            tokens = blk(tokens, None)
        return self.norm(tokens)

    def forward_tokens(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """(B, C, H, W) images -> (B, 1 + K, D) final states of [CLS] and the kept patch tokens.

        Args:
            x: images.
            keep: (B, K) long indices (row-major on the patch grid) of the tokens to keep; None = all N.
        """
        t = self.embed_patches(x)  # (B, N, D)
        if keep is not None:
            t = gather_tokens(t, keep)  # (B, K, D)
        cls = self.cls_token.expand(t.shape[0], -1, -1)  # (B, 1, D)
        return self.run_blocks(torch.cat([cls, t], dim=1))

    def pool_tokens(self, h: Tensor) -> Tensor:
        """(B, 1 + K, D) final states -> (B, D) by the configured pooling."""
        return h[:, 0] if self.pool == "cls" else h[:, 1:].mean(dim=1)

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """(B, C, H, W) images -> (B, D) features (``keep`` as in :meth:`forward_tokens`)."""
        return self.pool_tokens(self.forward_tokens(x, keep))


class TokenPredictor(nn.Module):
    """A narrow Transformer that predicts tokens at query positions from tokens at known positions:
    MAE's decoder (visible tokens -> the masked patches' pixels) and I-JEPA's predictor (context
    tokens -> the target blocks' representations).

    The known tokens are mapped to ``dim`` and given this module's own positional embedding; each
    query is a shared learned mask token plus the embedding of its position; known and query tokens
    go through ``depth`` pre-LN blocks together; the queries' final states (LayerNorm) are mapped to
    ``out_dim``.

    Args:
        in_dim: width of the known tokens (the encoder's D).
        dim: the predictor's own width.
        depth: number of blocks.
        heads: attention heads (``dim`` must divide by it).
        n_positions: N, the positions of the patch grid.
        out_dim: width of each prediction (pixels of a patch, or the encoder's D).
    """

    def __init__(self, in_dim: int, dim: int, depth: int, heads: int, n_positions: int, out_dim: int,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if dim % heads:
            raise UserError(f"predictor width {dim} must be divisible by its {heads} heads")
        self.embed = nn.Linear(in_dim, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, n_positions, dim))  # (1, N, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(PreLNBlock(dim, heads, mlp_ratio, 0.0) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, tokens: Tensor, positions: Tensor, queries: Tensor) -> Tensor:
        """(B, K, in_dim) known tokens at (B, K) positions, (B, Q) query positions -> (B, Q, out_dim)."""
        pos = self.pos_embed.expand(tokens.shape[0], -1, -1)  # (B, N, dim)
        known = self.embed(tokens) + gather_tokens(pos, positions)  # (B, K, dim)
        asked = self.mask_token + gather_tokens(pos, queries)  # (B, Q, dim)
        h = torch.cat([known, asked], dim=1)
        for blk in self.blocks:
            h = blk(h, None)
        return self.head(self.norm(h[:, known.shape[1]:]))  # (B, Q, out_dim)


# name -> (dim, depth, heads) of the DeiT / timm sizes
VIT_SIZES = {"vit-tiny": (192, 12, 3), "vit-small": (384, 12, 6)}


def build_vit(name: str, shape: tuple[int, ...], width: float | None = None, patch: int = 0,
              pool: str = "cls") -> ViT:
    """The ViT ``name`` (:data:`VIT_SIZES`) for (C, H, W) inputs; ``width`` replaces its token width D."""
    dim, depth, heads = VIT_SIZES[name]
    dim = int(width) if width is not None else dim
    if dim < 1:
        raise UserError(f"bad ViT width {width}: it sets the token width D, a positive multiple of {heads}")
    return ViT(shape[0], (shape[1], shape[2]), dim=dim, depth=depth, heads=heads, patch=int(patch), pool=pool)
