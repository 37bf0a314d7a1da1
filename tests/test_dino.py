"""DINO (methods/dino.py, functional/dino.py, DINOHead, the per-step schedules): the math against hand
computations and a slow loop from the paper, no gradient into the teacher, the state updates after the
step, the engine's schedules; the 2-process (gloo) equivalence is in tests/test_dino_distributed.py."""

import math

import pytest
import torch
from torch import nn

from selfsup.augment import Crops, ImageAugConfig
from selfsup.functional.dino import centre_update, dino_loss, sharpened_centred_softmax
from selfsup.methods import DataInfo, get_method
from selfsup.methods.dino import DINO, DINOConfig
from selfsup.modules import DINOHead
from selfsup.modules.schedules import cosine_between, linear_warmup
from selfsup.train.optim import OptimConfig, build_optimizer, set_schedules, weight_decay_at

TINY = dict(out_dim=16, hidden_dim=12, bottleneck_dim=8, n_local_crops=3, channels_last=False)


class ConvNoBN(nn.Module):
    """A conv encoder without BatchNorm that pools globally, so it takes any crop size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 5)
        self.out_dim = 5

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _method(**over) -> DINO:
    torch.manual_seed(0)
    cfg = DINOConfig(**{**TINY, **over})
    return DINO.build(cfg, ConvNoBN(), DataInfo((1, 16, 16), (0.3,), (0.3,), 32), aug=ImageAugConfig(), seed=0)


def _images(n=6, seed=0):
    return torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# --- the math -------------------------------------------------------------------------------------------
def test_centring_and_sharpening_against_a_hand_computation():
    logits = torch.tensor([[1.0, 2.0, 4.0]])
    center = torch.tensor([0.5, 1.0, 0.0])
    tau = 0.5
    z = [(1.0 - 0.5) / tau, (2.0 - 1.0) / tau, (4.0 - 0.0) / tau]  # 1, 2, 8
    e = [math.exp(v) for v in z]
    expected = torch.tensor([[v / sum(e) for v in e]])
    torch.testing.assert_close(sharpened_centred_softmax(logits, center, tau), expected)
    # sharper at a lower temperature, uniform when the centre equals the logits
    assert sharpened_centred_softmax(logits, center, 0.1).max() > expected.max()
    torch.testing.assert_close(sharpened_centred_softmax(logits, logits[0], 0.04), torch.full((1, 3), 1 / 3))


def test_centre_update_is_a_running_mean():
    c = torch.tensor([1.0, -2.0])
    torch.testing.assert_close(centre_update(c, torch.tensor([3.0, 0.0]), 0.9), torch.tensor([1.2, -1.8]))
    torch.testing.assert_close(centre_update(c, torch.tensor([3.0, 0.0]), 1.0), c)


def _slow_loss(student, teacher_probs):
    """The paper's eq. 3 by loops: sum over x in {x1g, x2g}, x' in V, x' != x of H(P_t(x), P_s(x'))."""
    v, b, _ = student.shape
    g = teacher_probs.shape[0]
    total, pairs = 0.0, 0
    for i in range(g):
        for j in range(v):
            if i == j:
                continue
            for n in range(b):
                log_ps = student[j, n] - torch.logsumexp(student[j, n], 0)
                total = total - (teacher_probs[i, n] * log_ps).sum() / b
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("g,v", [(2, 2), (2, 6), (1, 3), (3, 5)])
def test_loss_equals_the_slow_loop_over_pairs(g, v):
    gen = torch.Generator().manual_seed(g * 10 + v)
    student = torch.randn(v, 4, 7, generator=gen) / 0.1
    teacher = torch.softmax(torch.randn(g, 4, 7, generator=gen) / 0.04, -1)
    torch.testing.assert_close(dino_loss(student, teacher), _slow_loss(student, teacher))


def test_loss_skips_same_crop_pairs():
    """G = V = 2: the loss is H(t0, s1) + H(t1, s0) over 2; making s0 equal to t0 must not lower it."""
    gen = torch.Generator().manual_seed(0)
    t = torch.softmax(torch.randn(2, 3, 5, generator=gen), -1)
    s = torch.randn(2, 3, 5, generator=gen)
    h = lambda p, logits: -(p * torch.log_softmax(logits, -1)).sum(-1).mean()  # noqa: E731
    torch.testing.assert_close(dino_loss(s, t), (h(t[0], s[1]) + h(t[1], s[0])) / 2)
    s_same = s.clone()
    s_same[1] = torch.log(t[1])  # the student's crop 1 now matches the teacher's crop 1 exactly
    torch.testing.assert_close(dino_loss(s_same, t), (h(t[0], s_same[1]) + h(t[1], s[0])) / 2)


def test_loss_is_finite_with_gradients_at_extreme_logits():
    student = (torch.randn(4, 3, 6) * 1e3).requires_grad_()  # logits / tau_s far beyond exp's range
    teacher = sharpened_centred_softmax(torch.randn(2, 3, 6) * 50, torch.zeros(6), 0.01)
    loss = dino_loss(student, teacher)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()


def test_loss_refuses_more_teacher_than_student_crops():
    with pytest.raises(ValueError):
        dino_loss(torch.randn(2, 3, 4), torch.rand(3, 3, 4))


def test_head_logits_are_cosines():
    head = DINOHead(5, 32, hidden_dim=16, bottleneck_dim=8)
    x = torch.randn(10, 5) * 100
    out = head(x)
    assert out.shape == (10, 32) and out.abs().max() <= 1 + 1e-5
    with torch.no_grad():  # the last layer's rows count only by their direction (weight norm, gain 1)
        head.last_weight.mul_(7.0)
        torch.testing.assert_close(head(x), out)
        head.last_weight[0] = head.mlp(x[:1])[0]  # row 0 along the first input's bottleneck: cosine 1
        assert head(x[:1])[0, 0] == pytest.approx(1.0, abs=1e-5)


# --- schedules ------------------------------------------------------------------------------------------
def test_schedules_at_start_and_end():
    assert cosine_between(0.996, 1.0, 0.0) == pytest.approx(0.996)
    assert cosine_between(0.996, 1.0, 1.0) == pytest.approx(1.0)
    assert cosine_between(0.04, 0.4, 0.5) == pytest.approx(0.22)
    assert cosine_between(0.04, 0.4, 2.0) == pytest.approx(0.4)  # clipped past the end
    assert linear_warmup(0.04, 0.07, 0.0, 0.3) == pytest.approx(0.04)
    assert linear_warmup(0.04, 0.07, 0.15, 0.3) == pytest.approx(0.055)
    assert linear_warmup(0.04, 0.07, 0.3, 0.3) == linear_warmup(0.04, 0.07, 1.0, 0.3) == 0.07
    assert linear_warmup(0.04, 0.07, 0.0, 0.0) == 0.07
    m = _method(teacher_temp_start=0.04, teacher_temp=0.07, teacher_temp_warmup=0.3, momentum=0.996)
    for t, temp, mom in ((0.0, 0.04, 0.996), (0.15, 0.055, 0.996 + 0.004 * (1 - math.cos(0.15 * math.pi)) / 2),
                         (0.5, 0.07, 0.998), (1.0, 0.07, 1.0)):
        m.on_train_progress(t)
        assert m.teacher_temperature() == pytest.approx(temp)
        assert m.teacher_momentum() == pytest.approx(mom)


def test_weight_decay_schedule_sets_the_decayed_group_only():
    cfg = OptimConfig(optimizer="adamw", lr=1e-3, weight_decay=0.04, weight_decay_end=0.4)
    assert weight_decay_at(0.0, cfg) == pytest.approx(0.04) and weight_decay_at(1.0, cfg) == pytest.approx(0.4)
    assert weight_decay_at(0.7, OptimConfig(weight_decay=0.1)) == 0.1  # no end: constant
    opt = build_optimizer(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4)), cfg)
    set_schedules(opt, cfg, 0.5, 1.0)
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == pytest.approx(0.4) and plain["weight_decay"] == 0.0
    assert decayed["lr"] == plain["lr"] == pytest.approx(5e-4)


# --- the method ------------------------------------------------------------------------------------------
def test_one_step_finite_loss_and_no_gradient_into_the_teacher():
    m = _method()
    out = m.training_step((_images(), torch.zeros(6)))
    assert torch.isfinite(out.loss) and out.logs["teacher_temp"] == pytest.approx(0.04)
    out.loss.backward()
    teacher = list(m.teacher_encoder.parameters()) + list(m.teacher_head.parameters())
    assert teacher and all(not p.requires_grad and p.grad is None for p in teacher)
    student = list(m.encoder.parameters()) + list(m.head.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student)
    trainable = {id(p) for g in build_optimizer(m, OptimConfig()).param_groups for p in g["params"]}
    assert trainable == {id(p) for p in student}  # the teacher and the centre are not optimised


def test_under_bf16_autocast_the_targets_and_the_loss_are_float32():
    # the teacher's logits are divided by tau_t = 0.04 before its softmax: in bf16 (3 significant digits)
    # that amplifies the rounding of the logits 25x, so the targets and the cross-entropy run in float32
    m = _method()
    with torch.no_grad():
        crops = m.views(_images())
    ref, _ = m.loss_on_crops(crops)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, _ = m.loss_on_crops(crops)
        probs = sharpened_centred_softmax(torch.randn(4, 16).bfloat16(), torch.zeros(16), 0.04)
    assert low.dtype == torch.float32 and probs.dtype == torch.float32
    assert low.item() == pytest.approx(ref.item(), rel=0.02)


def test_teacher_sees_only_the_global_crops():
    m = _method(n_local_crops=4)
    seen = {"teacher": [], "student": []}
    m.teacher_encoder.register_forward_pre_hook(lambda mod, inp: seen["teacher"].append(tuple(inp[0].shape)))
    m.encoder.register_forward_pre_hook(lambda mod, inp: seen["student"].append(tuple(inp[0].shape)))
    m.training_step(_images(6))
    assert seen["teacher"] == [(12, 1, 16, 16)]  # 2 global crops x 6 images, one call
    assert seen["student"] == [(12, 1, 16, 16), (24, 1, 4, 4)]  # global, then the 4 local crops (16 px -> 4 px)


def test_state_changes_only_after_the_optimizer_step():
    m = _method(center_momentum=0.8, momentum=0.5)
    teacher0 = [p.clone() for p in m.teacher_head.parameters()]
    crops = m.views(_images(6))
    with torch.no_grad():
        t_logits = m.teacher_head(m.teacher_encoder(crops.global_crops))  # (12, K): the teacher before the step
    m.views = lambda x: crops
    loss = m.training_step(_images(6)).loss
    assert torch.count_nonzero(m.center) == 0  # forward leaves the centre alone ...
    assert all(torch.equal(a, b) for a, b in zip(teacher0, m.teacher_head.parameters()))  # ... and the teacher
    loss.backward()
    with torch.no_grad():
        for p in m.parameters():
            if p.grad is not None:
                p.sub_(0.5 * p.grad)
    m.on_after_optimizer_step(1)
    torch.testing.assert_close(m.center, 0.2 * t_logits.mean(0))  # 0.8 * 0 + 0.2 * global batch mean
    for t0, t1, s in zip(teacher0, m.teacher_head.parameters(), m.head.parameters()):
        torch.testing.assert_close(t1, 0.5 * t0 + 0.5 * s)  # EMA at momentum 0.5 (progress 0)


def test_a_short_run_lowers_the_loss_against_a_fixed_teacher():
    """Teacher frozen (momentum 1), centre fixed (momentum 1), constant tau_t: the targets stay put, so the
    student's cross-entropy to them must fall (with a moving teacher the loss also tracks its entropy)."""
    m = _method(n_local_crops=2, momentum=1.0, center_momentum=1.0, teacher_temp_warmup=0.0)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    x = _images(16)
    crops = m.views(x)
    m.views = lambda _: crops  # the same crops every step: the loss must fall
    losses = []
    for step in range(30):
        m.on_train_progress(step / 30)
        out = m.training_step(x)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        m.on_after_optimizer_step(step + 1)
        losses.append(float(out.loss.detach()))
    assert min(losses[-5:]) < losses[0] - 0.1, losses


