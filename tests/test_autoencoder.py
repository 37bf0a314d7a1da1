"""Autoencoders (plain, denoising, masked): corruptions, decoders, learning to reconstruct."""

import pytest
import torch

from selfsup.augment.masking import gaussian_noise, patch_mask, pixel_mask
from selfsup.encoders import build_encoder
from selfsup.errors import UserError
from selfsup.methods import DataInfo, get_method
from selfsup.methods.autoencoder import (
    AutoencoderConfig,
    DenoisingAEConfig,
    MaskedAEConfig,
)
from selfsup.modules.decoders import ConvDecoder, MLPDecoder, build_decoder


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spinning makes 2 threads ~10x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_decoders_give_the_requested_shapes():
    assert ConvDecoder(16, (1, 28, 14), 4)(torch.randn(2, 16)).shape == (2, 1, 28, 14)
    assert ConvDecoder(16, (3, 7, 7), 4)(torch.randn(2, 16)).shape == (2, 3, 7, 7)
    assert MLPDecoder(16, (3, 20), 32)(torch.randn(2, 16)).shape == (2, 3, 20)
    assert isinstance(build_decoder(16, (5,)), MLPDecoder)


def test_patch_mask_counts_and_independence():
    x = torch.ones(6, 2, 8, 8)
    g = torch.Generator().manual_seed(0)
    xm, mask = patch_mask(x, 4, 0.5, g)  # 4 patches of 4x4, 2 masked per image
    assert mask.shape == (6, 1, 8, 8)
    assert mask.sum(dim=(1, 2, 3)).tolist() == [32.0] * 6
    assert torch.equal(xm, x * (1 - mask))
    patches = mask[:, 0, ::4, ::4].reshape(6, -1)  # which patches, per image
    assert len({tuple(p.tolist()) for p in patches}) > 1  # not the same pattern for every image
    # partial patches at the border: 7x7 with patch 4 -> a 2x2 grid, ratio 0.25 -> one patch masked
    _, m2 = patch_mask(torch.ones(3, 1, 7, 7), 4, 0.25, g)
    assert all(v in (16.0, 12.0, 9.0) for v in m2.sum(dim=(1, 2, 3)).tolist())


def test_pixel_mask_and_noise_are_seeded():
    x = torch.ones(64, 1, 16, 16)
    a, ma = pixel_mask(x, 0.3, torch.Generator().manual_seed(1))
    b, mb = pixel_mask(x, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and abs(float(ma.mean()) - 0.3) < 0.02
    v, mv = pixel_mask(torch.ones(4, 10), 0.5, torch.Generator().manual_seed(0))
    assert mv.shape == (4, 10)  # vectors: every feature on its own
    n = gaussian_noise(torch.zeros(10000), 0.5, torch.Generator().manual_seed(0))
    assert abs(float(n.std()) - 0.5) < 0.02


def _fit(name, cfg, x, steps, lr=3e-3, enc="mlp", width=256):
    torch.manual_seed(0)
    info = DataInfo(tuple(x.shape[1:]), (0.3,), (0.37,))
    m = get_method(name).build(cfg, build_encoder(enc, info.input_shape, width), info, seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = m.training_step((x,))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    return m, losses


def test_autoencoder_with_capacity_reconstructs_a_tiny_set_nearly_exactly():
    from selfsup.data import load_dataset

    x = load_dataset("digits").x_train[:16]  # (16, 1, 8, 8) uint8
    m, losses = _fit("autoencoder", AutoencoderConfig(decoder_width=16, channels_last=False), x, 150, lr=5e-3)
    m.eval()
    err = float(((m.reconstruct(x) - m.normalize(x)) ** 2).mean())
    assert losses[0] > 0.5  # starts far (normalised units)
    assert err < 0.02, err  # ... and ends near zero on the training images (eval-mode BN)


def test_denoising_and_masked_ae_learn_and_corrupt_only_inputs():
    from selfsup.data import load_dataset

    x = load_dataset("digits").x_train[:64]
    for name, cfg in (("denoising-ae", DenoisingAEConfig(noise="gaussian", noise_std=0.3, channels_last=False)),
                      ("denoising-ae", DenoisingAEConfig(noise="mask", mask_p=0.3, channels_last=False)),
                      ("masked-ae", MaskedAEConfig(patch_size=2, mask_ratio=0.5, channels_last=False))):
        m, losses = _fit(name, cfg, x, 40, enc="small-cnn", width=8)
        assert all(torch.isfinite(torch.tensor(losses)))
        assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, (name, losses[:5], losses[-5:])
        assert m.embed(x[:4]).shape == (4, m.encoder.out_dim)


def test_masked_loss_ignores_visible_patches():
    """With loss_on=masked, a decoder that is exact on masked pixels and wrong elsewhere has zero loss."""
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    info = DataInfo((1, 8, 8), (0.3,), (0.37,))
    m = get_method("masked-ae").build(MaskedAEConfig(patch_size=4, mask_ratio=0.5, channels_last=False),
                                      build_encoder("mlp", (1, 8, 8), 8), info, seed=0)
    target = m.normalize(x)
    state = torch.Generator().manual_seed(0).get_state()
    m.generator(x.device).set_state(state)
    _, mask = patch_mask(target, 4, 0.5, torch.Generator().manual_seed(0))
    m.decoder = _Const(target * mask + 7.0 * (1 - mask))  # exact where masked, far off elsewhere
    m.generator(x.device).set_state(state)
    assert float(m.training_step((x,)).loss) < 1e-10


class _Const(torch.nn.Module):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, z):
        return self.out


def test_masked_ae_needs_images():
    with pytest.raises(UserError, match="patches"):
        get_method("masked-ae").build(MaskedAEConfig(), build_encoder("mlp", (20,), 8), DataInfo((20,)), seed=0)
