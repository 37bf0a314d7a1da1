"""Series of unequal lengths, handled by default (NaN padding = the mask): loading, encoders that never
let padding count, every series method and protocol on ragged data, the length= options, and ucr:NAME
downloading only with --download."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from selfsup.data.series import load_series, to_series_array
from selfsup.errors import UserError
from selfsup.functional.padding import series_lengths, split_padding

LENGTHS = (37, 20, 9, 26, 14, 31)


def ragged_series(lengths=LENGTHS, channels: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Series with values >= 1 everywhere (so a zero in a crop can only be padding)."""
    rng = np.random.default_rng(seed)
    return [1.0 + np.abs(rng.normal(size=(channels, n))) for n in lengths]


def padded(seqs: list[np.ndarray], t: int) -> torch.Tensor:
    return torch.from_numpy(to_series_array(seqs, target_length=t))


def write_csv(path, n: int = 40, seed: int = 0) -> list[int]:
    """Two classes (a slow and a fast sine), lengths 24..60; returns the lengths."""
    rng = np.random.default_rng(seed)
    rows, lens = [], []
    for i in range(n):
        length = int(rng.integers(24, 61))
        f = 1.0 if i % 2 else 3.0
        v = np.sin(np.linspace(0, 2 * np.pi * f, length) + rng.uniform(0, 1)) + 0.05 * rng.normal(size=length)
        rows.append(",".join([str(i % 2)] + [f"{a:.5f}" for a in v]))
        lens.append(length)
    path.write_text("\n".join(rows) + "\n")
    return lens


# ----------------------------------------------------------------------------- loading
def test_ragged_input_loads_by_default_with_nan_padding_and_lengths(tmp_path) -> None:
    seqs = ragged_series()
    x = to_series_array(seqs)  # no option: the default is the masked padding
    assert x.shape == (len(LENGTHS), 2, max(LENGTHS))
    assert series_lengths(torch.from_numpy(x)).tolist() == list(LENGTHS)
    for i, n in enumerate(LENGTHS):
        assert np.array_equal(x[i, :, :n], seqs[i].astype(np.float32))  # real steps untouched
        assert np.isnan(x[i, :, n:]).all()  # the padding, in every channel
    # an already NaN-padded array: trailing all-NaN steps are padding, not missing values
    arr = np.full((3, 1, 10), np.nan)
    arr[0, 0, :4], arr[1, 0, :10], arr[2, 0, :7] = 1.0, 2.0, 3.0
    np.savez(tmp_path / "p.npz", x=arr, y=np.array([0, 1, 0]), x_test=arr[:2], y_test=np.array([0, 1]))
    d = load_series(str(tmp_path / "p.npz"))
    assert series_lengths(d.x_train).tolist() == [4, 10, 7]
    # a ragged CSV, and x_test longer than x: both splits padded to one length
    lens = write_csv(tmp_path / "r.csv")
    d = load_series(str(tmp_path / "r.csv"))
    got = sorted(series_lengths(torch.cat([d.x_train, d.x_test])).tolist())
    assert got == sorted(lens) and d.x_train.shape[2] == d.x_test.shape[2] == max(lens)
    np.savez(tmp_path / "t.npz", x=np.ones((4, 1, 5)), y=np.arange(4) % 2,
             x_test=np.stack([np.r_[np.ones(8), [np.nan] * 0], np.r_[np.ones(3), [np.nan] * 5]])[:, None],
             y_test=np.array([0, 1]))
    d = load_series(str(tmp_path / "t.npz"))
    assert d.x_train.shape[2] == d.x_test.shape[2] == 8
    assert series_lengths(d.x_train).tolist() == [5] * 4 and series_lengths(d.x_test).tolist() == [8, 3]


