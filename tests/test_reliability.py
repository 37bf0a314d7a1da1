"""Reliability: exact resume after SIGKILL/SIGTERM, training faults caught at their step,
checkpoints that are atomic, checksummed, pruned and never taken for good when damaged."""

import errno
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from selfsup.cli.main import main
from selfsup.errors import UserError
from selfsup.methods.base import StepOutput
from selfsup.methods.simclr import SimCLR
from selfsup.train.checkpoint import (
    atomic_torch_save,
    checksum_path,
    latest_valid_checkpoint,
    list_checkpoints,
    load_checkpoint,
)
from selfsup.train.module import TrainingFault
from selfsup.train.run import pretrain, resolve_config
from _bench import load_benchmark


def _fault_injection():
    return load_benchmark("fault_injection")


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ------------------------------------------------------------------ subprocess: SIGKILL / SIGTERM
@pytest.fixture(scope="module")
def fi():
    return _fault_injection()


@pytest.fixture(scope="module")
def reference(fi, tmp_path_factory):
    """The uninterrupted short Fashion-MNIST run of the fault-injection script."""
    run = tmp_path_factory.mktemp("ref") / "run"
    rc = fi.run_to_end(fi.pretrain_cmd(run, fi.SHORT, 0, sys.executable), run.parent / "log")
    assert rc == 0, (run.parent / "log").read_text()[-3000:]
    return run


def test_sigkill_at_random_moments_resumes_to_identical_weights(fi, reference, tmp_path):
    """The CI form of benchmarks/fault_injection.py: SIGKILL mid-step and mid-checkpoint-write."""
    res = fi.main(["--short", "--reference", str(reference), "--work", str(tmp_path), "--json", ""])
    assert len(res["trials"]) == 2
    assert res["trials"][0]["killed"]  # mid-step: lands before the run finishes
    for t in res["trials"]:
        assert t["status"] == "finished" and t["steps"] == 16, t
        assert t["identical"] and t["max_abs_diff"] == 0.0, t
    # nothing the killed writer left behind survives the resume
    for d in tmp_path.glob("trial-*"):
        assert not [p for p in d.rglob(".*.tmp")]


def test_sigterm_writes_a_final_checkpoint_and_resume_matches(fi, reference, tmp_path):
    run = tmp_path / "run"
    cmd = fi.pretrain_cmd(run, dict(fi.SHORT, ckpt_every_steps=0), 0, sys.executable)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = fi.step_rows(run)
        if rows and rows[-1][0] >= 3:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; the last checkpoint is kept" in err and "Traceback" not in err
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "interrupted" and 3 <= meta["steps"] < 16
    # the final checkpoint holds exactly the step the run stopped at
    assert list_checkpoints(run / "checkpoints")[-1].name == f"step-{meta['steps']:08d}.ckpt"
    rc = fi.run_to_end(fi.resume_cmd(run, sys.executable), tmp_path / "resume.log")
    assert rc == 0, (tmp_path / "resume.log").read_text()[-3000:]
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert _same_weights(reference, run)


# ------------------------------------------------------------------ in-process runs on digits
OVER = {"epochs": 2, "batch_size": 64, "seed": 1, "train_samples": 640, "ckpt_every_minutes": 0}  # 10 steps/epoch


def _cfg(**over):
    return resolve_config("simclr", "digits", overrides={**OVER, **over}, encoder_width=8)


class _NaNGrad(torch.autograd.Function):
    """Identity forward, NaN backward: a finite loss whose gradient is not finite."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("nan")


def _plant(monkeypatch, step: int, kind: str = "loss") -> None:
    """Make SimCLR's ``step``-th training step (0-based) produce a NaN loss or gradient."""
    original = SimCLR.training_step
    calls = {"n": 0}

    def planted(self, batch):
        out = original(self, batch)
        n, calls["n"] = calls["n"], calls["n"] + 1
        if n != step:
            return out
        if kind == "loss":
            return StepOutput(out.loss * float("nan"), {"loss": float("nan")})
        return StepOutput(_NaNGrad.apply(out.loss), out.logs)

    monkeypatch.setattr(SimCLR, "training_step", planted)


