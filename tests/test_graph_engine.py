"""Graph methods (dgi, grace) train through the Lightning engine: the engine's run layout, exact
resume of an interrupted run (early-stopping state and best weights included), the early-stopping
rule and its recorded reason, and runs written by the first full-batch loop (model.pt) still load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from selfsup.cli.main import main
from selfsup.train.graph import GraphTrainConfig, StoppingRule

pytestmark = pytest.mark.usefixtures("one_thread")


def planted(tmp_path, n: int = 20) -> str:
    """Two planted communities of ``n`` nodes, random 4-d features: an edgelist graph name."""
    rng = np.random.default_rng(0)
    edges = [(i, j) for i in range(2 * n) for j in range(i + 1, 2 * n)
             if rng.random() < (0.3 if (i < n) == (j < n) else 0.02)]
    (tmp_path / "e.txt").write_text("\n".join(f"{a} {b}" for a, b in edges))
    np.savetxt(tmp_path / "y.txt", np.repeat([0, 1], n), fmt="%d")
    np.savetxt(tmp_path / "x.txt", rng.normal(size=(2 * n, 4)))
    return f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x.txt'},{tmp_path / 'y.txt'}"


# early stopping armed at epoch 5, patience 5: on this graph both methods stop early, well before 120 epochs
STOPPING = ["--epochs", "120", "--set", "min_epochs=5", "--set", "patience=5", "--set", "lr=0.01",
            "--set", "hidden_dim=8", "--no-progress"]


@pytest.mark.parametrize("method", ["dgi", "grace"])
def test_interrupted_graph_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, method):
    from safetensors.torch import load_file

    from selfsup.train.module import SelfSupModule

    data = planted(tmp_path)
    extra = ["--set", "restore_best=true"]  # grace's default is false: the best weights must survive the resume too
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["pretrain", method, "--data", data, "--out", str(full), *STOPPING, *extra]) == 0
    ref = json.loads((full / "run.json").read_text())
    assert ref["stopped_early"] and ref["best_epoch"] + 2 < ref["epochs"] < 120
    stop_at = ref["best_epoch"] + 1  # after the best epoch, before the stop: the best weights live in the checkpoint
    original = SelfSupModule.on_train_batch_start

    def interrupt(self, batch, batch_idx):
        if self.global_step == stop_at:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", interrupt)
    assert main(["pretrain", method, "--data", data, "--out", str(part), *STOPPING, *extra]) == 130
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", original)
    assert json.loads((part / "run.json").read_text())["status"] == "interrupted"
    ckpt = part / "checkpoints" / f"step-{stop_at:08d}.ckpt"
    assert ckpt.is_file()
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["callbacks"]["graph-early-stopping"]
    assert state["rule"]["best_epoch"] == ref["best_epoch"] and state["best_state"] is not None
    assert main(["pretrain", "--resume", str(part), "--no-progress"]) == 0
    done = json.loads((part / "run.json").read_text())
    assert done["status"] == "finished"
    for k in ("epochs", "best_epoch", "best_loss", "stop_reason", "stopped_early", "losses"):
        assert done[k] == ref[k], k
    for name in ("model.safetensors", "encoder.safetensors"):
        a, b = load_file(str(full / name)), load_file(str(part / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)  # bit-identical, the restored best weights included
    np.testing.assert_array_equal(torch.load(full / "embeddings.pt")["z"].numpy(),
                                  torch.load(part / "embeddings.pt")["z"].numpy())


def test_engine_graph_run_layout_stop_reason_and_readers(tmp_path):
    import selfsup

    data = planted(tmp_path)
    run = tmp_path / "run"
    assert main(["pretrain", "dgi", "--data", data, "--out", str(run), *STOPPING]) == 0
    meta = json.loads((run / "run.json").read_text())
    for f in ("run.json", "config.yaml", "encoder.safetensors", "model.safetensors", "graph.pt", "embeddings.pt",
              "metrics.csv"):
        assert (run / f).is_file(), f
    assert list((run / "checkpoints").glob("step-*.ckpt")) and not (run / "model.pt").exists()
    assert meta["modality"] == "graph" and meta["encoder_spec"]["name"] == "gcn"
    assert meta["config"]["optim"]["schedule"] == "constant" and meta["config"]["optim"]["warmup_epochs"] == 0
    # the recorded reason is the rule's on the recorded losses, in the first loop's words
    rule = StoppingRule(GraphTrainConfig(epochs=120, min_epochs=5, patience=5))
    for loss in meta["losses"]:
        if rule.update(loss)[1]:
            break
    assert meta["epochs"] == meta["steps"] == rule.epoch == len(meta["losses"]) < 120
    assert meta["stop_reason"].startswith(f"early stop at epoch {rule.epoch}: no lower training loss for 5 epochs")
    # evaluate, embed, load_encoder
    assert main(["evaluate", str(run), "--seeds", "0", "--labels", "100%", "--baselines", "raw"]) == 0
    assert "linear" in json.loads((run / "results.json").read_text())["protocols"]
    assert main(["embed", str(run), "-", "-o", str(tmp_path / "z.npy")]) == 0
    z = np.load(tmp_path / "z.npy")
    np.testing.assert_allclose(z, torch.load(run / "embeddings.pt", weights_only=True)["z"].numpy(), atol=1e-6)
    g = torch.load(run / "graph.pt", weights_only=True)
    enc = selfsup.load_encoder(str(run))
    with torch.no_grad():
        np.testing.assert_allclose(enc(g["x"], g["edge_index"]).numpy(), z, atol=1e-5)


def test_early_stopping_waits_out_a_starting_plateau_and_says_why():
    def run(flat: int, **kw):
        cfg = GraphTrainConfig(**kw)
        rule = StoppingRule(cfg)
        for t in range(1, cfg.epochs + 1):
            level = 0.693 if t <= flat else max(0.3, 0.693 - 0.01 * (t - flat))
            if rule.update(level)[1]:
                break
        return rule

    r = run(60, epochs=300, patience=20, min_epochs=10)
    assert r.epoch > 60 + 20 and r.stopped_early and "early stop" in r.stop_reason()  # a bare patience 20: ~21
    r = run(1000, epochs=40, patience=5, min_epochs=0)
    assert r.epoch == 40 and "never armed" in r.stop_reason()
    r = run(0, epochs=300, patience=0)
    assert r.epoch == 300 and not r.stopped_early


def first_loop_run(tmp_path, data: str):
    """A run directory as the first full-batch loop wrote it: model.pt, graph.pt, embeddings.pt, run.json."""
    from dataclasses import asdict

    from selfsup.data.graph import as_graph
    from selfsup.methods import get_method
    from selfsup.methods.base import DataInfo
    from selfsup.methods.dgi import DGIConfig

    g = as_graph(data)
    cfg = DGIConfig(hidden_dim=8)
    model = get_method("dgi").build(cfg, None, DataInfo((g.num_features,)), seed=0)
    run = tmp_path / "old"
    run.mkdir()
    torch.save(model.state_dict(), run / "model.pt")
    torch.save({k: getattr(g, k) for k in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask", "name",
                                            "classes")}, run / "graph.pt")
    torch.save({"z": model.embed(g), "y": g.y}, run / "embeddings.pt")
    train = asdict(GraphTrainConfig())
    (run / "run.json").write_text(json.dumps({
        "method": "dgi", "dataset": data, "modality": "graph", "status": "finished", "encoder": "gcn-GCNEncoder-8d",
        "input_dim": g.num_features, "config": asdict(cfg), "train": train, "epochs": 3, "best_epoch": 3,
        "best_loss": 0.69, "stop_reason": "ran the full 3 epochs", "stopped_early": False, "train_seconds": 0.1}))
    return run, model, g


def test_first_loop_runs_still_embed_and_evaluate_and_refuse_resume_clearly(tmp_path, capsys):
    data = planted(tmp_path)
    run, model, g = first_loop_run(tmp_path, data)
    assert main(["embed", str(run), "-", "-o", str(tmp_path / "z.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), model.embed(g).numpy(), atol=1e-6)
    assert main(["evaluate", str(run), "--seeds", "0", "--labels", "100%", "--baselines", "none"]) == 0
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "first full-batch graph loop" in err and "selfsup pretrain dgi --data" in err and "Traceback" not in err


def test_an_unfinished_engine_graph_run_says_to_resume(tmp_path, capsys):
    data = planted(tmp_path)
    run = tmp_path / "run"
    assert main(["pretrain", "dgi", "--data", data, "--out", str(run), "--epochs", "3", "--set", "hidden_dim=8",
                 "--no-progress"]) == 0
    (run / "model.safetensors").unlink()
    capsys.readouterr()
    assert main(["embed", str(run), "-", "-o", str(tmp_path / "z.npy")]) == 2
    assert f"selfsup pretrain --resume {run}" in capsys.readouterr().err
