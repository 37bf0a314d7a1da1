"""Wu et al.'s NCE for the memory bank (``loss="nce"``, ``--preset paper``) and its negative sampler.

* :func:`selfsup.functional.nce_loss` / :func:`nce_log_z` against a loop written from the paper's
  equations (``P(i|v) = exp(v . f_i / t) / Z``, ``h = P / (P + m P_n)``, ``Z ~= n mean exp(...)``).
* ``Z`` is estimated on the first batch only, then fixed, and travels in ``state_dict`` and in
  checkpoints (an interrupted paper-preset run resumes to the uninterrupted run's weights and ``Z``).
* A sample's own bank row is never drawn as its negative (either loss), the other rows uniformly.
* Two gloo processes give the loss, gradients, bank and ``Z`` of one process on the whole batch.
"""

import json
import math

import pytest
import torch
from _distributed import assert_close, averaged_step, one_thread, rank_rows, run_ranks, sgd_step
from torch import nn

from selfsup.augment import ImageAugConfig
from selfsup.data import load_dataset
from selfsup.encoders import build_encoder
from selfsup.functional import info_nce, info_nce_scores, nce_log_z, nce_loss
from selfsup.losses.contrastive import NCELoss
from selfsup.methods import DataInfo, get_method
from selfsup.modules.memory_bank import MemoryBank

pytestmark = pytest.mark.usefixtures("one_thread")


# -- the loss against the paper's equations ------------------------------------------------------------
def _paper_loss(pos, neg, t, z, n):
    """Wu et al. eq. 4-7 written out with exp and log, one query and one noise sample at a time (float64)."""
    total = 0.0
    m = neg.shape[1]
    pn = 1.0 / n
    for i in range(len(pos)):
        p = math.exp(float(pos[i]) / t) / z  # P(i | v)
        h = p / (p + m * pn)
        loss = -math.log(h)
        for j in range(m):
            pj = math.exp(float(neg[i, j]) / t) / z  # P(j | v')
            loss -= math.log(1.0 - pj / (pj + m * pn))
        total += loss
    return total / len(pos)


def _paper_z(neg, t, n):
    vals = [math.exp(float(s) / t) for s in neg.flatten()]
    return n * sum(vals) / len(vals)


def test_nce_loss_and_z_estimate_match_a_loop_over_the_papers_equations():
    g = torch.Generator().manual_seed(0)
    b, m, n, t = 6, 9, 500, 0.3
    pos = torch.rand(b, generator=g, dtype=torch.float64) * 2 - 1  # cosine similarities
    neg = torch.rand(b, m, generator=g, dtype=torch.float64) * 2 - 1
    z = _paper_z(neg, t, n)
    assert float(nce_log_z(neg, t, n)) == pytest.approx(math.log(z), rel=1e-12)
    got = nce_loss(pos, neg, t, math.log(z), n)
    assert float(got) == pytest.approx(_paper_loss(pos, neg, t, z, n), rel=1e-10)
    per = nce_loss(pos, neg, t, math.log(z), n, reduction="none")
    assert per.shape == (b,)
    for i in range(b):
        assert float(per[i]) == pytest.approx(_paper_loss(pos[i:i + 1], neg[i:i + 1], t, z, n), rel=1e-10)
    # another Z changes the loss (it is used, not just carried)
    assert abs(float(nce_loss(pos, neg, t, math.log(2 * z), n)) - float(got)) > 1e-3


def _paper_loss_autograd(pos, neg, t, z, n):
    """The same equations as :func:`_paper_loss` in torch ops (exp, divide, log; no log-space tricks), one
    query at a time, so autograd gives the reference gradient."""
    m = neg.shape[1]
    pn = 1.0 / n
    total = pos.new_zeros(())
    for i in range(len(pos)):
        p = torch.exp(pos[i] / t) / z
        loss = -torch.log(p / (p + m * pn))
        for j in range(m):
            pj = torch.exp(neg[i, j] / t) / z
            loss = loss - torch.log(1.0 - pj / (pj + m * pn))
        total = total + loss
    return total / len(pos)