@pytest.mark.parametrize("kind", ["loss", "gradient"])
def test_planted_nan_is_reported_at_its_step_and_last_good_checkpoint_kept(tmp_path, monkeypatch, kind):
    k = 7
    _plant(monkeypatch, k, kind)
    run = tmp_path / "run"
    with pytest.raises(TrainingFault) as e:
        pretrain(_cfg(ckpt_every_steps=1, keep_checkpoints=3), run, progress=False)
    msg = str(e.value)
    assert f"non-finite {kind} at step {k} " in msg
    assert "loss terms: loss=" in msg
    for cause in ("temperature=0.1", "learning rate", "precision"):
        assert cause in e.value.hint
    # the newest checkpoint is the state after step k-1, intact; no weights from a bad state
    newest = list_checkpoints(run / "checkpoints")[-1]
    assert newest.name == f"step-{k:08d}.ckpt"
    assert latest_valid_checkpoint(run / "checkpoints", "simclr") == newest
    assert all(torch.isfinite(v).all() for v in load_checkpoint(newest)["state_dict"].values() if v.is_floating_point())
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "failed" and f"step {k}" in meta["error"]
    assert not (run / "model.safetensors").exists()


def test_planted_nan_through_the_cli_names_step_terms_and_causes(tmp_path, monkeypatch, capsys):
    _plant(monkeypatch, 4)
    args = ["pretrain", "simclr", "--data", "digits", "--out", str(tmp_path / "run"), "--no-progress", "--epochs", "2",
            "--batch-size", "64", "--set", "train_samples=640", "--set", "encoder_width=8"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "non-finite loss at step 4 " in err and "loss=nan" in err
    assert "temperature" in err and "learning rate" in err and "precision" in err and "Traceback" not in err


def test_failed_run_resumes_with_skip_and_only_safe_keys_may_change(tmp_path, monkeypatch, capsys):
    from selfsup.train.module import SelfSupModule

    k = 6
    step = {"now": -1}
    original_start, original_step = SelfSupModule.on_train_batch_start, SimCLR.training_step

    def start(self, batch, batch_idx):
        step["now"] = self.global_step
        return original_start(self, batch, batch_idx)

    def planted(self, batch):  # NaN whenever global step k runs, in the first run and after resume
        out = original_step(self, batch)
        return StepOutput(out.loss * float("nan"), {"loss": float("nan")}) if step["now"] == k else out

    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", start)
    monkeypatch.setattr(SimCLR, "training_step", planted)
    run = tmp_path / "run"
    with pytest.raises(TrainingFault):
        pretrain(_cfg(ckpt_every_steps=2), run, progress=False)
    assert main(["pretrain", "--resume", str(run), "--no-progress", "--set", "batch_size=32"]) == 2
    assert "'batch_size' cannot change when a run is resumed" in capsys.readouterr().err
    with pytest.warns(UserWarning, match=f"non-finite loss at step {k} "):
        assert main(["pretrain", "--resume", str(run), "--no-progress", "--set", "on_nonfinite=skip"]) == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["steps"] == 20 and meta["skipped_steps"] == [k]
    assert meta["config"]["train"]["on_nonfinite"] == "skip"


def test_skip_option_drops_the_bad_step_and_finishes(tmp_path, monkeypatch):
    k = 5
    _plant(monkeypatch, k)
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match=f"non-finite loss at step {k} .*skipped"):
        meta = pretrain(_cfg(on_nonfinite="skip"), run, progress=False)
    assert meta["status"] == "finished" and meta["steps"] == 20 and meta["skipped_steps"] == [k]
    assert all(torch.isfinite(v).all() for v in load_file(str(run / "model.safetensors")).values() if v.is_floating_point())


def test_skipped_step_makes_no_update(tmp_path, monkeypatch):
    """A run whose step k is skipped has, after step k, the weights it had before it."""
    k = 3
    _plant(monkeypatch, k)
    run = tmp_path / "run"
    with pytest.warns(UserWarning):
        pretrain(_cfg(on_nonfinite="skip", ckpt_every_steps=1, keep_checkpoints=30, epochs=0.5), run, progress=False)
    before = load_checkpoint(run / "checkpoints" / f"step-{k:08d}.ckpt")
    after = load_checkpoint(run / "checkpoints" / f"step-{k + 1:08d}.ckpt")
    assert after["selfsup"]["skipped_steps"] == [k]
    for name, v in before["state_dict"].items():
        if "running" in name or "num_batches_tracked" in name:
            continue  # BatchNorm statistics follow the forward pass, not the optimiser
        assert torch.equal(v, after["state_dict"][name]), name


