"""Series runs train through the Lightning engine: checkpoints, and `selfsup pretrain --resume` of a
stopped run ends with exactly the weights of the uninterrupted run."""

import json

import pytest
import torch

from selfsup.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("method", ["cpc", "ts2vec"])
def test_stopped_series_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, method):
    from safetensors.torch import load_file

    from selfsup.train.module import SelfSupModule

    # GunPoint: 50 training series, batch 16 -> 3 steps an epoch; stopped after step 5, inside epoch 2
    argv = ["--data", "ucr:GunPoint", "--epochs", "4", "--set", "width=8", "--seed", "3", "--no-progress",
            "--set", "ckpt_every_steps=1"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["pretrain", method, "--out", str(full), *argv]) == 0
    original = SelfSupModule.on_train_batch_start

    def interrupt(self, batch, batch_idx):
        if self.global_step == 5:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", interrupt)
    assert main(["pretrain", method, "--out", str(part), *argv]) == 130
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", original)
    meta = json.loads((part / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["modality"] == "series"
    assert (part / "checkpoints" / "step-00000005.ckpt").is_file()
    assert main(["pretrain", "--resume", str(part), "--no-progress"]) == 0
    done, ref = json.loads((part / "run.json").read_text()), json.loads((full / "run.json").read_text())
    assert done["status"] == "finished" and done["steps"] == ref["steps"] == 12
    a, b = load_file(str(full / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # exact: the fault-injection series trials are bit-identical too
    # the resumed run evaluates like any series run
    assert main(["evaluate", str(part), "--protocols", "linear", "--labels", "100%", "--seeds", "0"]) == 0
    assert "linear" in json.loads((part / "results.json").read_text())["protocols"]


def test_a_first_version_series_run_refuses_resume_with_a_message(tmp_path, capsys):
    run = tmp_path / "old"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"method": "cpc", "dataset": "ucr:GunPoint", "modality": "series",
                                              "train": {"epochs": 40, "width": 8, "seed": 0, "length": "mask",
                                                        "nan": "error"}, "input_shape": [1, 150]}))
    (run / "model.pt").write_bytes(b"")
    assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "first series loop" in err and "selfsup pretrain cpc --data ucr:GunPoint" in err


def test_series_presets_apply(tmp_path):
    """--preset reaches series methods (the first series loop ignored it: cpc's paper preset did nothing)."""
    run = tmp_path / "cpc"
    assert main(["pretrain", "cpc", "--data", "ucr:GunPoint", "--out", str(run), "--epochs", "1", "--preset", "paper",
                 "--set", "width=8", "--no-progress"]) == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["config"]["method_config"]["steps"] == 12  # the preset's K (default 4)
