"""A 2-process CPU (gloo) run of DINO gives the same loss, gradients, centre and teacher as one process
on the whole batch (issue 21's acceptance).

The crops of the whole batch are made once (same seed in every process) and each rank takes its
images' rows of every crop, so only the math is compared, not the view maker. Each rank's loss is the
mean over its half of the images; DDP averages the gradients over ranks, which must equal the gradient
of one process's mean over all images. The centre must move with the mean of the teacher's logits
over the *global* batch (summed across ranks), so after a step every rank holds the one-process centre;
3 steps, so later steps use the centre and EMA teacher of the earlier ones. The encoder has no
BatchNorm (per-rank statistics would differ by design); the DINO head has none.
Tolerance: tests/_distributed.py's (float32; only summation order differs).
"""

import pytest
import torch
from _distributed import assert_close, averaged_step, one_thread, rank_rows, run_ranks, sgd_step
from torch import nn

from selfsup.augment import Crops, ImageAugConfig
from selfsup.methods import DataInfo
from selfsup.methods.dino import DINO, DINOConfig

WORLD = 2
B = 8  # global batch
STEPS = 3
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
    res = {"loss": [], "grads": [], "center": []}
    for step in range(STEPS):
        x = torch.randint(0, 256, (B, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(step))
        full = maker(x)
        mine = Crops(_rows(full.global_crops, 2, sl), _rows(full.local_crops, 2, sl))
        m.views = lambda _x, c=mine: c
        m.on_train_progress(step / STEPS)
        loss, grads = averaged_step(m, m.training_step(x[sl]).loss)
        sgd_step(m, grads, 0.5)
        m.on_after_optimizer_step(step + 1)
        res["loss"].append(loss)
        res["grads"].append(grads)
        res["center"].append(m.center.clone())
    res["teacher"] = {k: v.clone() for k, v in m.state_dict().items() if k.startswith("teacher_")}
    return res


def _rank(rank: int, world: int) -> dict:
    return _run(rank_rows(rank, world, B))


@pytest.fixture(scope="module")
def results():
    return run_ranks(_rank, WORLD)


@pytest.fixture(scope="module")
def single():
    return one_thread(_run, slice(0, B))


@pytest.mark.slow
def test_two_processes_match_one_process(results, single):
    for r in range(WORLD):
        got = results[r]
        for step in range(STEPS):
            assert_close(got["loss"][step], single["loss"][step], f"rank {r} step {step} loss")
            assert set(got["grads"][step]) == set(single["grads"][step])
            for k, g in single["grads"][step].items():
                assert_close(got["grads"][step][k], g, f"rank {r} step {step} grad {k}")
            assert_close(got["center"][step], single["center"][step], f"rank {r} step {step} centre")
        for k, v in single["teacher"].items():
            assert_close(got["teacher"][k], v, f"rank {r} teacher {k}")


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
    assert_close(single["center"][0], 0.5 * t.mean(dim=(0, 1)), "one-process centre")
    assert not torch.allclose(results[0]["center"][0], half, atol=1e-4)
