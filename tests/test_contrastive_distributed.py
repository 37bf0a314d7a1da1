"""2-process CPU (gloo) runs agree with one process on the concatenated batch.

Each rank computes its loss on its half of the batch and its gradients are averaged over
ranks (what DDP does); this must equal the loss and gradients of one process on the whole
batch, step after step (2 steps, so the second step sees the queue / bank the first one wrote).
Tolerance: tests/_distributed.py's (float32; only summation order differs).

* SimCLR and the memory bank use an encoder without BatchNorm (and the bank a linear head):
  there the per-rank BN statistics would differ from the whole batch's by design.
* MoCo uses small-cnn (conv-BN-ReLU) and, for v2, the MLP head with BatchNorm1d. Its
  single-process default (``bn_groups=2``: the key batch permuted, then normalised in two
  chunks) is the reference of shuffle-BN: two processes draw the same permutation, and each
  rank's key sub-batch is one chunk. So the 2-process run must equal the 1-process run exactly,
  and the key sub-batches must differ from the query sub-batches (the point of shuffle-BN).
* The memory bank: every rank's bank is identical after a step and equal to the bank of one
  process on the whole batch (features and dataset indices gathered from all ranks).
"""

import pytest
import torch
from _distributed import assert_close, averaged_step, one_thread, rank_rows, run_ranks, sgd_step
from torch import nn

from selfsup.augment import ImageAugConfig
from selfsup.encoders import build_encoder
from selfsup.methods import DataInfo, get_method
from selfsup.modules.distributed import batch_shuffle, batch_unshuffle

WORLD = 2
B = 8  # global batch
STEPS = 2
N = 100  # dataset size (memory bank rows)
IDX = torch.tensor([3, 17, 42, 5, 99, 60, 0, 71])  # dataset indices of the global batch

_MOCO = {"queue_size": 20, "proj_out_dim": 5, "momentum": 0.9}
_BANK = {"head": "linear", "feature_dim": 5, "bank_init": "random"}
CASES = {  # case -> (method, encoder, config overrides)
    "simclr": ("simclr", "tiny", {"projection": "linear"}),
    "moco-v1": ("moco-v1", "bn", {**_MOCO, "head": "linear"}),
    "moco-v2": ("moco-v2", "bn", {**_MOCO, "head": "mlp", "proj_hidden_dim": 12}),  # Linear-BN-ReLU-Linear head
    "memory-bank": ("memory-bank", "tiny", {**_BANK, "num_negatives": 20}),
    "memory-bank-full-softmax": ("memory-bank", "tiny", {**_BANK, "num_negatives": 0}),
    "memory-bank-first-visit": ("memory-bank", "tiny", {**_BANK, "num_negatives": 20, "fill_on_first_visit": True,
                                                        "proximal": 1.0, "bank_momentum": 0.3}),
}


class TinyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 6))
        self.out_dim = 6

    def forward(self, x):
        return self.net(x)


def _views(step):
    g = torch.Generator().manual_seed(123 + step)
    return torch.randn(B, 1, 8, 8, generator=g), torch.randn(B, 1, 8, 8, generator=g)


def _model(case):
    method, encoder, over = CASES[case]
    torch.manual_seed(0)
    spec = get_method(method)
    enc = TinyEncoder() if encoder == "tiny" else build_encoder("small-cnn", (1, 8, 8), 4)
    if encoder == "bn":
        assert any(isinstance(mod, nn.BatchNorm2d) for mod in enc.modules())
    return spec.build(spec.config_cls(**over), enc, DataInfo((1, 8, 8), (0.0,), (1.0,), N),
                      aug=ImageAugConfig(), seed=0)


def _row_ids(rows, all_rows):
    """Which rows of ``all_rows`` (B, ...) the rows of ``rows`` are (exact pixel match)."""
    return [next(j for j in range(len(all_rows)) if torch.equal(r, all_rows[j])) for r in rows]


def _run(case, sl):
    """STEPS steps on rows ``sl`` of the global batch; with several processes the gradients are averaged."""
    m = _model(case)
    method = CASES[case][0]
    res = {"loss": [], "grads": []}
    seen = {"query": [], "key": []}  # step 1: the batches BatchNorm saw in the query and key encoders
    hooks = []
    if method.startswith("moco"):
        hooks = [m.encoder.register_forward_pre_hook(lambda mod, inp: seen["query"].append(inp[0].clone())),
                 m.key_encoder.register_forward_pre_hook(lambda mod, inp: seen["key"].append(inp[0].clone()))]
    for step in range(STEPS):
        v1, v2 = _views(step)
        m.views = (lambda x, a=v1[sl], b=v2[sl]: [a]) if method == "memory-bank" else (lambda x, a=v1[sl], b=v2[sl]: [a, b])
        x = torch.zeros(sl.stop - sl.start, 1, 8, 8, dtype=torch.uint8)  # pixels come from the fixed views
        loss, grads = averaged_step(m, m.training_step((x, IDX[sl])).loss)
        res["loss"].append(loss)
        res["grads"].append(grads)
        sgd_step(m, grads, 0.1)
        m.on_after_optimizer_step(step + 1)
        for h in hooks:
            h.remove()
        hooks = []
        if step == 0 and method.startswith("moco"):
            res["query_ids"] = [_row_ids(q, v1) for q in seen["query"]]  # one list per BatchNorm call
            res["key_ids"] = [_row_ids(k, v2) for k in seen["key"]]
    if method.startswith("moco"):
        res["queue"] = m.queue.queue.clone()
        res["key"] = [p.clone() for p in m.key_encoder.parameters()] + [p.clone() for p in m.key_head.parameters()]
    if method == "memory-bank":
        res["bank"] = m.bank.bank.clone()
        res["visited"] = m.bank.visited.clone()
    return res