def test_registered_with_presets_defaults_and_the_vit_default():
    spec = get_method("dino")
    assert spec.default_encoder == "vit-tiny" and spec.family == "contrastive"
    from selfsup.train.run import resolve_config

    cfg = resolve_config("dino", "fashion-mnist", preset="paper")
    assert cfg.method_cfg.n_local_crops == 8 and cfg.method_cfg.momentum == 0.996
    assert cfg.optim.optimizer == "adamw" and (cfg.optim.weight_decay, cfg.optim.weight_decay_end) == (0.04, 0.4)
    assert cfg.aug.crop_scale_min == 0.4
    plain = resolve_config("dino", "fashion-mnist")
    assert plain.optim.weight_decay_end == 0.4 and plain.method_cfg.student_temp == 0.1
    with pytest.raises(Exception, match="local_scale_min"):
        resolve_config("dino", "fashion-mnist", overrides={"local_scale_min": 0.5, "local_scale_max": 0.2})


def test_embed_uses_the_student_encoder_on_the_plain_image():
    m = _method()
    x = _images(3)
    z = m.embed(x)
    assert z.shape == (3, 5)
    torch.testing.assert_close(z, m.encoder((x.float() / 255 - 0.3) / 0.3))


def test_crops_from_elsewhere_are_used_as_given():
    m = _method(n_local_crops=0)
    g = torch.randn(2 * 5, 1, 16, 16)
    loss, tau = m.loss_on_crops(Crops(g, g.new_zeros(0, 1, 4, 4)))
    assert torch.isfinite(loss) and tau == pytest.approx(0.04)


