"""Split-brain / cross-channel prediction: colour conversion, quantisation, splits, method."""

import json

import pytest
import torch

from selfsup.encoders import build_encoder
from selfsup.encoders.split import SplitEncoder, parse_split
from selfsup.errors import UserError
from selfsup.functional.color import (
    lab_to_rgb,
    quantize_joint,
    quantize_uniform,
    rgb_to_lab,
)
from selfsup.methods import DataInfo, get_method
from selfsup.methods.split_brain import SplitBrainConfig, build_split_brain

# sRGB primaries -> CIE Lab (D65), reference values of the CIE formulas (e.g. Bruce Lindbloom's calculator)
KNOWN_LAB = [
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),
    ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),
    ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
    ((0.5, 0.5, 0.5), (53.39, 0.0, 0.0)),
]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spinning makes 2 threads ~10x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_rgb_to_lab_known_colours_and_round_trip():
    rgb = torch.tensor([c for c, _ in KNOWN_LAB]).view(-1, 3, 1, 1)
    lab = rgb_to_lab(rgb).view(-1, 3)
    want = torch.tensor([v for _, v in KNOWN_LAB])
    assert torch.allclose(lab, want, atol=0.02), (lab - want).abs().max()
    x = torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(lab_to_rgb(rgb_to_lab(x)), x, atol=1e-4)


def test_quantisation_exact():
    x = torch.tensor([0.0, 0.0624, 0.0625, 0.5, 0.999, 1.0, -0.1, 1.2])
    assert quantize_uniform(x, 16).tolist() == [0, 0, 1, 8, 15, 15, 0, 15]
    ab = torch.tensor([0.3, 0.95]).view(1, 2, 1, 1)
    assert quantize_joint(ab, 10).flatten().tolist() == [3 * 10 + 9]


def test_parse_split_errors_in_user_words():
    with pytest.raises(UserError, match="RGB"):
        parse_split("lab", (1, 28, 28))
    with pytest.raises(UserError, match="share"):
        parse_split("channels:0,1/1,2", (3, 10))
    with pytest.raises(UserError, match="channel"):
        parse_split("channels:0,1,2/3,9", (6, 100))
    with pytest.raises(UserError, match="unknown split"):
        parse_split("quarters", (1, 8, 8))
    assert parse_split("channels:0,1,2/3,4,5", (6, 100)).groups == ((0, 1, 2), (3, 4, 5))


def test_channel_and_halves_split_exact():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)  # (B, C, T)
    spec = parse_split("channels:0,2/1", (3, 4))
    assert torch.equal(spec.take(x, 0), x[:, [0, 2]])
    assert torch.equal(spec.take(x, 1), x[:, [1]])
    m = spec.masks((3, 4))
    assert m[0, :, 0].tolist() == [1, 0, 1] and m[1, :, 0].tolist() == [0, 1, 0]
    img = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    h = parse_split("halves", (1, 4, 4))
    assert h.take(img, 0).flatten().tolist() == [0, 1, 4, 5, 8, 9, 12, 13]
    assert h.take(img, 1).flatten().tolist() == [2, 3, 6, 7, 10, 11, 14, 15]


def test_lab_units_of_known_colours():
    enc = SplitEncoder(build_encoder("mlp", (3, 1, 1), 8), "lab", (3, 1, 1), (0.0,) * 3, (1.0,) * 3)
    u = enc.units(torch.tensor([[1.0, 0.0, 0.0]]).view(1, 3, 1, 1)).flatten()  # red, mean 0 / std 1 inputs
    assert torch.allclose(u, torch.tensor([53.24 / 100, (80.09 + 110) / 220, (67.20 + 110) / 220]), atol=1e-3)


def test_targets_are_the_quantised_other_part():
    info = DataInfo((1, 2, 4), (0.0,), (1.0,))
    cfg = SplitBrainConfig(split="halves", bins=4, target_stride=1)
    m = build_split_brain(cfg, build_encoder("mlp", (1, 2, 4), 16), info, seed=0)
    x = torch.tensor([[0.0, 0.3, 0.6, 0.9], [0.1, 0.26, 0.5, 0.76]]).view(1, 1, 2, 4)
    u = m.encoder.units(x)  # std 1, mean 0: units are the input
    assert torch.allclose(u, x)
    assert m.quantize(m.part_target(u, 1), 1).flatten().tolist() == [2, 3, 2, 3]  # right half
    assert m.quantize(m.part_target(u, 0), 0).flatten().tolist() == [0, 1, 0, 1]  # left half
    assert m.target_shapes == [(1, 2, 2), (1, 2, 2)]