def test_length_options_stay_and_error_is_an_option(tmp_path) -> None:
    seqs = [np.arange(5.0), np.arange(7.0)]
    assert np.isnan(to_series_array(seqs)).sum() == 2  # default: mask (2 padded steps)
    with pytest.raises(UserError) as e:
        to_series_array(seqs, length="error")
    assert "length=pad" in (e.value.hint or "") and "mask" in (e.value.hint or "")
    pad = to_series_array(seqs, length="pad")
    assert pad.shape == (2, 1, 7) and np.allclose(pad[0, 0], [0, 1, 2, 3, 4, 4, 4])
    assert to_series_array(seqs, length="truncate").shape == (2, 1, 5)
    res = to_series_array(seqs, length="resample")
    assert res.shape == (2, 1, 7) and np.allclose(res[0, 0], np.linspace(0, 4, 7))
    for opt in ("pad", "truncate", "resample"):
        assert not np.isnan(to_series_array(seqs, length=opt)).any()
    lens = write_csv(tmp_path / "r.csv")
    for opt, t in (("pad", max(lens)), ("truncate", min(lens)), ("resample", max(lens))):
        d = load_series(str(tmp_path / "r.csv"), length=opt)
        assert d.x_train.shape[2] == t and not torch.isnan(d.x_train).any()
    with pytest.raises(UserError):
        to_series_array(seqs, length="bogus")


def test_bundled_unequal_ucr_set_loads_by_default() -> None:
    pytest.importorskip("sktime")
    from selfsup.data.series import load_ucr

    d = load_ucr("JapaneseVowels")
    lens = torch.cat([series_lengths(d.x_train), series_lengths(d.x_test)])
    assert d.x_train.shape[1:] == (12, 29) and int(lens.min()) == 7 and int(lens.max()) == 29
    assert d.meta["lengths"] == [7, 29]


# ----------------------------------------------------------------------------- encoders
def _encoders():
    from selfsup.encoders.conv1d import DilatedConv1d, StridedConv1d

    torch.manual_seed(0)
    return [StridedConv1d(2, 8, (2, 2)), StridedConv1d(2, 8, (3,), kernel=4), StridedConv1d(2, 8, (1,)),
            DilatedConv1d(2, 8, 16, depth=3)]


@pytest.mark.parametrize("which", range(4))
def test_encoder_output_is_the_same_whatever_padding_is_appended(which: int) -> None:
    enc = _encoders()[which]
    seqs = ragged_series()
    alone = [torch.from_numpy(s.astype(np.float32))[None] for s in seqs]  # each series unpadded, batch of one
    enc.eval()
    ref = torch.cat([enc(a) for a in alone])  # (B, D)
    for t in (max(LENGTHS), max(LENGTHS) + 1, 100):
        out = enc(padded(seqs, t))
        assert torch.allclose(out, ref, atol=1e-5), (t, (out - ref).abs().max())
        seq, valid = enc.forward_masked(padded(seqs, t))
        for i, a in enumerate(alone):
            z = enc.forward_seq(a)[0]  # (T'_i, D) of the unpadded series
            assert int(valid[i].sum()) == len(z)
            assert torch.allclose(seq[i, : len(z)], z, atol=1e-5)
            assert not valid[i, len(z):].any() and (seq[i, len(z):] == 0).all()
    # training mode: batch-norm statistics use the real steps only, so the batch's output is padding-free too
    enc.train()
    a, b = enc(padded(seqs, max(LENGTHS))), enc(padded(seqs, 90))
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.isfinite(a).all()


def test_masked_batchnorm_running_stats_count_real_steps_only() -> None:
    from selfsup.encoders.conv1d import MaskedBatchNorm1d

    bn = MaskedBatchNorm1d(1, momentum=1.0)
    x = torch.tensor([[[1.0, 3.0, 100.0, 100.0]], [[5.0, 7.0, 9.0, 11.0]]])
    valid = torch.tensor([[True, True, False, False], [True, True, True, True]])
    bn.train()
    bn(x, valid)
    real = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0, 11.0])
    assert torch.allclose(bn.running_mean, real.mean()[None])
    assert torch.allclose(bn.running_var, real.var()[None])


# ----------------------------------------------------------------------------- methods
SERIES_METHODS = [("cpc", {}), ("ts2vec", {}), ("temporal-contrast", {}),
                  ("split-brain", {"split": "channels:0/1"}), ("split-brain", {"split": "halves"}),
                  ("split-brain", {"split": "halves", "target": "regression"})]


def _model(method: str, cfg: dict, shape: tuple[int, int]):
    from selfsup.methods import get_method
    from selfsup.pipelines.series import build_series_method

    torch.manual_seed(0)
    return build_series_method(method, get_method(method), dict(cfg), {"width": 8, "seed": 0}, shape)


