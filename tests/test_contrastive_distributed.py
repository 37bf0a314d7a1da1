"""2-process CPU (gloo) runs agree with one process on the concatenated batch.

Each rank computes its loss on its half of the batch and its gradients are averaged over
ranks (what DDP does); this must equal the loss and gradients of one process on the whole
batch. Tolerance: atol 1e-5, rtol 1e-4 (float32; only summation order differs). The encoder
has no BatchNorm so the comparison is exact up to rounding (BN statistics differ by design).
"""

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from selfsup.augment import ImageAugConfig
from selfsup.methods import DataInfo, get_method
from selfsup.modules.distributed import batch_shuffle, batch_unshuffle

WORLD = 2
B = 8  # global batch
ATOL, RTOL = 1e-5, 1e-4


class TinyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 6))
        self.out_dim = 6

    def forward(self, x):
        return self.net(x)


def _views():
    g = torch.Generator().manual_seed(123)
    return torch.randn(B, 1, 8, 8, generator=g), torch.randn(B, 1, 8, 8, generator=g)


def _model(name):
    torch.manual_seed(0)
    spec = get_method(name)
    over = {"projection": "linear"} if name == "simclr" else {"head": "linear", "queue_size": 20, "proj_out_dim": 5, "momentum": 0.9}
    cfg = spec.config_cls(**over)
    return spec.build(cfg, TinyEncoder(), DataInfo((1, 8, 8), (0.0,), (1.0,), 100), ImageAugConfig(), 0)


def _run(name, sl):
    m = _model(name)
    v1, v2 = _views()
    m.views = lambda x: [v1[sl], v2[sl]]  # fixed views: same pixels in both set-ups
    out = m.training_step(torch.zeros(sl.stop - sl.start, 1, 8, 8, dtype=torch.uint8))
    out.loss.backward()
    grads = {k: p.grad.clone() for k, p in m.named_parameters() if p.requires_grad}
    _, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    loss = out.loss.detach().clone()
    if world > 1:
        dist.all_reduce(loss)
        loss /= world
        for g in grads.values():
            dist.all_reduce(g)
            g /= world
    result = {"loss": loss, "grads": grads}
    if name != "simclr":
        with torch.no_grad():
            for k, p in m.named_parameters():
                if p.requires_grad:
                    p.sub_(0.1 * grads[k])
        m.on_after_optimizer_step(1)
        result["queue"] = m.queue.queue.clone()
        result["key"] = [p.clone() for p in m.key_encoder.parameters()]
    return result


def _worker(rank, world, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        n = B // world
        sl = slice(rank * n, (rank + 1) * n)
        res = {name: _run(name, sl) for name in ("simclr", "moco-v1")}
        x = torch.arange(rank * 3, rank * 3 + 3).float().unsqueeze(1)  # local rows
        xs, unshuf = batch_shuffle(x, torch.Generator().manual_seed(rank))  # ranks disagree on seeds
        res["shuffle"] = {"x": x, "xs": xs, "back": batch_unshuffle(xs, unshuf)}
        torch.save(res, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def results():
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_worker, args=(WORLD, os.path.join(d, "init"), d), nprocs=WORLD, join=True)
        return [torch.load(os.path.join(d, f"rank{r}.pt")) for r in range(WORLD)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["simclr", "moco-v1"])
def test_two_processes_match_one_process(results, name):
    single = _run(name, slice(0, B))
    for r in range(WORLD):
        got = results[r][name]
        torch.testing.assert_close(got["loss"], single["loss"], atol=ATOL, rtol=RTOL)
        for k, g in single["grads"].items():
            torch.testing.assert_close(got["grads"][k], g, atol=ATOL, rtol=RTOL, msg=f"{name} grad {k}")
        if name != "simclr":  # queues identical on every rank and equal to the single-process queue
            torch.testing.assert_close(got["queue"], single["queue"], atol=ATOL, rtol=RTOL)
            for a, b in zip(got["key"], single["key"]):
                torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL)


@pytest.mark.slow
def test_shuffle_bn_across_processes_restores_order(results):
    all_x = torch.cat([results[r]["shuffle"]["x"] for r in range(WORLD)])
    all_xs = torch.cat([results[r]["shuffle"]["xs"] for r in range(WORLD)])
    assert sorted(all_xs.flatten().tolist()) == sorted(all_x.flatten().tolist())  # a permutation
    for r in range(WORLD):
        assert torch.equal(results[r]["shuffle"]["back"], results[r]["shuffle"]["x"])  # exact