def test_each_subnetwork_sees_only_its_part():
    info = DataInfo((1, 8, 8), (0.5,), (0.25,))
    m = build_split_brain(SplitBrainConfig(split="halves"), build_encoder("small-cnn", (1, 8, 8), 8), info, seed=0)
    m.eval()
    x = torch.rand(4, 1, 8, 8)
    y = x.clone()
    y[..., 4:] = torch.rand(4, 1, 8, 4)  # change only the right half
    _, fx = m.encoder.forward_parts(x)
    _, fy = m.encoder.forward_parts(y)
    assert torch.allclose(fx[0], fy[0], atol=1e-6)  # part A (left) features unchanged
    assert not torch.allclose(fx[1], fy[1], atol=1e-4)


def test_image_training_lowers_loss_and_registry_rebuilds_encoder():
    from selfsup.data import load_dataset

    x = load_dataset("digits").x_train[:128]
    spec = get_method("split-brain")
    torch.manual_seed(0)
    enc = build_encoder("small-cnn", (1, 8, 8), 8)
    m = spec.build(SplitBrainConfig(split="halves", bins=8), enc, DataInfo((1, 8, 8), (0.3,), (0.37,)), seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for i in range(30):
        out = m.training_step((x[(i % 4) * 32:(i % 4 + 1) * 32],))
        assert torch.isfinite(out.loss)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert sum(losses[-4:]) / 4 < 0.85 * sum(losses[:4]) / 4
    assert m.encoder.registry_name == "split:small-cnn:halves"
    rebuilt = build_encoder(m.encoder.registry_name, (1, 8, 8), 8)
    rebuilt.load_state_dict(m.encoder.state_dict())
    m.eval(), rebuilt.eval()
    xn = m.normalize(x[:8])
    assert torch.allclose(rebuilt(xn), m.encoder(xn), atol=1e-5)
    assert m.embed(x[:8]).shape == (8, 128)


@pytest.mark.parametrize("target", ["classification", "regression"])
def test_lab_step_on_rgb(target):
    info = DataInfo((3, 8, 8), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    m = build_split_brain(SplitBrainConfig(split="lab", target=target, target_stride=2),
                          build_encoder("small-cnn", (3, 8, 8), 8), info, seed=0)
    if target == "classification":
        assert m.classes == [16, 22 * 22]
    out = m.training_step((torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8),))
    assert torch.isfinite(out.loss)
    out.loss.backward()


def test_series_split_through_the_series_runner():
    from test_series_core import own_loop

    from selfsup.pipelines.series import build_series_method

    spec = get_method("split-brain")
    m = build_series_method("split-brain", spec, {"split": "channels:0,1,2/3,4,5"}, {"width": 8, "seed": 0}, (6, 20))
    x = torch.randn(16, 6, 20)
    losses = own_loop(m, x, epochs=2, batch_size=8)
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    z = m.embed(x)
    assert z.shape == (16, m.encoder.out_dim)
    x2 = x.clone()
    x2[:, 3:] = torch.randn(16, 3, 20)  # gyroscope changes: accelerometer half of the feature does not
    d = m.encoder.part_dims[0]
    assert torch.allclose(m.embed(x2)[:, :d], z[:, :d], atol=1e-5)


def test_series_split_brain_from_the_command_line(tmp_path):
    """The README's command: split-brain on a UCR set (sktime's bundled BasicMotions) trains through the
    series pipeline and evaluates (the engine once refused it: "needs images; ... holds vectors")."""
    pytest.importorskip("sktime")
    from selfsup.cli.main import main

    out = tmp_path / "sb"
    assert main(["pretrain", "split-brain", "--data", "ucr:BasicMotions", "--set", "split=channels:0,1,2/3,4,5",
                 "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    assert main(["evaluate", str(out), "--baselines", "none", "--labels", "100%"]) == 0
    assert "svm" in json.loads((out / "results.json").read_text())["protocols"]