@pytest.mark.parametrize("method,cfg", SERIES_METHODS)
def test_every_series_method_steps_on_ragged_data(method: str, cfg: dict) -> None:
    seqs = ragged_series()
    x = padded(seqs, max(LENGTHS))
    model = _model(method, cfg, tuple(x.shape[1:]))
    out = model.training_step((x,))
    assert math.isfinite(float(out.loss.detach()))
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    z = model.embed(x)
    assert z.shape[0] == len(seqs) and torch.isfinite(z).all()


@pytest.mark.parametrize("method", ["cpc", "ts2vec", "temporal-contrast"])
def test_method_step_and_embedding_do_not_depend_on_the_padding(method: str) -> None:
    """Same batch, same seed, padded to different lengths: the same loss and the same embedding."""
    seqs = ragged_series()
    losses, embs = [], []
    for t in (max(LENGTHS), 63):  # one encoder for both (CPC's strides depend on the padded length: 32..63)
        model = _model(method, {}, (2, t))
        model.train()
        losses.append(float(model.training_step((padded(seqs, t),)).loss.detach()))
        model.eval()
        embs.append(model.embed(padded(seqs, t)))
    assert math.isclose(losses[0], losses[1], rel_tol=1e-5), losses
    assert torch.allclose(embs[0], embs[1], atol=1e-5)


