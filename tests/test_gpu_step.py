"""benchmarks/gpu_step.py runs on a CPU at a tiny size and reports every field it promises."""

import json

import pytest
from _bench import load_benchmark

pytestmark = pytest.mark.usefixtures("one_thread")


def load_script():
    return load_benchmark("gpu_step")


def test_gpu_step_runs_on_a_cpu_at_a_tiny_size(tmp_path, capsys):
    gpu_step = load_script()
    out = tmp_path / "rows.json"
    assert gpu_step.main(["--device", "cpu", "--size", "32", "--batch", "4", "--steps", "2", "--warmup", "0",
                          "--peak-tflops", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    result = json.loads(printed[-1])
    assert result == json.loads(out.read_text())
    rows = result["rows"]
    assert [(r["method"], r["encoder"]) for r in rows] == [
        (m, e) for m in ("simclr", "barlow-twins") for e in ("resnet18-imagenet", "resnet50")]
    for r in rows:
        assert r["steps"] == 2 and r["size"] == 32 and r["batch"] == 4 and r["precision"] == "bf16-mixed"
        assert r["images_per_s"] > 0 and r["step_ms"] > 0
        assert 0 < r["aug_share"] < 1
        assert r["peak_memory_gib"] > 0
        assert r["mfu"] == pytest.approx(r["model_tflops_per_s"] / 2, rel=1e-2, abs=1e-4)
        assert r["final_loss"] == r["final_loss"]  # finite, not NaN
        assert f"| {r['method']} | {r['encoder']} |" in "\n".join(printed)
    by = {(r["method"], r["encoder"]): r["gflop_per_step"] for r in rows}
    # ResNet-50 at 32 px: ~0.167 GFLOP a forward per image; 4 images x 2 views, forward + backward ~ 3x
    assert 3.0 < by[("simclr", "resnet50")] < 5.0
    assert by[("simclr", "resnet50")] > 2 * by[("simclr", "resnet18-imagenet")] * 0.9


def test_peak_table_and_unknown_devices():
    import torch

    gpu_step = load_script()
    assert gpu_step.peak_tflops(torch.device("cpu"), None)[0] is None
    assert gpu_step.peak_tflops(torch.device("cpu"), 5.0) == (5.0, "--peak-tflops")
