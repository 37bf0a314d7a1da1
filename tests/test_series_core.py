"""Time series: CPC logits, InfoNCE closed form, sequence augmentations, data errors, one method step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.augment.sequence import (
    jitter,
    permute_segments,
    random_crop,
    scaling,
    time_mask,
)
from selfsup.data.series import load_series, to_series_array
from selfsup.errors import UserError
from selfsup.functional.cpc import cpc_logits, cpc_loss
from selfsup.functional.info_nce import info_nce


@pytest.mark.parametrize("k", [1, 2, 5])
def test_cpc_logits_positive_index_for_every_t_k(k: int) -> None:
    torch.manual_seed(0)
    b, t, d = 3, 7, 4
    pred, z = torch.randn(b, t, d), torch.randn(b, t, d)
    logits, pos = cpc_logits(pred, z, k)
    n = b * (t - k)
    assert logits.shape == (n, n) and pos.shape == (n,)
    for bi in range(b):
        for ti in range(t - k):
            row = bi * (t - k) + ti
            # the positive column scores p_{t,k} of sequence b against z_{t+k} of the same sequence
            assert torch.allclose(logits[row, pos[row]], pred[bi, ti] @ z[bi, ti + k], atol=1e-5)
            # every column is some z_{s+k} of some sequence: the row holds all of them
            expect = pred[bi, ti] @ z[:, k:].reshape(-1, d).t()
            assert torch.allclose(logits[row], expect, atol=1e-5)


def test_cpc_loss_matches_loop_and_is_low_for_perfect_predictions() -> None:
    torch.manual_seed(1)
    z = F.normalize(torch.randn(2, 6, 8), dim=-1) * 10
    # perfect predictor for step k: p_{t,k} = z_{t+k}
    preds = [torch.cat([z[:, k:], torch.zeros(2, k, 8)], dim=1) for k in (1, 2)]
    good = cpc_loss(preds, z)
    bad = cpc_loss([torch.randn(2, 6, 8) for _ in range(2)], z)
    assert good < 0.1 < bad
    # slow loop from the equation
    total = []
    for k, p in enumerate(preds, 1):
        rows = []
        for bi in range(2):
            for ti in range(6 - k):
                scores = torch.stack([p[bj * 0 + bi, ti] @ z[bj, sj + k] for bj in range(2) for sj in range(6 - k)])
                rows.append(-(scores[bi * (6 - k) + ti] - torch.logsumexp(scores, 0)))
        total.append(torch.stack(rows).mean())
    assert torch.allclose(good, torch.stack(total).mean(), atol=1e-4)


def test_info_nce_closed_form_on_hand_built_encodings() -> None:
    # query = positive (cosine 1), K orthogonal negatives (cosine 0): L = -log(e^{1/t} / (e^{1/t} + K))
    t, k = 0.5, 3
    q = torch.tensor([[1.0, 0, 0, 0]])
    negs = torch.tensor([[0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    loss = info_nce(q, q.clone(), negs, temperature=t)
    expect = -math.log(math.exp(1 / t) / (math.exp(1 / t) + k))
    assert abs(float(loss) - expect) < 1e-5


AUGS = [
    lambda x, g: jitter(x, 0.1, g),
    lambda x, g: scaling(x, 0.2, g),
    lambda x, g: time_mask(x, 0.3, g),
    lambda x, g: permute_segments(x, 4, g),
]


@pytest.mark.parametrize("aug", AUGS)
def test_sequence_augment_shapes_seeded_and_per_sample(aug) -> None:
    x = torch.randn(5, 2, 33)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # per-sample independence: identical inputs get different outputs
    same = x[:1].expand(5, 2, 33).clone()
    out = aug(same, torch.Generator().manual_seed(0))
    assert not all(torch.equal(out[0], out[i]) for i in range(1, 5))


def test_crop_and_permutation_content() -> None:
    x = torch.arange(40.0).reshape(2, 1, 20)
    crop, start = random_crop(x, 5, torch.Generator().manual_seed(0))
    assert crop.shape == (2, 1, 5)
    for i in range(2):
        assert torch.equal(crop[i, 0], x[i, 0, start[i]:start[i] + 5])
    p = permute_segments(x, 4, torch.Generator().manual_seed(1))
    assert torch.equal(p.sort(dim=2).values, x)  # a permutation of the same values
    m = time_mask(torch.ones(3, 1, 10), 0.3, torch.Generator().manual_seed(0))
    assert (m == 0).sum(dim=2).eq(3).all()


def test_ragged_and_nan_inputs_error_with_options() -> None:
    ragged = [np.ones(5), np.ones(7)]
    with pytest.raises(UserError) as e:
        to_series_array(ragged, length="error")
    assert "length=pad" in (e.value.hint or "")
    masked = to_series_array(ragged)  # the default: NaN padding (the mask)
    assert masked.shape == (2, 1, 7) and np.isnan(masked[0, 0, 5:]).all() and not np.isnan(masked[1]).any()
    assert to_series_array(ragged, length="pad").shape == (2, 1, 7)
    assert to_series_array(ragged, length="truncate").shape == (2, 1, 5)
    assert to_series_array(ragged, length="resample").shape == (2, 1, 7)
    nan = np.array([[0.0, np.nan, 2.0, 3.0]])
    with pytest.raises(UserError) as e:
        to_series_array(nan)
    assert "nan=interpolate" in (e.value.hint or "")
    assert np.allclose(to_series_array(nan, nan="interpolate")[0, 0], [0, 1, 2, 3])


def test_series_npz_and_csv(tmp_path) -> None:
    x = np.random.default_rng(0).normal(size=(10, 2, 16)).astype(np.float32)
    y = np.arange(10) % 2
    np.savez(tmp_path / "s.npz", x=x, y=y)
    d = load_series(str(tmp_path / "s.npz"))
    assert d.modality == "series" and d.x_train.shape[1:] == (2, 16) and len(d.x_train) + len(d.x_test) == 10
    (tmp_path / "s.csv").write_text("1,0.5,0.6,0.7\n2,0.1,0.2\n")
    with pytest.raises(UserError):
        load_series(str(tmp_path / "s.csv"), length="error")
    d = load_series(str(tmp_path / "s.csv"), length="pad")
    assert d.x_train.shape[1:] == (1, 3)


def own_loop(model: torch.nn.Module, x: torch.Tensor, epochs: int, batch_size: int, lr: float = 1e-3) -> list[float]:
    """A user's own loop over a method (the method interface needs no engine): per-epoch mean losses."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        ep = []
        for i in range(0, len(x) - batch_size + 1, batch_size):
            out = model.training_step((x[perm[i:i + batch_size]],))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            ep.append(float(out.loss.detach()))
        losses.append(sum(ep) / len(ep))
    return losses


