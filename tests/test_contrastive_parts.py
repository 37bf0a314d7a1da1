import pytest
import torch
import torch.nn.functional as F
from torch import nn

from selfsup.functional import nt_xent
from selfsup.functional.noncontrastive import (
    barlow_twins_loss,
    negative_cosine,
    vicreg_loss,
)
from selfsup.functional.nt_xent_gathered import nt_xent_gathered
from selfsup.modules.distributed import (
    batch_shuffle,
    batch_unshuffle,
    gather_with_grad,
    grouped_forward,
)
from selfsup.modules.ema import cosine_momentum, ema_update, momentum_copy
from selfsup.modules.memory_bank import MemoryBank
from selfsup.modules.queue import FeatureQueue


def test_queue_fifo_wraps_around():
    q = FeatureQueue(5, 2)
    a = torch.arange(6.0).view(3, 2)
    q.enqueue(a)
    assert int(q.ptr) == 3 and int(q.filled) == 3
    assert torch.equal(q.queue[:3], a)
    b = torch.arange(100.0, 108.0).view(4, 2)
    q.enqueue(b)  # 2 rows at 3,4 then 2 rows wrap to 0,1
    assert int(q.ptr) == 2 and int(q.filled) == 5
    assert torch.equal(q.queue[3:5], b[:2]) and torch.equal(q.queue[0:2], b[2:])
    assert torch.equal(q.queue[2], a[2])  # the oldest survivor
    big = torch.arange(14.0).view(7, 2)
    q.enqueue(big)  # more than K: only the newest K are kept
    assert int(q.ptr) == 2  # K keys written from the pointer: it ends where it started
    assert sorted(q.queue[:, 0].tolist()) == sorted(big[-5:, 0].tolist())


def test_queue_checkpoint_round_trip(tmp_path):
    q = FeatureQueue(7, 3, seed=1)
    q.enqueue(torch.randn(5, 3))
    q.enqueue(torch.randn(5, 3))
    torch.save(q.state_dict(), tmp_path / "q.pt")
    r = FeatureQueue(7, 3, seed=2)
    r.load_state_dict(torch.load(tmp_path / "q.pt"))
    assert torch.equal(r.queue, q.queue) and int(r.ptr) == int(q.ptr) == 3 and int(r.filled) == 7
    keys = torch.randn(2, 3)
    q.enqueue(keys)
    r.enqueue(keys)
    assert torch.equal(r.queue, q.queue)
    assert set(q.state_dict()) == {"queue", "ptr", "filled"}


def test_memory_bank_update_rule():
    bank = MemoryBank(10, 4, momentum=0.3, seed=0)
    old = bank.bank.clone()
    idx = torch.tensor([2, 7])
    f = torch.randn(2, 4)
    bank.update(idx, f)
    expect = F.normalize(0.3 * old[idx] + 0.7 * F.normalize(f, dim=1), dim=1)
    assert torch.allclose(bank.bank[idx], expect, atol=1e-6)
    others = torch.ones(10, dtype=torch.bool)
    others[idx] = False
    assert torch.equal(bank.bank[others], old[others])
    assert torch.allclose(bank.bank.norm(dim=1), torch.ones(10), atol=1e-5)
    m0 = MemoryBank(10, 4, momentum=0.0)
    m0.update(idx, f)
    assert torch.allclose(m0.bank[idx], F.normalize(f, dim=1), atol=1e-6)


def test_memory_bank_first_visit_fill():
    bank = MemoryBank(10, 4, momentum=0.5, seed=0, fill_on_first_visit=True)
    old = bank.bank.clone()
    idx = torch.tensor([2, 7])
    f = F.normalize(torch.randn(2, 4), dim=1)
    # unvisited rows: the positive is the feature itself, not the random initial vector
    assert torch.equal(bank.positives(idx, f), f)
    bank.update(idx, f)
    assert torch.allclose(bank.bank[idx], f, atol=1e-6)  # first visit overwrites, no mixing with old
    assert bank.visited.tolist() == [i in (2, 7) for i in range(10)]
    g = F.normalize(torch.randn(2, 4), dim=1)
    assert torch.equal(bank.positives(idx, g), bank.bank[idx])  # visited rows: the bank row
    bank.update(idx, g)  # second visit: the momentum rule
    assert torch.allclose(bank.bank[idx], F.normalize(0.5 * f + 0.5 * g, dim=1), atol=1e-6)
    assert torch.equal(bank.bank[3], old[3])
    assert set(bank.state_dict()) == {"bank", "visited"}
    # without the option the random vector is mixed in on the first visit and is the positive
    plain = MemoryBank(10, 4, momentum=0.5, seed=0)
    assert torch.equal(plain.positives(idx, f), old[idx])


def test_memory_bank_knn():
    bank = MemoryBank(4, 2, momentum=0.0)
    bank.update(torch.arange(4), torch.tensor([[1.0, 0], [1, 0.1], [0, 1], [0.1, 1]]))
    labels = torch.tensor([0, 0, 1, 1])
    pred = bank.knn_predict(torch.tensor([[1.0, 0.05], [0.02, 1.0]]), labels, k=2)
    assert pred.tolist() == [0, 1]


def test_ema_math_and_frozen_copy():
    online = nn.Linear(3, 2)
    target = momentum_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    t0 = [p.clone() for p in target.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    ema_update(target, online, 0.9)
    for a, b, o in zip(target.parameters(), t0, online.parameters()):
        assert torch.allclose(a, 0.9 * b + 0.1 * o, atol=1e-6)
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 100, 100) == pytest.approx(1.0)


def test_shuffle_single_process_restores_exactly():
    x = torch.randn(9, 3)
    g = torch.Generator().manual_seed(0)
    xs, unshuf = batch_shuffle(x, g)
    assert not torch.equal(xs, x)
    assert torch.equal(batch_unshuffle(xs, unshuf), x)
    assert torch.equal(gather_with_grad(x), x)


def test_grouped_forward_separates_bn_statistics():
    bn = nn.BatchNorm1d(2)
    x = torch.randn(8, 2) * 3 + 1
    perm = torch.randperm(8)
    out = grouped_forward(bn, x, 2, perm)
    xs = x[perm]
    expect = torch.cat([F.batch_norm(c, None, None, training=True) for c in xs.chunk(2)])[torch.argsort(perm)]
    assert torch.allclose(out, expect, atol=1e-5)
    assert torch.allclose(grouped_forward(bn, x, 1), F.batch_norm(x, None, None, training=True), atol=1e-5)


def test_pure_losses():
    z = torch.randn(16, 8)
    assert negative_cosine(z, z).item() == pytest.approx(-1.0, abs=1e-5)
    p = torch.randn(16, 8, requires_grad=True)
    t = torch.randn(16, 8, requires_grad=True)
    negative_cosine(p, t).backward()
    assert t.grad is None and p.grad is not None  # stop-gradient
    # Barlow Twins: identical whitened decorrelated inputs -> loss ~ 0
    w = torch.linalg.qr(torch.randn(64, 8))[0] * 8
    assert barlow_twins_loss(w, w).item() < 1e-3
    assert barlow_twins_loss(w, torch.randn(64, 8)).item() > 1.0
    assert vicreg_loss(w, w).item() < vicreg_loss(w, torch.randn(64, 8)).item()
    assert torch.isfinite(vicreg_loss(torch.zeros(4, 3), torch.zeros(4, 3)))
    # one process: the gathered NT-Xent is NT-Xent
    zz = torch.randn(10, 5)
    assert torch.allclose(nt_xent_gathered(zz, zz, 0, 0.3), nt_xent(zz, 0.3), atol=1e-6)