def test_nce_loss_gradient_matches_autograd_through_the_papers_equations():
    g = torch.Generator().manual_seed(3)
    b, m, n, t = 5, 7, 300, 0.2
    pos = (torch.rand(b, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    neg = (torch.rand(b, m, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    log_z = nce_log_z(neg, t, n)  # detached: Z is a constant of the loss
    got_pos, got_neg = torch.autograd.grad(nce_loss(pos, neg, t, log_z, n), (pos, neg))
    want_pos, want_neg = torch.autograd.grad(_paper_loss_autograd(pos, neg, t, float(log_z.exp()), n), (pos, neg))
    torch.testing.assert_close(got_pos, want_pos, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(got_neg, want_neg, rtol=1e-9, atol=1e-12)
    # closed form of the positive's gradient: d/ds [-log sigmoid(s/t - c)] = -(1 - h) / t
    h = torch.sigmoid(pos.detach() / t - log_z - math.log(m / n))
    torch.testing.assert_close(got_pos, -(1 - h) / t / b, rtol=1e-9, atol=1e-12)
    assert (got_pos < 0).all() and (got_neg > 0).all()  # pulls the positive up, pushes the noise down


def test_nce_loss_is_finite_where_exp_overflows_and_in_bf16():
    t, n = 0.01, 60000
    pos = torch.tensor([0.99, 0.95, 1.0], requires_grad=True)  # pos / t ~ 100: exp() is inf in float32
    neg = torch.tensor([[0.98, -0.5], [0.2, 0.97], [1.0, 1.0]], requires_grad=True)
    assert not torch.isfinite(torch.exp(pos.detach() / t)).all()
    log_z = nce_log_z(neg, t, n)
    assert torch.isfinite(log_z)
    loss = nce_loss(pos, neg, t, log_z, n)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
    ref = nce_loss(pos.detach().double(), neg.detach().double(), t, float(log_z), n)
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    low = nce_loss(pos.detach().bfloat16(), neg.detach().bfloat16(), t, log_z, n)
    assert low.dtype == torch.float32 and torch.isfinite(low)


def test_info_nce_scores_is_info_nce_on_the_same_similarities():
    g = torch.Generator().manual_seed(1)
    q = torch.nn.functional.normalize(torch.randn(5, 7, generator=g), dim=1)
    p = torch.nn.functional.normalize(torch.randn(5, 7, generator=g), dim=1)
    k = torch.nn.functional.normalize(torch.randn(11, 7, generator=g), dim=1)
    want = info_nce(q, p, k, 0.07, normalize=False)
    got = info_nce_scores((q * p).sum(1), q @ k.t(), 0.07)
    torch.testing.assert_close(got, want)


# -- the sampler -----------------------------------------------------------------------------------------
def test_own_row_is_never_sampled_and_the_other_rows_are_uniform():
    n, k, draws = 23, 3000, 40
    bank = MemoryBank(n, 4, seed=0)
    own = torch.arange(n).repeat(2)  # every row, twice in the batch
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(len(own), n)
    for _ in range(draws):
        idx = bank.sample_negatives(own, k, g).indices(len(own))  # (B, K)
        assert idx.shape == (len(own), k) and idx.min() >= 0 and idx.max() < n
        counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=counts.dtype))
    per_query = k * draws  # 120000 draws per query, 240000 per row
    assert counts[torch.arange(len(own)), own].sum() == 0  # zero hits of the own row, for every row
    others = counts[torch.arange(len(own))[:, None], torch.tensor(
        [[j for j in range(n) if j != int(i)] for i in own])]  # (B, n - 1)
    expected = per_query / (n - 1)  # ~5455; binomial sd ~72
    assert (others - expected).abs().max() < 6 * math.sqrt(expected)  # uniform, the first and last rows too


def test_negative_similarities_are_the_dot_products_with_each_querys_rows():
    bank = MemoryBank(9, 5, seed=3)
    own = torch.tensor([0, 8, 4, 4])
    f = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    draw = bank.sample_negatives(own, 50, torch.Generator().manual_seed(5))
    idx = draw.indices(4)
    assert len(draw.hit_query) > 0  # n = 9, 50 draws: some hit an own row and were redrawn
    want = torch.stack([bank.bank[idx[i]] @ f[i] for i in range(4)])  # (B, K), one query at a time
    torch.testing.assert_close(bank.negative_similarities(f, draw), want)


# -- the method ------------------------------------------------------------------------------------------
class Flat(nn.Module):
    def __init__(self, d_in=64, d_out=6):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(d_in, 12), nn.ReLU(), nn.Linear(12, d_out))
        self.out_dim = d_out

    def forward(self, x):
        return self.net(x)


def make(n=100, seed=0, encoder=None, **over):
    spec = get_method("memory-bank")
    torch.manual_seed(seed)
    enc = encoder if encoder is not None else Flat()
    cfg = spec.config_cls(**{"head": "linear", "feature_dim": 5, "bank_init": "random", **over})
    return spec.build(cfg, enc, DataInfo((1, 8, 8), (0.0,), (1.0,), n), aug=ImageAugConfig(), seed=seed)


def _views(b, seed):
    return torch.randn(b, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("loss", ["infonce", "nce"])
def test_with_two_rows_every_negative_is_the_other_row(loss):
    """n = 2, one negative: the fixed sampler can only draw the other row, so the loss is known in closed form
    (the old sampler drew one shared row, which is one of the two queries' own row)."""
    t = 0.5
    m = make(n=2, num_negatives=1, temperature=t, **({"loss": "nce"} if loss == "nce" else {}))  # infonce: the default
    v, idx = _views(2, 0), torch.tensor([0, 1])
    got = m.loss_on_view(v, idx)
    with torch.no_grad():
        f = m.features(v).double()
        bank = m.bank.bank.double()
    s_pos = [float(f[i] @ bank[i]) for i in range(2)]
    s_neg = [float(f[i] @ bank[1 - i]) for i in range(2)]
    if loss == "infonce":
        want = sum(-math.log(math.exp(s_pos[i] / t) / (math.exp(s_pos[i] / t) + math.exp(s_neg[i] / t)))
                   for i in range(2)) / 2
    else:
        z = _paper_z(torch.tensor(s_neg), t, 2)
        want = _paper_loss(torch.tensor(s_pos), torch.tensor(s_neg)[:, None], t, z, 2)
        assert math.exp(float(m.nce.log_z)) == pytest.approx(z, rel=1e-5)
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_z_is_estimated_on_the_first_batch_then_fixed_and_carried_in_state_dict():
    n, k, t = 100, 20, 0.07
    m = make(n=n, num_negatives=k, loss="nce", temperature=t)
    assert "nce.log_z" in m.state_dict() and not torch.isfinite(m.nce.log_z)  # not estimated yet
    assert "nce.log_z" not in make(n=n, num_negatives=k).state_dict()  # InfoNCE has no Z (older runs load)
    g = torch.Generator()
    g.set_state(m._gen.get_state())  # replay the first batch's draw
    v1, idx1 = _views(16, 1), torch.arange(16)
    with torch.no_grad():
        f = m.features(v1)
        rows = m.bank.sample_negatives(idx1, k, g).indices(16)
        sims = torch.stack([m.bank.bank[rows[i]] @ f[i] for i in range(16)])  # (B, K)
    z = _paper_z(sims, t, n)  # Z = n * mean over the first batch's sampled negatives of exp(v . f / t)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    loss1 = m.loss_on_view(v1, idx1)
    assert math.exp(float(m.nce.log_z)) == pytest.approx(z, rel=1e-5)
    first = m.nce.log_z.clone()
    loss1.backward()
    opt.step()
    opt.zero_grad()
    m.on_after_optimizer_step(1)
    m.loss_on_view(_views(16, 2), torch.arange(16, 32)).backward()  # another batch, a moved bank
    assert torch.equal(m.nce.log_z, first)  # fixed after the first batch
    # a model loaded from the state_dict keeps Z: its next step is the original's next step
    state, gen = m.state_dict(), m._gen.get_state()
    loaded, fresh = make(n=n, seed=5, num_negatives=k, loss="nce", temperature=t), \
        make(n=n, seed=5, num_negatives=k, loss="nce", temperature=t)
    loaded.load_state_dict(state)
    fresh.load_state_dict({k_: v_ for k_, v_ in state.items() if k_ != "nce.log_z"}, strict=False)
    assert torch.equal(loaded.nce.log_z, first)
    v3, idx3 = _views(16, 3), torch.arange(40, 56)
    out = []
    for model in (m, loaded, fresh):
        model._gen.set_state(gen)
        out.append(float(model.loss_on_view(v3, idx3)))
    assert out[1] == pytest.approx(out[0], rel=1e-6)
    assert abs(out[2] - out[0]) > 1e-3  # re-estimating Z on a later batch would change the loss
    with pytest.raises(RuntimeError, match="estimated"):
        NCELoss(t, n)(torch.zeros(2), torch.zeros(2, 3))  # no Z yet: refused, not a silent NaN


def test_nce_config_is_typed_and_checked():
    spec = get_method("memory-bank")
    assert spec.config_cls().loss == "infonce"  # today's sampled InfoNCE stays the default
    with pytest.raises(Exception, match="loss must be"):
        make(loss="nce-ish")
    with pytest.raises(Exception, match="num_negatives >= 1"):
        make(loss="nce", num_negatives=0)
    from selfsup.train.run import resolve_config

    cfg = resolve_config("memory-bank", "digits", preset="paper").method_cfg
    assert (cfg.loss, cfg.head, cfg.bank_init, cfg.temperature, cfg.num_negatives, cfg.bank_momentum,
            cfg.feature_dim) == ("nce", "linear", "random", 0.07, 4096, 0.5, 128)


def _paper_method(n, **over):
    spec = get_method("memory-bank")
    from selfsup.train.run import resolve_config

    cfg = resolve_config("memory-bank", "digits", preset="paper", overrides=over).method_cfg
    torch.manual_seed(0)
    enc = build_encoder("small-cnn", (1, 8, 8), 8)
    return spec.build(cfg, enc, DataInfo((1, 8, 8), (0.3,), (0.3,), n), aug=ImageAugConfig(), seed=0)


def test_one_cpu_step_of_the_paper_preset_gives_a_finite_loss():
    x, idx = load_dataset("digits").x_train[:16], torch.arange(16)
    m = _paper_method(100)
    out = m.training_step((x, idx))
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(m.nce.log_z)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters() if p.requires_grad)
    assert m.head.weight.grad.abs().sum() > 0


def test_a_short_run_lowers_the_nce_loss():
    """The paper preset, except that the bank starts at the initial features (``bank_init="features"``) and the
    views are the plain images: with Wu et al.'s random bank the loss first rises while the rows fill with
    real features (Z was fixed on random rows), which would hide what the encoder learns in 40 steps."""
    x = load_dataset("digits").x_train[:64]
    losses = {}
    for lr in (5e-3, 0.0):
        m = _paper_method(64, bank_init="features")
        assert m.cfg.loss == "nce" and m.nce.log_z.isnan()
        m.prepare(x, 64)
        plain = m.views.pipelines[0].plain
        m.views = lambda b, plain=plain: [plain(b)]
        params = [p for p in m.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr) if lr else torch.optim.SGD(params, lr=0.0)
        losses[lr] = []
        for step in range(40):
            sel = torch.randperm(64, generator=torch.Generator().manual_seed(step))[:32]
            out = m.training_step((x[sel], sel))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            m.on_after_optimizer_step(step + 1)
            losses[lr].append(float(out.loss.detach()))
    assert all(math.isfinite(v) for v in losses[5e-3])
    first, last = sum(losses[5e-3][:5]) / 5, sum(losses[5e-3][-5:]) / 5
    assert last < 0.75 * first, (first, last)  # measured: ~2.8 from ~5.3
    frozen = sum(losses[0.0][-5:]) / 5  # the same steps with a frozen encoder: the bank alone does not do it
    assert last < 0.85 * frozen, (last, frozen)  # measured: ~2.8 against ~3.7


# -- a paper-preset run through the engine: Z in the weights and in checkpoints, exact resume -------------
def test_interrupted_paper_preset_run_resumes_with_its_z(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from selfsup.cli.main import main
    from selfsup.train.module import SelfSupModule
    from selfsup.train.run import pretrain, resolve_config

    over = {"epochs": 2, "batch_size": 64, "seed": 1, "train_samples": 256, "threads": 1}  # 4 steps an epoch
    full = tmp_path / "full"
    pretrain(resolve_config("memory-bank", "digits", preset="paper", overrides=over), full, progress=False)
    original = SelfSupModule.on_train_batch_start

    def interrupt(self, batch, batch_idx):
        if self.global_step == 3:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    part = tmp_path / "part"
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", interrupt)
    with pytest.raises(KeyboardInterrupt):
        pretrain(resolve_config("memory-bank", "digits", preset="paper", overrides=over), part, progress=False)
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", original)
    ckpt = torch.load(part / "checkpoints" / "step-00000003.ckpt", map_location="cpu", weights_only=False)
    z3 = ckpt["state_dict"]["method.nce.log_z"]
    assert torch.isfinite(z3)  # estimated at step 1, saved with the weights
    assert main(["pretrain", "--resume", str(part), "--no-progress"]) == 0
    assert json.loads((part / "run.json").read_text())["steps"] == 8
    a, b = load_file(str(full / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys() and "nce.log_z" in a
    assert torch.equal(a["nce.log_z"], z3) and torch.equal(b["nce.log_z"], z3)  # never re-estimated
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


# -- two processes ---------------------------------------------------------------------------------------
WORLD, B, N, K, STEPS = 2, 8, 100, 20, 2
IDX = torch.tensor([3, 17, 42, 5, 99, 60, 0, 71])


def _run(sl):
    m = make(n=N, num_negatives=K, loss="nce", temperature=0.2)
    res = {"loss": [], "grads": [], "log_z": []}
    for step in range(STEPS):
        loss, grads = averaged_step(m, m.loss_on_view(_views(B, 10 + step)[sl], IDX[sl]))
        res["loss"].append(loss)
        res["grads"].append(grads)
        res["log_z"].append(m.nce.log_z.clone())
        sgd_step(m, grads, 0.1)
        m.on_after_optimizer_step(step + 1)
    res["bank"] = m.bank.bank.clone()
    return res


def _rank(rank, world):
    return _run(rank_rows(rank, world, B))


@pytest.mark.slow
def test_nce_in_two_processes_matches_one_process_on_the_whole_batch():
    """Z from the global first batch: both ranks hold the Z of one process on all 8 samples, and the loss,
    gradients and bank of 2 steps agree (only summation order differs)."""
    got = run_ranks(_rank, WORLD)
    ref = one_thread(_run, slice(0, B))
    for r in range(WORLD):
        for step in range(STEPS):
            assert_close(got[r]["log_z"][step], ref["log_z"][step], f"rank {r} step {step} log Z")
            assert_close(got[r]["loss"][step], ref["loss"][step], f"rank {r} step {step} loss")
            for k, g in ref["grads"][step].items():
                assert_close(got[r]["grads"][step][k], g, f"rank {r} step {step} grad {k}")
        assert_close(got[r]["bank"], ref["bank"], f"rank {r} bank")
        assert torch.equal(got[r]["log_z"][0], got[0]["log_z"][0])  # the same Z on every rank
    # a per-rank estimate (each rank's half only) would differ from the global one
    half = make(n=N, num_negatives=K, loss="nce", temperature=0.2)
    half.loss_on_view(_views(B, 10)[: B // 2], IDX[: B // 2])
    assert abs(float(half.nce.log_z) - float(ref["log_z"][0])) > 1e-4
