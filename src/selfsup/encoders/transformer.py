"""A small pre-LN Transformer encoder over subword ids (BERT-style inputs).

Inputs are (B, L) token ids whose id 0 is padding, optionally with (B, L) segment ids
(sentence A/B, or the utterance index). Each block is pre-LayerNorm (Xiong et al., 2020):
``x + Attn(LN(x))`` then ``x + MLP(LN(x))``, with a final LayerNorm, so it trains stably
without a long warm-up.

``forward(ids) -> (B, D)`` pools the final token states (mean over non-padding tokens, or
the [CLS] state); ``tokens(ids) -> (B, L, D)`` gives every position (for masked LM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.config import Checked, bounded
from selfsup.errors import UserError


@dataclass
class TransformerConfig(Checked):
    """Shape of the text encoder.

    Attributes:
        vocab_size: subword vocabulary (set from the tokenizer).
        dim: model width D.
        depth: number of Transformer blocks.
        heads: attention heads (``dim`` must divide by it).
        mlp_ratio: hidden width of the feed-forward block, as a multiple of ``dim``.
        max_len: longest input, in tokens (learned position embeddings).
        segments: number of segment embeddings (2 for sentence pairs; K for K utterances).
        dropout: dropout on embeddings, attention output and MLP.
        pool: "mean" (mean over non-padding tokens) or "cls" (the first token's state).
        pad_id: the padding id.
    """

    vocab_size: int = bounded(8000, ge=1)
    dim: int = bounded(128, ge=1)
    depth: int = bounded(2, ge=1)
    heads: int = bounded(4, ge=1)
    mlp_ratio: float = 4.0
    max_len: int = bounded(128, ge=1)
    segments: int = bounded(4, ge=1)
    dropout: float = 0.1
    pool: Literal["mean", "cls"] = "mean"
    pad_id: int = 0

    def validate(self) -> None:
        super().validate()
        if self.dim % self.heads:
            raise UserError(f"dim {self.dim} must be divisible by heads {self.heads}")

class _Embedding(nn.Embedding):
    """Embedding initialised N(0, 0.02) (BERT), also on ``reset_parameters`` (training from scratch)."""

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)
        self._fill_padding_idx_with_zero()


def explicit_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None) -> Tensor:
    """``softmax(q k^T / sqrt(d)) v`` with the (B, H, L, L) score matrix in memory, the softmax in at least
    float32 (bf16 / fp16 scores are upcast for it).

    Args:
        q, k, v: (B, H, L, d) queries, keys and values.
        attn_mask: None, or a boolean mask broadcastable to (B, H, L, L), True where a query may attend. A query
            that may attend nowhere gets a zero output (and zero gradients), as from the fused kernel.
    """
    s = torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)  # (B, H, L, L)
    s = s.to(torch.promote_types(s.dtype, torch.float32))
    if attn_mask is None:
        return torch.matmul(s.softmax(dim=-1).to(v.dtype), v)
    # a finite fill, not -inf: a fully masked row then gives a finite (uniform) softmax, zeroed below, where
    # -inf would give NaN values and NaN gradients
    p = s.masked_fill(~attn_mask, torch.finfo(s.dtype).min).softmax(dim=-1).masked_fill(~attn_mask, 0.0)
    return torch.matmul(p.to(v.dtype), v)


def attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None) -> Tensor:
    """Multi-head attention (B, H, L, d) -> (B, H, L, d) by the fastest kernel measured for the case.

    ``scaled_dot_product_attention`` everywhere except bf16 / fp16 on a CPU, where PyTorch's fused CPU
    kernel is 1.4-6x slower forward + backward than :func:`explicit_attention` at the token counts used here
    (17-197 tokens, head width 64; ``benchmarks/attention_cpu.py``, BENCHMARKS.md "attention on a CPU").
    A float (additive) mask always goes to the fused kernel.
    In float32 the fused kernel is as fast or faster, and on a GPU it is the one to use.
    """
    if (q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16)
            and (attn_mask is None or attn_mask.dtype == torch.bool)):
        return explicit_attention(q, k, v, attn_mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


class PreLNBlock(nn.Module):
    """One pre-LN Transformer block: multi-head self-attention and a GELU MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, attn_mask: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = attention(q, k, v, attn_mask)  # (B, H, L, D/H)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class TextTransformer(nn.Module):
    """Token + position + segment embeddings, ``depth`` pre-LN blocks, a final LayerNorm."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.out_dim = cfg.dim
        self.tok = _Embedding(cfg.vocab_size, cfg.dim, padding_idx=cfg.pad_id)
        self.pos = _Embedding(cfg.max_len, cfg.dim)
        self.seg = _Embedding(cfg.segments, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(PreLNBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.depth))
        self.ln_f = nn.LayerNorm(cfg.dim)
        for blk in self.blocks:  # scaled residual projections (GPT-2)
            nn.init.normal_(blk.proj.weight, std=0.02 / math.sqrt(2 * cfg.depth))

    def tokens(self, ids: Tensor, segments: Tensor | None = None) -> Tensor:
        """(B, L) ids (and segment ids) -> (B, L, D) final token states."""
        ids = ids.long()  # the evaluation harness hands float copies of the ids
        if ids.shape[1] > self.cfg.max_len:
            raise UserError(f"input of {ids.shape[1]} tokens is longer than max_len={self.cfg.max_len}")
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(pos)[None]  # (B, L, D)
        if segments is not None:
            x = x + self.seg(segments.long().clamp_max(self.cfg.segments - 1))
        else:
            x = x + self.seg.weight[0]
        x = self.drop(x)
        keep = ids != self.cfg.pad_id  # (B, L)
        attn_mask = keep[:, None, None, :]  # (B, 1, 1, L): attend to real tokens only
        for blk in self.blocks:
            x = blk(x, attn_mask)
        return self.ln_f(x)

    def pool(self, h: Tensor, ids: Tensor) -> Tensor:
        """(B, L, D) token states -> (B, D) by the configured pooling."""
        if self.cfg.pool == "cls":
            return h[:, 0]
        keep = (ids.long() != self.cfg.pad_id).unsqueeze(-1).to(h.dtype)  # (B, L, 1)
        return (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)

    def forward(self, ids: Tensor, segments: Tensor | None = None) -> Tensor:
        """(B, L) ids -> (B, D) sentence representation."""
        return self.pool(self.tokens(ids, segments), ids)
