import torch

from selfsup.augment import ImageAugConfig
from selfsup.data import load_dataset
from selfsup.encoders import build_encoder
from selfsup.methods import DataInfo, get_method


def make(seed=0, **cfg):
    spec = get_method("simclr")
    torch.manual_seed(seed)
    enc = build_encoder("small-cnn", (1, 8, 8), 8)
    return spec.build(spec.config_cls(**cfg), enc, DataInfo((1, 8, 8), (0.3,), (0.3,), 100),
                      aug=ImageAugConfig(), seed=seed)


def tiny_batch(n=16):
    d = load_dataset("digits")
    return d.x_train[:n], torch.arange(n)


def test_step_finite_and_only_trainable_params_change():
    m = make()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    out = m.training_step(tiny_batch())
    assert torch.isfinite(out.loss) and "loss" in out.logs
    out.loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    opt.step()
    changed = {k for k, v in m.state_dict().items() if not torch.equal(v, before[k])}
    params = {k for k, _ in m.named_parameters()}
    assert params <= changed  # every parameter moved
    assert all(k in params or "running" in k or "num_batches" in k for k in changed)


def test_short_run_lowers_loss():
    m = make()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    x, i = tiny_batch(64)
    losses = []
    for _ in range(30):
        out = m.training_step((x, i))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2


def test_projection_head_options_and_embed():
    x, _ = tiny_batch(8)
    for proj in ("mlp", "linear", "none"):
        m = make(projection=proj)
        assert torch.isfinite(m.training_step((x,)).loss)
        assert m.embed(x).shape == (8, m.encoder.out_dim)