def test_split_brain_halves_are_the_halves_of_each_series_real_steps() -> None:
    seqs = ragged_series(channels=1)
    x = padded(seqs, max(LENGTHS))
    model = _model("split-brain", {"split": "halves"}, tuple(x.shape[1:])).eval()
    seen = {}
    for p, net in enumerate(model.encoder.nets):
        net.register_forward_pre_hook(lambda m, args, p=p: seen.__setitem__(p, args[0].clone()))
    assert torch.isfinite(model.embed(x)).all()
    for i, n in enumerate(LENGTHS):  # net A sees the first half of the real steps, net B the second, NaN = padding
        a, b = seen[0][i, 0], seen[1][i, 0]
        assert (a[n // 2: n] == 0).all() and (a[: n // 2] != 0).all() and torch.isnan(a[n:]).all()
        assert (b[: n // 2] == 0).all() and (b[n // 2: n] != 0).all() and torch.isnan(b[n:]).all()
    # targets: part B of each series starts at index 0 of its part, NaN past its own half
    u = model.encoder.units(x)
    tb = model.encoder.spec.take(u, 1)
    for i, n in enumerate(LENGTHS):
        assert torch.equal(tb[i, :, : n - n // 2], u[i, :, n // 2: n]) and torch.isnan(tb[i, :, n - n // 2:]).all()


class _Recorder(torch.nn.Module):
    """Wraps an encoder and keeps what it was given."""

    def __init__(self, enc: torch.nn.Module) -> None:
        super().__init__()
        self.enc, self.out_dim, self.inputs = enc, enc.out_dim, []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.enc(x)

    def forward_seq(self, x, mask=None):
        self.inputs.append(x.detach().clone())
        return self.enc.forward_seq(x, mask)


def test_ts2vec_crops_stay_inside_real_steps() -> None:
    from selfsup.encoders.conv1d import DilatedConv1d
    from selfsup.methods.ts2vec import TS2Vec, TS2VecConfig

    seqs = ragged_series()
    rec = _Recorder(DilatedConv1d(2, 8, 8, depth=2))
    model = TS2Vec(rec, TS2VecConfig(seed=3))
    for _ in range(20):
        model.training_step((padded(seqs, 50),))
    assert len(rec.inputs) == 40
    for v in rec.inputs:  # real values are >= 1; a zero (or NaN) would be padding inside a crop
        assert torch.isfinite(v).all() and (v >= 1).all()
        assert v.shape[-1] <= min(LENGTHS)


def test_temporal_contrast_windows_stay_inside_each_series() -> None:
    from selfsup.encoders.conv1d import DilatedConv1d
    from selfsup.methods.temporal_contrast import (
        TemporalContrast,
        TemporalContrastConfig,
    )

    seqs = ragged_series()
    rec = _Recorder(DilatedConv1d(2, 8, 8, depth=2))
    cfg = TemporalContrastConfig(jitter=0.0, scaling=0.0, window=0.5)
    model = TemporalContrast(rec, cfg)
    for _ in range(10):
        model.training_step((padded(seqs, 50),))
    for v in rec.inputs:  # (3B, C, W): anchor, positive, far windows
        lens = series_lengths(v)
        want = torch.tensor([max(2, round(0.5 * n)) for n in LENGTHS] * 3)
        assert torch.equal(lens, want)  # each window is half of its own series
        for i in range(len(v)):
            assert (v[i, :, : lens[i]] >= 1).all() and torch.isnan(v[i, :, lens[i]:]).all()


def test_cpc_loss_with_padding_scores_only_real_pairs() -> None:
    from selfsup.functional.cpc import cpc_loss

    torch.manual_seed(0)
    b, t, d = 3, 6, 4
    z, preds = torch.randn(b, t, d), [torch.randn(b, t, d) for _ in range(2)]
    lengths = torch.tensor([6, 4, 2])
    valid = torch.arange(t)[None] < lengths[:, None]
    got = cpc_loss(preds, z, valid)
    per_k = []
    for k, p in enumerate(preds, 1):  # slow loop: queries (b, s) with s + k < L_b; keys all real z_{s+k}
        pairs = [(bi, s) for bi in range(b) for s in range(t - k) if s + k < lengths[bi]]
        rows = []
        for bi, s in pairs:
            scores = torch.stack([p[bi, s] @ z[bj, sj + k] for bj, sj in pairs])
            rows.append(torch.logsumexp(scores, 0) - scores[pairs.index((bi, s))])
        per_k.append(torch.stack(rows).mean())
    assert torch.allclose(got, torch.stack(per_k).mean(), atol=1e-5)
    # padded steps are no negatives: changing them does not change the loss
    z2 = z.clone()
    z2[~valid] = 100.0
    assert torch.allclose(cpc_loss(preds, z2, valid), got)


def test_augmentations_with_lengths_stay_inside_real_steps() -> None:
    from selfsup.augment.sequence import (
        jitter,
        permute_segments,
        random_crop,
        scaling,
        time_mask,
    )

    seqs = ragged_series()
    x = padded(seqs, 40)
    lengths = series_lengths(x)
    g = torch.Generator().manual_seed(0)
    for out in (jitter(x, 0.1, g), scaling(x, 0.1, g)):
        assert torch.equal(torch.isnan(out), torch.isnan(x))  # padding stays padding, real steps stay real
    xz, _ = split_padding(x)
    crop, start = random_crop(xz, 8, g, lengths=lengths)
    assert (start + 8 <= lengths).all() and (crop >= 1).all()
    m = time_mask(xz, 0.3, g, lengths=lengths)
    zeroed = (m == 0).all(1) & (xz != 0).all(1)  # (B, T) steps the mask zeroed
    assert torch.equal(zeroed.sum(1), torch.round(0.3 * lengths.double()).long())
    assert all(int(zeroed[i].nonzero().max()) < lengths[i] for i in range(len(x)))
    p = permute_segments(x, 3, g, lengths=lengths)
    assert torch.equal(torch.isnan(p), torch.isnan(x))
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(p[i, :, :n].sort(1).values, x[i, :, :n].sort(1).values)


# ----------------------------------------------------------------------------- protocols
def test_protocols_and_raw_baselines_on_ragged_features() -> None:
    from selfsup.eval.series import flatten_series, raw_series, series_protocols

    seqs = ragged_series(lengths=[5 + (i % 7) * 3 for i in range(40)], channels=1)
    x = torch.from_numpy(to_series_array(seqs))
    y = torch.tensor([i % 2 for i in range(40)])
    # raw: each series' real steps resampled to the padded length, or its last value repeated
    r = raw_series(x)
    assert not torch.isnan(r).any() and r.shape == x.shape
    n0 = int(series_lengths(x[:1]))
    assert torch.allclose(r[0, 0, [0, -1]], x[0, 0, [0, n0 - 1]])
    p = raw_series(x, "pad")
    assert torch.equal(p[0, 0, :n0], x[0, 0, :n0]) and (p[0, 0, n0:] == x[0, 0, n0 - 1]).all()
    feats = flatten_series(x)
    res = series_protocols(feats[:30], y[:30], feats[30:], y[30:], ("1nn", "svm", "linear"), ("100%",), (0,), 2)
    for prot in ("1nn", "svm", "linear"):
        assert 0.0 <= res[prot]["100%"]["mean"] <= 1.0 and math.isfinite(res[prot]["100%"]["mean"])


def test_pretrain_and_evaluate_on_ragged_series_through_the_cli(tmp_path, capsys) -> None:
    pytest.importorskip("sklearn")
    from selfsup.cli.main import main

    write_csv(tmp_path / "r.csv", n=60)
    run = tmp_path / "run"
    rc = main(["pretrain", "ts2vec", "--data", f"series:{tmp_path / 'r.csv'}", "--out", str(run),
               "--epochs", "3", "--set", "width=8"])
    assert rc == 0
    assert "unequal lengths (24..60" in capsys.readouterr().out
    meta = json.loads((run / "run.json").read_text())
    assert meta["train"]["length"] == "mask" and meta["input_shape"] == [1, 60]
    assert main(["evaluate", str(run), "--protocols", "svm,linear", "--labels", "100%"]) == 0
    res = json.loads((run / "results.json").read_text())
    for prot in ("svm", "linear"):
        assert math.isfinite(res["protocols"][prot]["100%"]["mean"])
    assert res["protocols"]["svm"]["100%"]["mean"] > 0.8  # slow vs fast sine: separable once padding is masked
    assert math.isfinite(res["baselines"]["raw"]["1nn"]["100%"]["mean"])
    assert res["unequal_lengths"]["range"] == [24, 60] and "resampled" in res["unequal_lengths"]["raw_baseline"]
    # the old choices stay: --set length=resample trains on equal-length (interpolated) series
    run2 = tmp_path / "run2"
    assert main(["pretrain", "cpc", "--data", f"series:{tmp_path / 'r.csv'}", "--out", str(run2),
                 "--epochs", "1", "--set", "width=8", "--set", "length=resample"]) == 0
    assert json.loads((run2 / "run.json").read_text())["train"]["length"] == "resample"


# ----------------------------------------------------------------------------- ucr:NAME and --download
@pytest.fixture
def fake_sktime_loader(monkeypatch):
    """sktime's loader replaced: records the names asked for, and 'downloads' a tiny set."""
    pytest.importorskip("sktime")
    import pandas as pd
    import sktime.datasets

    calls = []

    def fake(name, split=None, return_X_y=True, return_type=None, **_):
        calls.append(name)
        x = pd.DataFrame({"dim_0": [pd.Series(np.arange(n, dtype=float)) for n in (5, 8, 6, 7)]})
        return x, np.array(["a", "b", "a", "b"])

    monkeypatch.setattr(sktime.datasets, "load_UCR_UEA_dataset", fake)
    return calls


def test_not_bundled_ucr_set_needs_download(fake_sktime_loader, tmp_path, capsys) -> None:
    from selfsup.cli.main import main
    from selfsup.data.series import load_ucr, ucr_bundled_names

    assert "GunPoint" in ucr_bundled_names() and "JapaneseVowels" in ucr_bundled_names()
    with pytest.raises(UserError) as e:
        load_ucr("NotASktimeBundledSet")
    assert "--download" in (e.value.hint or "") and "GunPoint" in (e.value.hint or "")
    assert fake_sktime_loader == []  # sktime was never asked (it would have downloaded)
    with pytest.raises(UserError) as e:
        load_ucr("gunpoint")
    assert "GunPoint" in e.value.message  # "did you mean"
    # through the CLI: exit 2 with the message, nothing fetched
    rc = main(["pretrain", "cpc", "--data", "ucr:NotASktimeBundledSet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "not bundled" in err and "--download" in err and fake_sktime_loader == []
    # with --download, sktime's (here: fake) loader is asked for the set
    d = load_ucr("NotASktimeBundledSet", download_ok=True)
    assert fake_sktime_loader == ["NotASktimeBundledSet"] * 2 and series_lengths(d.x_train).tolist() == [5, 8, 6, 7]
    rc = main(["pretrain", "cpc", "--data", "ucr:NotASktimeBundledSet", "--out", str(tmp_path / "r"), "--download",
               "--epochs", "1", "--set", "width=8", "--batch-size", "2"])
    assert rc == 0 and fake_sktime_loader[-1] == "NotASktimeBundledSet"