def test_the_engine_drives_the_schedules_and_a_resumed_run_is_exact(tmp_path, monkeypatch):
    """A 4-step run through the library API: before each step the engine hands the method the training
    progress and sets the cosine weight decay; the run ends with a moved centre. Killed after its step-2
    checkpoint and resumed, it ends with the same weights, teacher and centre to the bit (the crops'
    random streams, the centre and the schedules' position come back)."""
    import json
    import shutil

    from safetensors.torch import load_file

    import selfsup
    import selfsup.train.module as engine

    progress, decay = [], []
    hook = DINO.on_train_progress
    monkeypatch.setattr(DINO, "on_train_progress", lambda self, p: (progress.append(p), hook(self, p))[1])
    set_schedules_ = engine.set_schedules

    def recording(opt, cfg, lr_mult, p):
        set_schedules_(opt, cfg, lr_mult, p)
        decay.append(next(g["weight_decay"] for g in opt.param_groups if g["decay"]))

    monkeypatch.setattr(engine, "set_schedules", recording)
    run = selfsup.pretrain("dino", "digits", out=tmp_path / "run", encoder="small-cnn", encoder_width=8, epochs=2,
                           batch_size=32, train_samples=64, progress=False, out_dim=32, hidden_dim=16,
                           bottleneck_dim=8, n_local_crops=2)
    assert json.loads((run.path / "run.json").read_text())["status"] == "finished"
    assert progress == pytest.approx([0.0, 0.25, 0.5, 0.75])  # 4 planned steps
    assert decay == pytest.approx([cosine_between(0.04, 0.4, p) for p in progress])
    state = load_file(run.path / "model.safetensors")
    assert state["center"].abs().sum() > 0 and not torch.equal(state["teacher_head.last_weight"], state["head.last_weight"])
    killed = tmp_path / "killed"
    (killed / "checkpoints").mkdir(parents=True)
    meta = json.loads((run.path / "run.json").read_text())
    (killed / "run.json").write_text(json.dumps({**meta, "status": "running"}))
    shutil.copy(run.path / "config.yaml", killed / "config.yaml")
    for p in (run.path / "checkpoints").glob("step-00000002.ckpt*"):
        shutil.copy(p, killed / "checkpoints" / p.name)
    selfsup.resume(killed)
    assert progress[4:] == pytest.approx([0.5, 0.75])  # the resumed segment: steps 2 and 3
    again = load_file(killed / "model.safetensors")
    assert again.keys() == state.keys()
    for k in state:
        assert torch.equal(again[k], state[k]), k
