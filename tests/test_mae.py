"""MAE with token dropping: random token masks, the masked-patch loss, one step, a short run, the engine."""

from __future__ import annotations

import pytest
import torch

from selfsup.augment.token_masks import random_token_mask
from selfsup.encoders.vit import ViT
from selfsup.functional.masked_image import masked_patch_mse, normalize_patches, patchify
from selfsup.methods import get_method
from selfsup.methods.base import DataInfo
from selfsup.methods.mae import MAE, MAEConfig

INFO = DataInfo((1, 16, 16), (0.5,), (0.25,))


def tiny_mae(**cfg) -> MAE:
    torch.manual_seed(0)
    vit = ViT(1, (16, 16), dim=24, depth=2, heads=3, patch=4)
    return MAE.build(MAEConfig(decoder_dim=16, decoder_depth=1, decoder_heads=2, **cfg), vit, INFO, seed=0)


def images(n: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 16, 16), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


def test_random_token_mask_counts_partition_and_seed():
    keep, masked = random_token_mask(6, 49, 0.75, torch.Generator().manual_seed(3))
    assert keep.shape == (6, 12) and masked.shape == (6, 37)  # round(0.25 * 49) = 12 kept
    every = torch.cat([keep, masked], dim=1).sort(dim=1).values
    assert torch.equal(every, torch.arange(49).expand(6, -1))  # kept + masked = all, disjoint
    assert len({tuple(r.tolist()) for r in keep}) == 6  # each sample its own mask
    again, _ = random_token_mask(6, 49, 0.75, torch.Generator().manual_seed(3))
    other, _ = random_token_mask(6, 49, 0.75, torch.Generator().manual_seed(4))
    assert torch.equal(keep, again) and not torch.equal(keep, other)
    assert random_token_mask(2, 16, 0.0, torch.Generator())[0].shape == (2, 16)


def test_patchify_and_patch_normalisation():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    p = patchify(x, 4)  # (2, 4, 48)
    assert p.shape == (2, 4, 48)
    torch.testing.assert_close(p[1, 3].view(4, 4, 3).permute(2, 0, 1), x[1, :, 4:, 4:])  # bottom-right patch
    n = normalize_patches(torch.randn(3, 5, 16) * 7 + 2)
    torch.testing.assert_close(n.mean(-1), torch.zeros(3, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(n.std(-1), torch.ones(3, 5), atol=1e-4, rtol=0)


def test_loss_only_on_masked_patches():
    target = torch.randn(2, 16, 8)
    masked = torch.tensor([[1, 4, 9], [0, 2, 15]])
    pred = torch.randn(2, 3, 8)
    loss = masked_patch_mse(pred, target, masked)
    slow = torch.stack([((pred[b, i] - target[b, masked[b, i]]) ** 2).mean() for b in range(2) for i in range(3)])
    torch.testing.assert_close(loss, slow.mean())
    changed = target.clone()
    changed[0, 3] += 10.0  # a visible patch's target
    torch.testing.assert_close(masked_patch_mse(pred, changed, masked), loss)
    changed[0, 4] += 10.0  # a masked one
    assert masked_patch_mse(pred, changed, masked) > loss + 1


def test_one_step_finite_loss_gradients_and_token_dropping():
    mae = tiny_mae()
    out = mae.training_step((images(), torch.zeros(8)))
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    out.loss.backward()
    for name in ("encoder.patch_embed.weight", "encoder.blocks.0.qkv.weight", "decoder.mask_token",
                 "decoder.head.weight"):
        assert dict(mae.named_parameters())[name].grad.abs().sum() > 0, name
    # the encoder saw 4 of 16 tokens (+ [CLS])
    seen = []
    mae.encoder.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    mae.training_step(images())
    assert seen == [5]
    assert mae.embed(images(3)).shape == (3, 24)


def test_short_run_lowers_the_loss():
    mae = tiny_mae()
    opt = torch.optim.Adam(mae.parameters(), lr=3e-3)
    x = mae.views.pipelines[0].plain(images(16))
    keep, masked = random_token_mask(16, 16, 0.75, torch.Generator().manual_seed(0))
    losses = []
    for _ in range(25):
        loss = mae.loss_with_masks(x, keep, masked)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_registered_with_vit_default_and_paper_preset():
    spec = get_method("mae")
    assert spec.default_encoder == "vit-tiny" and spec.family == "context"
    assert spec.presets["paper"]["mask_ratio"] == 0.75 and spec.presets["paper"]["optim.beta2"] == 0.95
    cfg = MAEConfig(**{k: v for k, v in spec.presets["paper"].items() if "." not in k})
    cfg.validate()
    with pytest.raises(Exception, match="ViT"):
        from selfsup.encoders import build_encoder

        MAE.build(MAEConfig(), build_encoder("small-cnn", (1, 16, 16)), INFO)


def test_engine_run_records_the_vit_and_its_pooling(tmp_path):
    import selfsup

    run = selfsup.pretrain("mae", "digits", out=tmp_path / "mae", epochs=1, train_samples=64, batch_size=32,
                           encoder_patch=2, progress=False, threads=1)
    assert run.meta["encoder"] == "vit-tiny" and run.meta["encoder_options"] == {"pool": "mean", "patch": 2}
    enc = selfsup.load_encoder(run)
    assert enc.pool == "mean" and enc.grid == (4, 4)
    assert selfsup.embed(run, torch.zeros(3, 1, 8, 8, dtype=torch.uint8)).shape == (3, 192)
