"""I-JEPA: block masks, no gradient into the target encoder, its EMA step, one step, a short run, the engine."""

from __future__ import annotations

import pytest
import torch

from selfsup.augment.token_masks import block_masks
from selfsup.encoders.vit import ViT
from selfsup.errors import UserError
from selfsup.methods import get_method
from selfsup.methods.base import DataInfo
from selfsup.methods.ijepa import IJEPA, IJEPAConfig

INFO = DataInfo((1, 16, 16), (0.5,), (0.25,))


def tiny_ijepa(**cfg) -> IJEPA:
    torch.manual_seed(0)
    vit = ViT(1, (16, 16), dim=24, depth=2, heads=3, patch=2)  # an 8x8 grid
    return IJEPA.build(IJEPAConfig(predictor_dim=16, predictor_depth=1, predictor_heads=2, **cfg), vit, INFO, seed=0)


def images(n: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 16, 16), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


def blocks_of(idx: torch.Tensor, cols: int) -> tuple[set, set]:
    return {int(i) // cols for i in idx}, {int(i) % cols for i in idx}


def test_block_masks_shapes_rectangles_disjoint_context_and_seed():
    m = block_masks(5, (14, 14), torch.Generator().manual_seed(0), n_targets=4)
    b, n_t, kt = m.targets.shape
    assert (b, n_t) == (5, 4) and 0.1 * 196 <= kt <= 0.25 * 196  # one block size per batch
    assert m.context.shape[0] == 5 and m.context.shape[1] >= 4
    for s in range(5):
        ctx = set(m.context[s].tolist())
        assert len(ctx) == m.context.shape[1]  # no repeats
        for t in range(4):
            rows, cols = blocks_of(m.targets[s, t], 14)
            assert len(rows) * len(cols) == kt  # a full rectangle
            assert rows == set(range(min(rows), max(rows) + 1)) and cols == set(range(min(cols), max(cols) + 1))
            assert not ctx & set(m.targets[s, t].tolist())  # the context holds no target token
    assert len({tuple(m.targets[s, 0].tolist()) for s in range(5)}) > 1  # positions per sample
    again = block_masks(5, (14, 14), torch.Generator().manual_seed(0), n_targets=4)
    assert torch.equal(again.context, m.context) and torch.equal(again.targets, m.targets)
    with pytest.raises(UserError, match="encoder_patch"):
        block_masks(2, (2, 2), torch.Generator().manual_seed(0), n_targets=4)


def test_one_step_finite_loss_no_gradient_into_the_target_encoder():
    ij = tiny_ijepa()
    out = ij.training_step((images(), torch.zeros(8)))
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    out.loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in ij.target_encoder.parameters())
    assert ij.encoder.patch_embed.weight.grad.abs().sum() > 0
    assert ij.predictor.mask_token.grad.abs().sum() > 0
    trainable = {id(p) for p in ij.parameters() if p.requires_grad}
    assert not trainable & {id(p) for p in ij.target_encoder.parameters()}
    assert ij.embed(images(3)).shape == (3, 24)


def test_ema_moves_the_target_encoder_on_a_linear_momentum_schedule():
    ij = tiny_ijepa(momentum=0.9, momentum_end=1.0)
    ij.on_train_progress(0.5)
    assert ij.target_momentum() == pytest.approx(0.95)
    with torch.no_grad():
        for p in ij.encoder.parameters():
            p.add_(1.0)
    before = ij.target_encoder.patch_embed.weight.clone()
    online = ij.encoder.patch_embed.weight.detach().clone()
    ij.on_after_optimizer_step(1)
    torch.testing.assert_close(ij.target_encoder.patch_embed.weight, 0.95 * before + 0.05 * online)
    ij.on_train_progress(1.0)
    frozen = ij.target_encoder.patch_embed.weight.clone()
    ij.on_after_optimizer_step(2)  # momentum 1 at the end: the target stays
    torch.testing.assert_close(ij.target_encoder.patch_embed.weight, frozen)


def test_short_run_lowers_the_loss():
    ij = tiny_ijepa()
    opt = torch.optim.Adam([p for p in ij.parameters() if p.requires_grad], lr=3e-3)
    x = ij.views.pipelines[0].plain(images(16))
    masks = ij.draw_masks(x)
    losses = []
    for step in range(25):
        loss = ij.loss_with_masks(x, masks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ij.on_after_optimizer_step(step)
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_registered_with_vit_default_and_presets_build():
    spec = get_method("ijepa")
    assert spec.default_encoder == "vit-tiny" and spec.encoder_options == {"pool": "mean"}
    IJEPAConfig(**{k: v for k, v in spec.presets["paper"].items() if "." not in k}).validate()
    with pytest.raises(UserError, match="target_scale_min"):
        IJEPAConfig(target_scale_min=0.5, target_scale_max=0.2).validate()


def test_engine_run(tmp_path):
    import selfsup

    run = selfsup.pretrain("ijepa", "digits", out=tmp_path / "ij", epochs=1, train_samples=64, batch_size=32,
                           encoder_patch=2, progress=False, threads=1)
    assert run.meta["encoder"] == "vit-tiny" and run.meta["encoder_options"]["pool"] == "mean"
    assert run.meta["status"] == "finished"
