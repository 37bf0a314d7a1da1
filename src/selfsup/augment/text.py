"""Text views with generated labels, batched on the input's device.

* :func:`mask_tokens` - BERT masking: select ``p`` of the real tokens; of those 80% become
  [MASK], 10% a random token, 10% stay; labels only at selected positions (else -100).
* :func:`pack_segments` - (B, K, S) padded segments -> ``[CLS] s1 [SEP] s2 [SEP] ...`` (B, L)
  with segment ids, padding squeezed out.
* :func:`nsp_pairs` - next-sentence prediction: half the pairs keep their true next segment,
  half take the next segment of another row (never the row's own segments).
* :func:`shuffle_order` - utterance order: half the windows keep their order, half get a
  uniformly drawn non-identity permutation; labels ``ordered`` and the permutation's index.

Special ids follow :mod:`selfsup.data.tokenize`: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
NUM_SPECIAL = 5
IGNORE = -100


def mask_tokens(ids: Tensor, vocab_size: int, prob: float = 0.15, mask_frac: float = 0.8, random_frac: float = 0.1,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """BERT's masked-LM corruption.

    Args:
        ids: (B, L) token ids; ids below :data:`NUM_SPECIAL` (padding, [CLS], [SEP], ...) are never selected.
        vocab_size: random replacements are drawn uniformly from the non-special ids.
        prob: probability that a real token is selected.
        mask_frac: share of the selected tokens replaced by [MASK].
        random_frac: share replaced by a random token (the rest stay unchanged).
        generator: a generator on ``ids.device`` (for reproducible views).

    Returns:
        (inputs, labels): the corrupted (B, L) ids, and (B, L) labels holding the original id
        at selected positions and -100 elsewhere.
    """
    if not 0 <= mask_frac + random_frac <= 1:
        raise ValueError("mask_frac + random_frac must be in [0, 1]")
    real = ids >= NUM_SPECIAL
    u = torch.rand(ids.shape, device=ids.device, generator=generator)
    selected = real & (torch.rand(ids.shape, device=ids.device, generator=generator) < prob)
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE))
    to_mask = selected & (u < mask_frac)
    to_random = selected & (u >= mask_frac) & (u < mask_frac + random_frac)
    rand_ids = torch.randint(NUM_SPECIAL, vocab_size, ids.shape, device=ids.device, generator=generator)
    out = torch.where(to_mask, torch.full_like(ids, MASK_ID), ids)
    out = torch.where(to_random, rand_ids, out)
    return out, labels


def pack_segments(segs: Tensor, max_len: int | None = None, trim: bool = True) -> tuple[Tensor, Tensor]:
    """``[CLS] s_0 [SEP] s_1 [SEP] ... s_{K-1} [SEP]`` with padding inside segments removed.

    Args:
        segs: (B, K, S) right-padded segment ids (no special tokens).
        max_len: output length (default ``1 + K * (S + 1)``); longer sequences are cut and
            end with [SEP].
        trim: without ``max_len``, drop the padding columns after the longest row (saves compute).

    Returns:
        ids (B, L) and segment ids (B, L) (k for the tokens of s_k and its [SEP], 0 for [CLS]
        and padding).
    """
    b, k, s = segs.shape
    full = 1 + k * (s + 1)
    lens = (segs != PAD_ID).sum(-1)  # (B, K)
    seg_with_sep = torch.cat([segs, torch.zeros_like(segs[..., :1])], -1)  # (B, K, S+1)
    sep_pos = lens  # [SEP] goes right after the segment's tokens
    seg_with_sep.scatter_(-1, sep_pos.unsqueeze(-1), SEP_ID)
    valid = torch.arange(s + 1, device=segs.device).view(1, 1, -1) <= lens.unsqueeze(-1)  # (B, K, S+1)
    start = 1 + torch.cumsum(lens + 1, -1) - (lens + 1)  # (B, K) offset of each segment
    dest = start.unsqueeze(-1) + torch.arange(s + 1, device=segs.device).view(1, 1, -1)  # (B, K, S+1)
    dest = torch.where(valid, dest, torch.full_like(dest, full))  # padding -> a spill column
    ids = torch.zeros(b, full + 1, dtype=segs.dtype, device=segs.device)
    ids.scatter_(1, dest.view(b, -1), seg_with_sep.view(b, -1))
    seg_ids = torch.zeros_like(ids)
    kk = torch.arange(k, device=segs.device).view(1, k, 1).expand(b, k, s + 1)
    seg_ids.scatter_(1, dest.view(b, -1), kk.reshape(b, -1).to(ids.dtype))
    ids, seg_ids = ids[:, :full], seg_ids[:, :full]
    ids[:, 0] = CLS_ID
    seg_ids[:, 0] = 0
    if max_len is not None and max_len < full:
        ids, seg_ids = ids[:, :max_len].clone(), seg_ids[:, :max_len].clone()
        cut = ids[:, -1] != PAD_ID
        ids[cut, -1] = SEP_ID
    if max_len is None and trim:
        longest = int((ids != PAD_ID).sum(1).max())
        ids, seg_ids = ids[:, :longest], seg_ids[:, :longest]
    if max_len is not None and max_len > ids.shape[1]:
        pad = max_len - ids.shape[1]
        ids = torch.cat([ids, ids.new_zeros(b, pad)], 1)
        seg_ids = torch.cat([seg_ids, seg_ids.new_zeros(b, pad)], 1)
    return ids, seg_ids


def nsp_pairs(pairs: Tensor, generator: torch.Generator | None = None,
              max_tries: int = 4) -> tuple[Tensor, Tensor, Tensor]:
    """Next-sentence prediction views from true (A, next-of-A) pairs.

    Exactly ``B // 2`` rows (chosen at random) get a "random" B: the true next segment of
    another row of the batch (the batch is a random sample of the corpus). The donor row is
    never the row itself, and its segment must differ in content from the row's own A and B;
    rows where no such donor is found in ``max_tries`` draws keep their true B (labelled 1).

    Args:
        pairs: (B, 2, S) true pairs: [:, 0] sentence A, [:, 1] the sentence that follows A.
        generator: a generator on ``pairs.device``.

    Returns:
        (views (B, 2, S), is_next (B,) long: 1 true next / 0 random, donor (B,) long: the row
        whose B was used; equal to the row's own index when ``is_next`` is 1).
    """
    b = pairs.shape[0]
    dev = pairs.device
    rows = torch.arange(b, device=dev)
    want_random = torch.zeros(b, dtype=torch.bool, device=dev)
    want_random[torch.randperm(b, device=dev, generator=generator)[: b // 2]] = True
    donor = rows.clone()
    open_ = want_random.clone()
    a, nxt = pairs[:, 0], pairs[:, 1]
    for _ in range(max_tries):
        if not open_.any() or b < 2:
            break
        shift = torch.randint(1, b, (b,), device=dev, generator=generator)  # never 0: never the row itself
        cand = (rows + shift) % b
        same = (nxt[cand] == a).all(-1) | (nxt[cand] == nxt).all(-1)
        ok = open_ & ~same
        donor = torch.where(ok, cand, donor)
        open_ = open_ & ~ok
    is_next = (donor == rows).long()
    views = torch.stack([a, nxt[donor]], 1)
    return views, is_next, donor


def permutations(k: int) -> Tensor:
    """(K!, K) every permutation of range(K) in lexicographic order; row 0 is the identity."""
    return torch.tensor(list(itertools.permutations(range(k))), dtype=torch.long)


def shuffle_order(windows: Tensor, p_shuffle: float = 0.5,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Utterance-order views: keep a window's order or shuffle it.

    Args:
        windows: (B, K, S) K consecutive utterances per row (padded ids).
        p_shuffle: probability that a row is shuffled (with a uniformly drawn non-identity
            permutation).
        generator: a generator on ``windows.device``.

    Returns:
        (views (B, K, S) with ``views[i, j] = windows[i, perm[i, j]]``, ordered (B,) long
        1/0, perm_index (B,) long: index of the permutation in :func:`permutations`, 0 = identity).
    """
    b, k, _ = windows.shape
    dev = windows.device
    perms = permutations(k).to(dev)  # (K!, K)
    shuffled = torch.rand(b, device=dev, generator=generator) < p_shuffle
    other = torch.randint(1, len(perms), (b,), device=dev, generator=generator)
    perm_index = torch.where(shuffled, other, torch.zeros_like(other))
    order = perms[perm_index]  # (B, K)
    views = torch.gather(windows, 1, order.unsqueeze(-1).expand_as(windows))
    return views, (perm_index == 0).long(), perm_index
