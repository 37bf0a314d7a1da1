import pytest
import torch

from selfsup.augment import ImageAugConfig
from selfsup.data import load_dataset
from selfsup.encoders import build_encoder
from selfsup.methods import DataInfo, get_method

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: 2 threads on a loaded 2-core machine are ~20x slower

NAMES = ["moco-v1", "moco-v2", "memory-bank", "byol", "simsiam", "barlow-twins", "vicreg"]
SMALL = {
    "moco-v1": {"queue_size": 32, "proj_hidden_dim": 16, "proj_out_dim": 8},
    "moco-v2": {"queue_size": 32, "proj_hidden_dim": 16, "proj_out_dim": 8},
    "memory-bank": {"feature_dim": 8, "num_negatives": 20},
    "byol": {"proj_hidden_dim": 16, "proj_out_dim": 8, "pred_hidden_dim": 16},
    "simsiam": {"proj_dim": 16, "pred_hidden_dim": 8},
    "barlow-twins": {"proj_dim": 16},
    "vicreg": {"proj_dim": 16},
}


def make(name, seed=0, **over):
    spec = get_method(name)
    torch.manual_seed(seed)
    enc = build_encoder("small-cnn", (1, 8, 8), 8)
    cfg = spec.config_cls(**{**SMALL[name], **over})
    return spec.build(cfg, enc, DataInfo((1, 8, 8), (0.3,), (0.3,), 100), aug=ImageAugConfig(), seed=seed)


def tiny_batch(n=16):
    d = load_dataset("digits")
    return d.x_train[:n], torch.arange(n)


@pytest.mark.parametrize("name", NAMES)
def test_step_finite_only_trainable_params_change(name):
    m = make(name)
    spec = get_method(name)
    assert spec.family == "contrastive" and spec.modality == "image" and spec.presets
    trainable = {k for k, p in m.named_parameters() if p.requires_grad}
    frozen = {k for k, p in m.named_parameters() if not p.requires_grad}
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    out = m.training_step(tiny_batch())
    assert torch.isfinite(out.loss) and "loss" in out.logs
    out.loss.backward()
    for k, p in m.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), k
        else:
            assert p.grad is None, k  # no gradient reaches momentum copies
    opt.step()
    changed = {k for k, v in m.state_dict().items() if not torch.equal(v, before[k])}
    assert trainable <= changed
    assert not (changed & frozen)  # momentum networks move only in on_after_optimizer_step
    assert all(k in trainable or "running" in k or "num_batches" in k for k in changed)
    m.on_after_optimizer_step(1)
    assert m.embed(tiny_batch(4)[0]).shape == (4, m.encoder.out_dim)


@pytest.mark.parametrize("name", ["moco-v2", "byol"])
def test_momentum_network_follows_ema(name):
    m = make(name)
    tgt = m.key_encoder if name.startswith("moco") else m.target_encoder
    t0 = [p.clone() for p in tgt.parameters()]
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m.training_step(tiny_batch()).loss.backward()
    opt.step()
    m.on_after_optimizer_step(1)
    mom = m.cfg.momentum
    for a, b, o in zip(tgt.parameters(), t0, m.encoder.parameters()):
        assert torch.allclose(a, mom * b + (1 - mom) * o, atol=1e-6)


def test_moco_queue_gets_keys_and_is_checkpointed():
    m = make("moco-v2")
    q0 = m.queue.queue.clone()
    m.training_step(tiny_batch(16))
    m.on_after_optimizer_step(1)
    assert int(m.queue.ptr) == 16 and not torch.equal(m.queue.queue[:16], q0[:16])
    assert torch.equal(m.queue.queue[16:], q0[16:])
    sd = m.state_dict()
    assert "queue.queue" in sd and "queue.ptr" in sd and "key_encoder" in "".join(sd)
    r = make("moco-v2", seed=1)
    r.load_state_dict(sd)
    assert torch.equal(r.queue.queue, m.queue.queue) and int(r.queue.ptr) == 16


def test_memory_bank_updates_batch_rows_and_full_softmax():
    m = make("memory-bank", num_negatives=0)
    b0 = m.bank.bank.clone()
    x, idx = tiny_batch(8)
    assert torch.isfinite(m.training_step((x, idx + 50)).loss)
    m.on_after_optimizer_step(1)
    rows = torch.zeros(100, dtype=torch.bool)
    rows[50:58] = True
    assert not torch.equal(m.bank.bank[rows], b0[rows]) and torch.equal(m.bank.bank[~rows], b0[~rows])
    assert "bank.bank" in m.state_dict()