def test_keep_last_k_checkpoints_with_checksums(tmp_path):
    run = tmp_path / "run"
    pretrain(_cfg(ckpt_every_steps=3, keep_checkpoints=3), run, progress=False)
    names = [p.name for p in list_checkpoints(run / "checkpoints")]
    assert names == ["step-00000015.ckpt", "step-00000018.ckpt", "step-00000020.ckpt"]
    files = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert files == sorted(names + [n + ".sha256" for n in names])


@pytest.fixture(scope="module")
def digits_reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("digits") / "full"
    pretrain(_cfg(ckpt_every_steps=2, keep_checkpoints=3), run, progress=False)
    return run


def _interrupted_run(tmp_path, monkeypatch, stop_at: int) -> Path:
    from selfsup.train.module import SelfSupModule

    original = SelfSupModule.on_train_batch_start

    def interrupt(self, batch, batch_idx):
        if self.global_step == stop_at:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    run = tmp_path / "part"
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", interrupt)
    with pytest.raises(KeyboardInterrupt):
        pretrain(_cfg(ckpt_every_steps=2, keep_checkpoints=3), run, progress=False)
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", original)
    return run


def test_truncated_newest_checkpoint_is_skipped_and_resume_is_exact(tmp_path, monkeypatch, digits_reference):
    run = _interrupted_run(tmp_path, monkeypatch, 7)
    ck = run / "checkpoints"
    assert [p.name for p in list_checkpoints(ck)] == ["step-00000004.ckpt", "step-00000006.ckpt", "step-00000007.ckpt"]
    newest = ck / "step-00000007.ckpt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a partial file under a good name
    (ck / ".step-00000008.ckpt.x1y2_k9q.tmp").write_bytes(b"partial")  # what a killed writer leaves
    (ck / "step-00000008.ckpt.sha256").write_text("0" * 64)  # a checksum whose checkpoint never arrived
    with pytest.warns(UserWarning, match="does not match its checksum"):
        assert latest_valid_checkpoint(ck, "simclr") == ck / "step-00000006.ckpt"
    with pytest.warns(UserWarning, match="step-00000007.ckpt does not match"):
        meta = pretrain(_cfg(ckpt_every_steps=2, keep_checkpoints=3), run, resume=True, progress=False)
    assert meta["status"] == "finished" and meta["steps"] == 20
    assert not (ck / ".step-00000008.ckpt.x1y2_k9q.tmp").exists() and not (ck / "step-00000008.ckpt.sha256").exists()
    assert _same_weights(digits_reference, run)


def test_damaged_foreign_or_unchecked_checkpoints_are_refused(tmp_path, digits_reference):
    src = list_checkpoints(digits_reference / "checkpoints")[-1]
    ckpt = load_checkpoint(src, "simclr")
    ck = tmp_path / "checkpoints"

    def put(name, obj):
        atomic_torch_save(obj, ck / name)
        return ck / name

    good = put("step-00000001.ckpt", ckpt)
    assert load_checkpoint(good, "simclr")["selfsup"]["method"] == "simclr"
    with pytest.raises(UserError, match="belongs to method 'simclr', not 'moco'"):
        load_checkpoint(good, "moco")
    # a tensor changed after writing (same size, valid zip): only the checksum notices
    tampered = put("step-00000002.ckpt", ckpt)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match its checksum"):
        load_checkpoint(tampered)
    unchecked = put("step-00000003.ckpt", ckpt)
    checksum_path(unchecked).unlink()
    with pytest.raises(UserError, match="no checksum file"):
        load_checkpoint(unchecked)
    other_version = put("step-00000004.ckpt", {**ckpt, "selfsup": {**ckpt["selfsup"], "format": 99}})
    with pytest.raises(UserError, match="format 99"):
        load_checkpoint(other_version)
    pickled = put("step-00000005.ckpt", {"state_dict": {}, "selfsup": {"format": 1}, "payload": object()})
    with pytest.raises(UserError, match="cannot be loaded safely"):
        load_checkpoint(pickled)  # weights_only=True: no arbitrary objects


