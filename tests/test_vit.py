"""The ViT encoder: shapes, token dropping (``keep``), positional-embedding interpolation, the registry."""

from __future__ import annotations

import pytest
import torch

from selfsup.encoders import build_encoder
from selfsup.encoders.vit import ViT, gather_tokens, resize_pos_embed
from selfsup.errors import UserError


def small_vit(**kw) -> ViT:
    torch.manual_seed(0)
    args = dict(in_channels=1, image_size=(16, 16), dim=24, depth=2, heads=3, patch=4)
    return ViT(**{**args, **kw}).eval()


def test_shapes_with_and_without_keep():
    vit = small_vit()
    x = torch.randn(3, 1, 16, 16)
    assert vit.num_patches == 16 and vit.out_dim == 24
    assert vit(x).shape == (3, 24)
    assert vit.forward_tokens(x).shape == (3, 17, 24)
    keep = torch.stack([torch.randperm(16)[:5] for _ in range(3)])  # (3, 5)
    assert vit.forward_tokens(x, keep).shape == (3, 6, 24)
    assert vit(x, keep).shape == (3, 24)


def test_keep_equals_running_the_blocks_on_the_gathered_tokens():
    vit = small_vit()
    x = torch.randn(2, 1, 16, 16)
    keep = torch.tensor([[0, 5, 9], [15, 2, 7]])
    t = gather_tokens(vit.embed_patches(x), keep)  # (2, 3, D)
    by_hand = vit.run_blocks(torch.cat([vit.cls_token.expand(2, -1, -1), t], dim=1))
    torch.testing.assert_close(vit.forward_tokens(x, keep), by_hand)
    # keeping every token in order is the full forward
    every = torch.arange(16).expand(2, -1)
    torch.testing.assert_close(vit.forward_tokens(x, every), vit.forward_tokens(x))


def test_dropped_tokens_do_not_reach_the_output():
    vit = small_vit()
    x = torch.randn(1, 1, 16, 16)
    keep = torch.tensor([[0, 1, 2, 3]])  # the top row of 4x4-pixel patches
    y = x.clone()
    y[..., 4:, :] = torch.randn(1, 1, 12, 16)  # change every dropped patch
    torch.testing.assert_close(vit(x, keep), vit(y, keep))
    assert not torch.allclose(vit(x), vit(y))  # ...which the full forward does see


def test_pos_embed_interpolation_for_another_input_size():
    vit = small_vit()
    assert vit(torch.randn(2, 1, 8, 8)).shape == (2, 24)  # 2x2 grid (local crops)
    assert vit.forward_tokens(torch.randn(2, 1, 24, 24)).shape == (2, 37, 24)
    pos = vit.pos_embed.detach()
    assert resize_pos_embed(pos, (4, 4), (4, 4)) is pos
    # a constant field stays constant; a 2x2 field resized to 4x4 keeps its corners' order
    const = torch.ones(1, 16, 3)
    torch.testing.assert_close(resize_pos_embed(const, (4, 4), (2, 2)), torch.ones(1, 4, 3))
    ramp = torch.tensor([0.0, 1.0, 0.0, 1.0]).view(1, 4, 1)  # columns 0 | 1
    up = resize_pos_embed(ramp, (2, 2), (4, 4)).view(4, 4)
    assert (up[:, 0] < up[:, 3]).all()


def test_mean_pooling_and_gradients():
    vit = small_vit(pool="mean")
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(vit(x), vit.forward_tokens(x)[:, 1:].mean(1))
    vit.train()
    vit(x).square().sum().backward()
    assert vit.patch_embed.weight.grad.abs().sum() > 0 and vit.pos_embed.grad.abs().sum() > 0


def test_registry_builds_vits_with_default_and_set_patch():
    tiny = build_encoder("vit-tiny", (1, 28, 28))
    assert tiny.out_dim == 192 and tiny.patch == 4 and tiny.grid == (7, 7) and len(tiny.blocks) == 12
    assert tiny.heads == 3 and tiny.registry_name == "vit-tiny"
    small = build_encoder("vit-small", (3, 64, 64), patch="8", pool="mean")
    assert small.out_dim == 384 and small.heads == 6 and small.grid == (8, 8) and small.pool == "mean"
    assert build_encoder("vit-small", (3, 224, 224)).patch == 16
    assert build_encoder("vit-tiny", (1, 28, 28), 48).out_dim == 48
    with pytest.raises(UserError, match="encoder_patch"):
        build_encoder("small-cnn", (1, 28, 28), patch=4)
    with pytest.raises(UserError, match="patches"):
        build_encoder("vit-tiny", (1, 28, 28), patch=5)
    with pytest.raises(UserError, match="encoder_pool"):
        build_encoder("vit-tiny", (1, 28, 28), pool="max")


def test_selfsup_list_shows_the_vits_and_the_masked_image_methods(capsys):
    from selfsup.cli.main import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert {"vit-tiny", "vit-small", "mae", "ijepa"} <= lines


def _qkv(dtype=torch.float64, b=3, h=2, n=7, d=8):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(b, h, n, d, generator=gen, dtype=dtype).requires_grad_() for _ in range(3)]


@pytest.mark.parametrize("masked", [False, True])
def test_explicit_attention_matches_the_fused_kernel_values_and_gradients(masked):
    import torch.nn.functional as F

    from selfsup.encoders.transformer import explicit_attention

    mask = None
    if masked:  # padding: sample 0 sees all 7 keys, sample 1 the first 4, sample 2 none (zero output, as fused)
        lengths = torch.tensor([7, 4, 0])
        mask = (torch.arange(7)[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, L)
    q, k, v = _qkv()
    ours = explicit_attention(q, k, v, mask)
    grads = torch.autograd.grad(ours.pow(2).sum(), (q, k, v))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), (q, k, v))
    torch.testing.assert_close(ours, ref)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)
    if masked:
        assert ours[2].abs().sum() == 0 and all(torch.isfinite(g).all() for g in grads)


def test_attention_takes_the_explicit_path_for_bf16_on_a_cpu_and_the_fused_kernel_otherwise(monkeypatch):
    import torch.nn.functional as F

    from selfsup.encoders import transformer

    calls = []
    real = F.scaled_dot_product_attention
    monkeypatch.setattr(transformer.F, "scaled_dot_product_attention",
                        lambda *a, **kw: calls.append("fused") or real(*a, **kw))
    q, k, v = _qkv(torch.float32)
    transformer.attention(q, k, v)
    assert calls == ["fused"]
    qb, kb, vb = (t.detach().bfloat16() for t in (q, k, v))
    out = transformer.attention(qb, kb, vb)
    assert calls == ["fused"] and out.dtype == torch.bfloat16  # not called again
    torch.testing.assert_close(out, transformer.explicit_attention(qb, kb, vb))
    # and bf16 stays close to the float32 result (bf16 keeps ~3 significant digits)
    torch.testing.assert_close(out.float(), real(q, k, v), atol=3e-2, rtol=3e-2)


def test_vit_under_bf16_autocast_on_a_cpu_runs_explicit_attention_and_stays_close_to_fp32(monkeypatch):
    from selfsup.encoders import transformer

    vit = small_vit()
    x = torch.randn(4, 1, 16, 16)
    ref = vit(x)
    dtypes = []
    real = transformer.explicit_attention
    monkeypatch.setattr(transformer, "explicit_attention", lambda q, *a: dtypes.append(q.dtype) or real(q, *a))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vit(x)
    assert dtypes == [torch.bfloat16] * 2  # one call per block, on bf16 queries
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.05)
