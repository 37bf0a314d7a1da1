import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.functional import info_nce, nt_xent
from selfsup.losses import InfoNCELoss, NTXentLoss


def slow_nt_xent(z, t):
    """Eq. 1 of SimCLR written as a loop over anchors."""
    z = F.normalize(z.double(), dim=1)
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        num = math.exp(float(z[i] @ z[j]) / t)
        den = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n2) if k != i)
        total += -math.log(num / den)
    return total / n2


def slow_info_nce(q, p, negs, t):
    q, p, negs = F.normalize(q.double(), dim=1), F.normalize(p.double(), dim=1), F.normalize(negs.double(), dim=1)
    total = 0.0
    for i in range(len(q)):
        pos = math.exp(float(q[i] @ p[i]) / t)
        neg = sum(math.exp(float(q[i] @ n) / t) for n in negs)
        total += -math.log(pos / (pos + neg))
    return total / len(q)


def test_nt_xent_matches_slow_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(12, 7, generator=g)
    for t in (0.1, 0.5, 1.0):
        assert nt_xent(z, t).item() == pytest.approx(slow_nt_xent(z, t), rel=1e-5)


def test_nt_xent_closed_form_orthogonal_pairs():
    # views identical, different samples orthogonal: positive sim 1, negatives 0.
    n, t = 3, 0.5
    e = torch.eye(n)
    z = torch.cat([e, e])
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + (2 * n - 2)))
    assert nt_xent(z, t).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_symmetric_in_view_order():
    z = torch.randn(10, 5)
    swapped = torch.cat([z[5:], z[:5]])
    assert nt_xent(z, 0.3).item() == pytest.approx(nt_xent(swapped, 0.3).item(), rel=1e-6)


def test_nt_xent_low_temperature_and_bf16_finite():
    z = torch.randn(64, 16, requires_grad=True)
    loss = nt_xent(z, 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    zb = torch.randn(64, 16).bfloat16().requires_grad_()
    lb = nt_xent(zb, 0.05)
    lb.backward()
    assert torch.isfinite(lb) and torch.isfinite(zb.grad.float()).all()


def test_info_nce_matches_slow_loop_and_closed_form():
    g = torch.Generator().manual_seed(1)
    q, p, negs = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g), torch.randn(9, 8, generator=g)
    assert info_nce(q, p, negs, 0.2).item() == pytest.approx(slow_info_nce(q, p, negs, 0.2), rel=1e-5)
    # positive identical, K negatives orthogonal: -log(e^{1/t} / (e^{1/t} + K))
    q = torch.eye(4, dtype=torch.float64)[:1]
    negs = torch.eye(4, dtype=torch.float64)[1:]
    t = 0.1
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 3))
    assert info_nce(q, q, negs, t).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_per_query_negatives_equals_shared():
    q, p, negs = torch.randn(4, 6), torch.randn(4, 6), torch.randn(7, 6)
    shared = info_nce(q, p, negs, 0.3)
    per = info_nce(q, p, negs.expand(4, 7, 6), 0.3)
    assert shared.item() == pytest.approx(per.item(), rel=1e-6)


def test_info_nce_finite_at_low_temperature_bf16():
    q = torch.randn(32, 16).bfloat16().requires_grad_()
    loss = info_nce(q, q.detach() + 0.01, torch.randn(100, 16).bfloat16(), 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(q.grad.float()).all()


def test_loss_modules_and_bad_args():
    z = torch.randn(8, 4)
    assert NTXentLoss(0.5)(z).item() == pytest.approx(nt_xent(z, 0.5).item())
    q = torch.randn(3, 4)
    assert InfoNCELoss(0.2)(q, q, z).item() == pytest.approx(info_nce(q, q, z, 0.2).item())
    with pytest.raises(ValueError):
        nt_xent(torch.randn(5, 4), 0.5)
    with pytest.raises(ValueError):
        nt_xent(z, 0.0)
