"""No command deletes what it did not create: quickstart --fresh, the run-directory clean-up."""

from __future__ import annotations

import json

import pytest

from selfsup.cli.main import main
from selfsup.errors import UserError
from selfsup.train.checkpoint import TMP_RE, remove_partial_files
from selfsup.train.rundir import clear_run_dir


def _tree(root):
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))


def test_quickstart_fresh_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    thesis = tmp_path / "work"
    (thesis / "thesis").mkdir(parents=True)
    (thesis / "thesis" / "ch1.tex").write_text("\\chapter{One}\n")
    before = _tree(thesis)
    assert main(["quickstart", "--out", str(thesis), "--fresh"]) == 2
    assert _tree(thesis) == before
    assert "left untouched" in capsys.readouterr().err


def test_quickstart_fresh_refuses_a_run_of_another_command(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"command": "pretrain", "method": "simclr"}))
    (run / "encoder.safetensors").write_bytes(b"x")
    before = _tree(run)
    with pytest.raises(UserError, match="selfsup pretrain"):
        clear_run_dir(run, "quickstart")
    assert _tree(run) == before


def test_fresh_refuses_a_quickstart_run_holding_a_user_file(tmp_path):
    run = tmp_path / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"command": "quickstart"}))
    (run / "checkpoints" / "step-00000010.ckpt").write_bytes(b"c")
    (run / "checkpoints" / "notes.txt").write_text("mine")
    before = _tree(run)
    with pytest.raises(UserError, match="notes.txt"):
        clear_run_dir(run, "quickstart")
    assert _tree(run) == before


def test_fresh_replaces_its_own_run_and_keeps_the_folder(tmp_path):
    run = tmp_path / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"command": "quickstart"}))
    for name in ("encoder.safetensors", "results.json", "report.md", "loss.png", "metrics.csv"):
        (run / name).write_bytes(b"1")
    (run / "checkpoints" / "step-00000010.ckpt").write_bytes(b"c")
    (run / "checkpoints" / "step-00000010.ckpt.sha256").write_text("h")
    assert clear_run_dir(run, "quickstart") is True
    assert run.is_dir() and list(run.iterdir()) == []
    assert clear_run_dir(tmp_path / "absent", "quickstart") is False


def test_leftover_clean_up_touches_only_our_temporary_files(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    mine = [tmp_path / ".draft.tmp", tmp_path / "notes.sha256", tmp_path / ".my.tex.tmp",
            tmp_path / "checkpoints" / "data.bin.sha256"]
    ours = [tmp_path / ".run.json.ab12cd_9.tmp", tmp_path / "checkpoints" / ".step-00000003.ckpt.zz99yy00.tmp",
            tmp_path / "checkpoints" / "step-00000004.ckpt.sha256"]  # a checksum whose checkpoint is gone
    for p in mine + ours:
        p.write_text("x")
    removed = remove_partial_files(tmp_path)
    assert sorted(removed) == sorted(ours)
    assert all(p.exists() for p in mine)
    assert not TMP_RE.match(".draft.tmp") and TMP_RE.match(".config.yaml.k2j4h6l8.tmp")


def test_pretrain_into_a_folder_holding_only_a_user_tmp_file_refuses(tmp_path):
    out = tmp_path / "docs"
    out.mkdir()
    (out / ".draft.tmp").write_text("keep me")
    rc = main(["pretrain", "simclr", "--data", "digits", "--out", str(out), "--epochs", "1", "--no-progress"])
    assert rc == 2
    assert (out / ".draft.tmp").read_text() == "keep me"