def _rank(rank, world):
    res = {case: _run(case, rank_rows(rank, world, B)) for case in CASES}
    x = torch.arange(rank * 3, rank * 3 + 3).float().unsqueeze(1)  # local rows
    xs, unshuf = batch_shuffle(x, torch.Generator().manual_seed(rank))  # ranks disagree on seeds
    res["shuffle"] = {"x": x, "xs": xs, "back": batch_unshuffle(xs, unshuf)}
    return res


@pytest.fixture(scope="module")
def results():
    return run_ranks(_rank, WORLD)


@pytest.fixture(scope="module")
def single():
    return one_thread(lambda: {case: _run(case, slice(0, B)) for case in CASES})


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_match_one_process(results, single, case):
    ref = single[case]
    for r in range(WORLD):
        got = results[r][case]
        for step in range(STEPS):
            assert_close(got["loss"][step], ref["loss"][step], f"{case} rank {r} step {step} loss")
            assert set(got["grads"][step]) == set(ref["grads"][step])
            for k, g in ref["grads"][step].items():
                assert_close(got["grads"][step][k], g, f"{case} rank {r} step {step} grad {k}")
        if "queue" in ref:  # queues and key networks identical on every rank and equal to one process's
            assert_close(got["queue"], ref["queue"], f"{case} rank {r} queue")
            for a, b in zip(got["key"], ref["key"]):
                assert_close(a, b, f"{case} rank {r} key network")
        if "bank" in ref:  # every rank's bank was updated from the whole batch
            assert_close(got["bank"], ref["bank"], f"{case} rank {r} bank")
            assert torch.equal(got["visited"], ref["visited"])


@pytest.mark.slow
@pytest.mark.parametrize("case", ["memory-bank", "memory-bank-first-visit"])
def test_memory_bank_rows_of_the_global_batch_change_on_every_rank(results, case):
    b0 = _model(case).bank.bank
    rows = torch.zeros(N, dtype=torch.bool)
    rows[IDX] = True
    for r in range(WORLD):
        bank = results[r][case]["bank"]
        assert torch.equal(bank, results[0][case]["bank"])  # bit-identical across ranks
        assert not torch.isclose(bank[rows], b0[rows]).all(dim=1).any()  # the other rank's rows too
        assert torch.equal(bank[~rows], b0[~rows])
        assert torch.equal(results[r][case]["visited"], rows)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["moco-v1", "moco-v2"])
def test_shuffle_bn_normalises_keys_with_other_samples_than_queries(results, single, case):
    key_batches = [results[r][case]["key_ids"] for r in range(WORLD)]
    for r in range(WORLD):
        assert results[r][case]["query_ids"] == [list(range(r * B // WORLD, (r + 1) * B // WORLD))]  # its own rows
        assert len(key_batches[r]) == 1  # one key forward per step on each rank
    keys = [set(k[0]) for k in key_batches]
    assert sorted(keys[0] | keys[1]) == list(range(B)) and not keys[0] & keys[1]  # each key computed once
    assert all(keys[r] != set(results[r][case]["query_ids"][0]) for r in range(WORLD))  # shuffled across ranks
    # one process: the same key sub-batches (the same permutation), as its two BatchNorm chunks
    assert [set(k) for k in single[case]["key_ids"]] == keys
    assert [set(q) for q in single[case]["query_ids"]] == [set(range(B // 2)), set(range(B // 2, B))]


@pytest.mark.slow
def test_shuffle_bn_across_processes_restores_order(results):
    all_x = torch.cat([results[r]["shuffle"]["x"] for r in range(WORLD)])
    all_xs = torch.cat([results[r]["shuffle"]["xs"] for r in range(WORLD)])
    assert sorted(all_xs.flatten().tolist()) == sorted(all_x.flatten().tolist())  # a permutation
    for r in range(WORLD):
        assert torch.equal(results[r]["shuffle"]["back"], results[r]["shuffle"]["x"])  # exact