def test_resume_with_no_usable_checkpoint_errors_clearly(tmp_path, monkeypatch):
    run = _interrupted_run(tmp_path, monkeypatch, 3)
    for p in list_checkpoints(run / "checkpoints"):
        p.write_bytes(b"\x80\x04junk")
    with pytest.warns(UserWarning), pytest.raises(UserError, match="none of the 2 checkpoints"):
        pretrain(_cfg(ckpt_every_steps=2, keep_checkpoints=3), run, resume=True, progress=False)


def test_out_of_memory_gives_a_clear_error(tmp_path, monkeypatch):
    original = SimCLR.training_step
    calls = {"n": 0}

    def oom(self, batch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, batch)

    monkeypatch.setattr(SimCLR, "training_step", oom)
    run = tmp_path / "run"
    with pytest.raises(UserError, match="out of GPU memory at step 3 .batch size 64") as e:
        pretrain(_cfg(ckpt_every_steps=2), run, progress=False)
    assert "--batch-size" in e.value.hint
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert latest_valid_checkpoint(run / "checkpoints", "simclr").name == "step-00000002.ckpt"


def test_disk_full_gives_a_clear_error_and_a_consistent_run_dir(tmp_path, monkeypatch, digits_reference):
    real_save = torch.save
    calls = {"n": 0}

    def save_until_full(obj, f, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", save_until_full)
    run = tmp_path / "run"
    with pytest.raises(UserError, match="no space left on the device while writing .*step-00000006.ckpt") as e:
        pretrain(_cfg(ckpt_every_steps=2, keep_checkpoints=3), run, progress=False)
    assert "--resume" in e.value.hint
    files = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert files == ["step-00000002.ckpt", "step-00000002.ckpt.sha256", "step-00000004.ckpt", "step-00000004.ckpt.sha256"]
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    monkeypatch.setattr(torch, "save", real_save)
    meta = pretrain(_cfg(ckpt_every_steps=2, keep_checkpoints=3), run, resume=True, progress=False)
    assert meta["status"] == "finished"
    assert _same_weights(digits_reference, run)


def test_ctrl_c_mid_step_finishes_the_step_then_stops_and_resume_is_exact(tmp_path, monkeypatch):
    """Ctrl-C lands inside a training step (after the views and the loss, before the optimizer step): the
    step completes, the run stops at the next step boundary with a checkpoint of exactly that step, and the
    resumed run ends with the uninterrupted run's weights. (Raised mid-step, the interrupt would checkpoint a
    half-done step: the augmentation draws of a step that never trained.)"""
    import os

    ref = tmp_path / "ref"
    pretrain(_cfg(), ref, progress=False)
    k = 3
    calls = {"n": 0}
    original = SimCLR.training_step

    def interrupted(self, batch):
        out = original(self, batch)
        n, calls["n"] = calls["n"], calls["n"] + 1
        if n == k:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, inside the step
        return out

    monkeypatch.setattr(SimCLR, "training_step", interrupted)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        pretrain(_cfg(), run, progress=False)
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["steps"] == k + 1, meta["steps"]
    assert list_checkpoints(run / "checkpoints")[-1].name == f"step-{k + 1:08d}.ckpt"
    monkeypatch.setattr(SimCLR, "training_step", original)
    pretrain(_cfg(), run, resume=True, progress=False)
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert _same_weights(ref, run)


def test_final_loss_is_never_nan_in_run_json(tmp_path):
    from selfsup.train.run import final_loss

    assert final_loss(1.5) == 1.5 and final_loss(float("nan")) is None
    (tmp_path / "run.json").write_text(json.dumps({"final_loss": 2.25}))
    assert final_loss(float("nan"), tmp_path) == 2.25  # a resume that trained nothing keeps the earlier value
    (tmp_path / "run.json").write_text('{"final_loss": NaN}')
    assert final_loss(float("nan"), tmp_path) is None
