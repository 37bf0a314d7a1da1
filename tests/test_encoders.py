import pytest
import torch

from selfsup.encoders import build_encoder
from selfsup.errors import UserError


def test_small_cnn_architecture():
    enc = build_encoder("small-cnn", (1, 28, 28))
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [(1, 32, 1), (32, 64, 2), (64, 128, 2), (128, 256, 2)]
    assert all(c.bias is None and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert enc(torch.randn(3, 1, 28, 28)).shape == (3, 256) and enc.out_dim == 256
    # MACs: 28^2*32*9 + 14^2*64*32*9 + 7^2*128*64*9 + 4^2*256*128*9 = 12.15 M -> 24.3 MFLOP
    macs = 28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 7 * 7 * 128 * 64 * 9 + 4 * 4 * 256 * 128 * 9
    assert 2 * macs / 1e6 == pytest.approx(24.3, abs=0.05)


def test_small_cnn_2x2_pools_quadrants():
    enc = build_encoder("small-cnn-2x2", (1, 28, 28)).eval()
    assert enc.out_dim == 1024 and enc(torch.randn(2, 1, 28, 28)).shape == (2, 1024)
    x = torch.randn(2, 1, 28, 28)
    h = enc.features(x)  # (2, 256, 4, 4): each 2x2 cell is the mean of one 2x2 quadrant of the map
    want = torch.stack([h[..., :2, :2].mean((2, 3)), h[..., :2, 2:].mean((2, 3)),
                        h[..., 2:, :2].mean((2, 3)), h[..., 2:, 2:].mean((2, 3))], dim=2).flatten(1)
    torch.testing.assert_close(enc(x), want)
    # same weights as small-cnn: averaging the four cells gives global average pooling
    gap = build_encoder("small-cnn", (1, 28, 28)).eval()
    gap.load_state_dict(enc.state_dict())
    torch.testing.assert_close(enc(x).view(2, 256, 4).mean(2), gap(x))


def test_resnet_and_mlp():
    r = build_encoder("resnet18", (3, 32, 32), 0.25)
    assert r(torch.randn(2, 3, 32, 32)).shape == (2, r.out_dim) and r.out_dim == 128
    m = build_encoder("mlp", (1, 8, 8))
    assert m(torch.randn(4, 1, 8, 8)).shape == (4, 512)


def test_errors():
    with pytest.raises(UserError, match="did you mean 'small-cnn'"):
        build_encoder("small_cnn", (1, 28, 28))
    with pytest.raises(UserError, match="needs images"):
        build_encoder("small-cnn", (10,))
