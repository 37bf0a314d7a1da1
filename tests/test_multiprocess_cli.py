"""`selfsup pretrain` with 2 processes on CPU (gloo DDP through Lightning's own launcher).

Lightning starts rank 1 by re-running the same command line; rank 1 must not treat rank 0's
fresh run directory as "not empty", must not write run files, and must finish cleanly.
"""

import json
import os
import subprocess
import sys

import pytest

from selfsup.train.run import _launched_rank


@pytest.mark.parametrize("env, rank", [
    ({}, 0),
    ({"RANK": "3"}, 3),
    ({"RANK": "0", "LOCAL_RANK": "0"}, 0),
    ({"LOCAL_RANK": "1"}, 1),  # Lightning's subprocess launch of rank 1 (no RANK set)
    ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, 1),
    ({"SLURM_PROCID": "2"}, 2),
])
def test_launched_rank_reads_the_launchers_variables(monkeypatch, env, rank):
    for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert (_launched_rank() != 0) == (rank != 0)
    if "RANK" in env or "SLURM_PROCID" in env:
        assert _launched_rank() == rank


def test_two_process_cpu_run_finishes_and_rank0_owns_the_run_dir(tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE")}
    r = subprocess.run([sys.executable, "-m", "selfsup.cli.main", "pretrain", "moco-v2", "--data", "digits",
                        "--out", str(out), "--epochs", "1", "--batch-size", "64", "--no-progress",
                        "--set", "accelerator=cpu", "--set", "devices=2", "--set", "strategy=ddp",
                        "--set", "threads=1", "--set", "queue_size=256"],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "already exists" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
    meta = json.loads((out / "run.json").read_text())
    # 1347 training digits, 2 ranks, 64 per rank and step: 673 // 64 = 10 steps per epoch
    assert meta["status"] == "finished" and meta["steps"] == 10
    assert (out / "encoder.safetensors").exists() and (out / "checkpoints").is_dir()


def test_sync_batchnorm_on_cpu_is_a_user_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "selfsup.cli.main", "pretrain", "simclr", "--data", "digits",
                        "--out", str(tmp_path / "r"), "--epochs", "1", "--set", "accelerator=cpu",
                        "--set", "sync_batchnorm=true"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "sync_batchnorm needs GPUs" in r.stderr
    assert not (tmp_path / "r").exists()  # refused before anything was written