LEARN_OVER = {"moco-v1": {"momentum": 0.9}, "moco-v2": {"momentum": 0.9}, "byol": {"momentum": 0.9}}  # 0.99x: ~frozen targets in 40 steps


def short_run_losses(name, lr, steps=40):
    """Per-step losses of ``steps`` Adam steps on one fixed batch of 64 digits (fresh views each step, seeded)."""
    m = make(name, **LEARN_OVER.get(name, {}))
    x, i = tiny_batch(64)
    if hasattr(m, "prepare"):
        m.prepare(x, 64)  # what the engine does before the first step: the memory bank's rows = initial features
    if hasattr(m, "queue"):  # MoCo: fill the random initial queue with real keys before measuring
        m.training_step((x, i))
        m.on_after_optimizer_step(0)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=lr)
    losses = []
    for s in range(steps):
        out = m.training_step((x, i))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        m.on_after_optimizer_step(s + 1)
        losses.append(out.loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    return losses


def loss_drop(losses, k=5):
    """(first k mean, last k mean, the drop a learning run must beat: 5% of |first| + 0.02)."""
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    return first, last, 0.05 * abs(first) + 0.02


@pytest.mark.parametrize("name", NAMES)
def test_short_run_lowers_loss(name):
    first, last, margin = loss_drop(short_run_losses(name, lr=3e-3))
    assert last < first - margin, f"{name}: loss {first:.3f} -> {last:.3f}, expected a drop > {margin:.3f}"
    # the optimiser lowered it, not the queue / bank / EMA updates alone: the same run with lr 0 ends higher
    _, frozen_last, _ = loss_drop(short_run_losses(name, lr=0.0))
    assert last < frozen_last - margin, f"{name}: trained {last:.3f} vs lr=0 {frozen_last:.3f}"


def test_memory_bank_feature_init_fills_each_row_with_its_initial_feature():
    d = load_dataset("digits")
    x = d.x_train[:100]
    m = make("memory-bank", bank_init="features").eval()  # eval: BN per sample, so batching cannot matter
    random_bank = m.bank.bank.clone()
    m.prepare(x, 32)
    with torch.no_grad():
        expected = m.features(m.views.pipelines[0].plain(x))
    assert torch.allclose(m.bank.bank, expected, atol=1e-6)
    assert not torch.allclose(m.bank.bank, random_bank)
    assert get_method("memory-bank").config_cls().bank_init == "features"  # the default
    r = make("memory-bank", bank_init="random")  # Wu et al.'s random bank: prepare leaves it alone
    b0 = r.bank.bank.clone()
    r.prepare(x, 32)
    assert torch.equal(r.bank.bank, b0)
    with pytest.raises(Exception, match="rows"):  # more samples than bank rows
        make("memory-bank", bank_init="features").prepare(torch.cat([x, x[:1]]), 32)
    part = make("memory-bank", bank_init="features").eval()  # train_samples=50: the first 50 rows only
    before = part.bank.bank.clone()
    part.prepare(x[:50], 32)
    assert not torch.allclose(part.bank.bank[:50], before[:50]) and torch.equal(part.bank.bank[50:], before[50:])
    with pytest.raises(Exception, match="bank_init"):
        make("memory-bank", bank_init="zeros")


def test_prepare_runs_on_a_new_fit_only_not_on_resume():
    from selfsup.train.loader import BatchLoader
    from selfsup.train.module import SelfSupModule
    from selfsup.train.optim import OptimConfig

    calls = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(2, 2)

        def prepare(self, x, batch_size):
            calls.append((len(x), batch_size))

    x = torch.zeros(40, 2)
    fresh = SelfSupModule(Probe(), OptimConfig(), BatchLoader(x, 8), epochs=1)
    fresh.on_fit_start()
    fresh.on_train_start()
    assert calls == [(40, 8)]
    resumed = SelfSupModule(Probe(), OptimConfig(), BatchLoader(x, 8), epochs=1)
    resumed.on_load_checkpoint({})  # what Lightning calls when it restores a checkpoint
    resumed.on_fit_start()
    resumed.on_train_start()
    assert calls == [(40, 8)]


def test_memory_bank_run_fills_the_bank_through_the_engine(tmp_path):
    from selfsup.train.run import pretrain, resolve_config

    cfg = resolve_config("memory-bank", "digits", overrides={"epochs": 1, "batch_size": 32, "train_samples": 200,
                                                            "feature_dim": 8, "num_negatives": 20, "threads": 1})
    meta = pretrain(cfg, tmp_path / "run", progress=False)
    assert meta["status"] == "finished" and meta["steps"] == 6
    from safetensors.torch import load_file

    bank = load_file(str(tmp_path / "run" / "model.safetensors"))["bank.bank"]
    from selfsup.modules.memory_bank import MemoryBank

    ref = MemoryBank(bank.shape[0], 8, seed=0).bank  # the random initial rows of the same seed
    # 6 steps of 32 visit 192 of the 200 training samples: with a random bank 8 of the first 200 rows
    # would still be random; filled from the initial features, every one of them differs
    assert not torch.isclose(bank[:200], ref[:200]).all(dim=1).any()
    assert torch.allclose(bank[200:], ref[200:])  # beyond the training subset: untouched


def test_feature_init_marks_only_the_filled_rows_as_visited():
    x = load_dataset("digits").x_train[:50]
    m = make("memory-bank", bank_init="features", fill_on_first_visit=True)
    m.prepare(x, 32)  # a 50-sample training subset of a 100-row bank
    assert m.bank.visited[:50].all() and not m.bank.visited[50:].any()


def test_memory_bank_proximal_term_adds_lambda_times_squared_distance_to_the_bank_row():
    x, idx = tiny_batch(8)
    plain, prox = make("memory-bank"), make("memory-bank", proximal=2.0)
    prox.load_state_dict(plain.state_dict())
    v = plain.views.pipelines[0].plain(x)
    base, with_prox = plain.loss_on_view(v, idx), prox.loss_on_view(v, idx)  # same negatives: same generator seed
    with torch.no_grad():
        dist = (plain.features(v) - plain.bank.bank[idx]).pow(2).sum(1).mean()
    assert float(dist) > 0.1  # a random bank row is far from the feature: the term is not negligible
    assert torch.allclose(with_prox - base, 2.0 * dist, atol=1e-5)
    with pytest.raises(Exception, match="proximal"):
        make("memory-bank", proximal=-1.0)


def test_memory_bank_mlp_head_trains_and_bad_head_is_refused():
    m = make("memory-bank", head="mlp", proj_hidden_dim=16)
    assert isinstance(m.head, torch.nn.Sequential) and isinstance(make("memory-bank", head="linear").head, torch.nn.Linear)
    assert get_method("memory-bank").config_cls().head == "linear"  # the default (chosen on validation), as the paper
    assert get_method("memory-bank").presets["paper"]["head"] == "linear"
    x, idx = tiny_batch(8)
    loss = m.training_step((x, idx)).loss
    loss.backward()
    assert torch.isfinite(loss) and m.head[0].weight.grad.abs().sum() > 0
    with pytest.raises(Exception, match="head"):
        make("memory-bank", head="conv")


def test_a_memory_bank_run_from_before_the_head_option_resumes_with_its_linear_head():
    from selfsup.train.run import config_from_dict, resolve_config

    stored = resolve_config("memory-bank", "digits", overrides={"head": "mlp"}).to_dict()
    assert stored["method_config"]["head"] == "mlp"
    assert config_from_dict(stored).method_cfg.head == "mlp"  # a run started with the MLP head resumes with it
    del stored["method_config"]["head"]  # run.json written before the option existed
    assert config_from_dict(stored).method_cfg.head == "linear"


@pytest.mark.parametrize("name", NAMES)
def test_stored_config_round_trips_with_keys_two_configs_share(name):
    """MoCo/BYOL's EMA ``momentum`` and the optimiser's ``momentum`` share a name: a resumed run must get
    each back in its own config (they were once merged by name, and MoCo resumed with m = 0.9)."""
    from selfsup.train.run import config_from_dict, resolve_config

    cfg = resolve_config(name, "digits", overrides={"lr": "3e-3"})
    back = config_from_dict(cfg.to_dict())
    assert back == cfg
    assert back.optim.lr == 3e-3
    assert config_from_dict(cfg.to_dict(), {"lr": "1e-3"}).optim.lr == 1e-3  # a resume change still applies