@pytest.mark.parametrize("method", ["cpc", "temporal-contrast", "ts2vec"])
def test_series_method_step_finite_and_short_run_lowers_loss(method: str) -> None:
    from selfsup.methods import get_method
    from selfsup.pipelines.series import build_series_method

    torch.manual_seed(0)
    t = torch.linspace(0, 6.28, 48)
    x = torch.stack([torch.sin(t * (1 + i % 3) + i) for i in range(32)])[:, None]  # (32, 1, 48)
    model = build_series_method(method, get_method(method), {}, {"width": 16, "seed": 0}, (1, 48))
    losses = own_loop(model, x, epochs=15, batch_size=16)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert model.embed(x[:4]).shape[0] == 4


def test_hierarchical_contrast_matches_loop_and_prefers_aligned_views() -> None:
    from selfsup.functional.hierarchical import (
        hierarchical_contrast,
        instance_contrast,
        temporal_contrast,
    )

    torch.manual_seed(0)
    z1 = torch.randn(3, 4, 5)
    z2 = torch.randn(3, 4, 5)
    # slow loop for the instance loss at t = every step
    rows = []
    for t in range(4):
        z = torch.cat([z1[:, t], z2[:, t]])  # (2B, D)
        for i in range(6):
            scores = torch.stack([z[i] @ z[j] for j in range(6) if j != i])
            others = [j for j in range(6) if j != i]
            pos = others.index((i + 3) % 6)
            rows.append(-(scores[pos] - torch.logsumexp(scores, 0)))
    assert torch.allclose(instance_contrast(z1, z2), torch.stack(rows).mean(), atol=1e-5)
    aligned = hierarchical_contrast(z1 * 5, z1 * 5 + 0.01 * torch.randn_like(z1))
    random = hierarchical_contrast(z1 * 5, torch.randn_like(z1) * 5)
    assert aligned < random
    assert temporal_contrast(z1[:, :1], z2[:, :1]) == 0  # one timestamp: nothing to contrast
