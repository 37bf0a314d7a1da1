"""A 2-process CPU (gloo) run of DINO gives the same loss, gradients, centre and teacher as one process
on the whole batch (issue 21's acceptance).

The crops of the whole batch are made once (same seed in every process) and each rank takes its
images' rows of every crop, so only the math is compared, not the view maker. Each rank's loss is the
mean over its half of the images; DDP averages the gradients over ranks, which must equal the gradient
of one process's mean over all images. The centre must move with the mean of the teacher's logits
over the *global* batch (summed across ranks), so after a step every rank holds the one-process centre;
3 steps, so later steps use the centre and EMA teacher of the earlier ones. The encoder has no
BatchNorm (per-rank statistics would differ by design); the DINO head has none.
Tolerance: atol 1e-5, rtol 1e-4 (float32; only summation order differs).
"""

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from selfsup.augment import Crops, ImageAugConfig
from selfsup.methods import DataInfo
from selfsup.methods.dino import DINO, DINOConfig

WORLD = 2
B = 8  # global batch
STEPS = 3
ATOL, RTOL = 1e-5, 1e-4
CFG = dict(out_dim=32, hidden_dim=16, bottleneck_dim=8, n_local_crops=2, local_size=8, channels_last=False,
           center_momentum=0.5, momentum=0.9, teacher_temp_warmup=0.5)


class ConvNoBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 5)
        self.out_dim = 5

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _model() -> DINO:
    torch.manual_seed(0)
    return DINO.build(DINOConfig(**CFG), ConvNoBN(), DataInfo((1, 16, 16), (0.3,), (0.3,), 64),
                      aug=ImageAugConfig(blur_p=0.5), seed=0)


def _rows(crops: torch.Tensor, n_crops: int, sl: slice) -> torch.Tensor:
    """Rows of images ``sl`` in every crop of a crop-major (n_crops * B, ...) tensor."""
    return crops.view(n_crops, B, *crops.shape[1:])[:, sl].reshape(-1, *crops.shape[1:])


def _run(sl: slice) -> dict:
    m = _model()
    maker = _model().views  # the whole batch's crops, made the same way in every process
    world = dist.get_world_size() if dist.is_initialized() else 1
    res = {"loss": [], "grads": [], "center": []}
    for step in range(STEPS):
        x = torch.randint(0, 256, (B, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(step))
        full = maker(x)
        mine = Crops(_rows(full.global_crops, 2, sl), _rows(full.local_crops, 2, sl))
        m.views = lambda _x, c=mine: c
        m.on_train_progress(step / STEPS)
        out = m.training_step(x[sl])
        out.loss.backward()
        grads = {k: p.grad.clone() for k, p in m.named_parameters() if p.requires_grad}
        loss = out.loss.detach().clone()
        if world > 1:  # what DDP does with the gradients; the loss averaged to compare it
            dist.all_reduce(loss)
            loss /= world
            for g in grads.values():
                dist.all_reduce(g)
                g /= world
        with torch.no_grad():
            for k, p in m.named_parameters():
                if p.requires_grad:
                    p.sub_(0.5 * grads[k])
                    p.grad = None
        m.on_after_optimizer_step(step + 1)
        res["loss"].append(loss)
        res["grads"].append(grads)
        res["center"].append(m.center.clone())
    res["teacher"] = {k: v.clone() for k, v in m.state_dict().items() if k.startswith("teacher_")}
    return res


def _worker(rank, world, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        n = B // world
        torch.save(_run(slice(rank * n, (rank + 1) * n)), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def results():
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_worker, args=(WORLD, os.path.join(d, "init"), d), nprocs=WORLD, join=True)
        return [torch.load(os.path.join(d, f"rank{r}.pt")) for r in range(WORLD)]


@pytest.fixture(scope="module")
def single():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(slice(0, B))
    finally:
        torch.set_num_threads(n)


def _close(a, b, what):
    torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL, msg=lambda m: f"{what}: {m}")


@pytest.mark.slow
def test_two_processes_match_one_process(results, single):
    for r in range(WORLD):
        got = results[r]
        for step in range(STEPS):
            _close(got["loss"][step], single["loss"][step], f"rank {r} step {step} loss")
            assert set(got["grads"][step]) == set(single["grads"][step])
            for k, g in single["grads"][step].items():
                _close(got["grads"][step][k], g, f"rank {r} step {step} grad {k}")
            _close(got["center"][step], single["center"][step], f"rank {r} step {step} centre")
        for k, v in single["teacher"].items():
            _close(got["teacher"][k], v, f"rank {r} teacher {k}")


@pytest.mark.slow
def test_the_centre_is_the_global_batch_mean_not_the_local_one(results, single):
    """Each rank alone would centre on its own half: the ranks' centres would then differ from each other."""
    assert torch.equal(results[0]["center"][0], results[1]["center"][0])  # bit-identical across ranks
    assert single["center"][0].abs().sum() > 0
    m = _model()
    x = torch.randint(0, 256, (B, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    full = m.views(x)
    with torch.no_grad():
        t = m.teacher_head(m.teacher_encoder(full.global_crops)).view(2, B, -1)  # (2, B, K)
    half = 0.5 * t[:, : B // 2].mean(dim=(0, 1))  # what rank 0 would hold with a local centre (0.5 * 0 + 0.5 * mean)
    _close(single["center"][0], 0.5 * t.mean(dim=(0, 1)), "one-process centre")
    assert not torch.allclose(results[0]["center"][0], half, atol=1e-4)
