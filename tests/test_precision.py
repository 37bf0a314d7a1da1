"""``--precision``: bf16 detection, what each value resolves to, losses in fp32 under autocast, a bf16-mixed
step close to the fp32 one, the precision reaching the Trainer and run.json, and a resume keeping it."""

import json
import warnings

import lightning
import pytest
import torch
from test_resume import DIGITS, killed_after

from selfsup.cli.main import main
from selfsup.encoders import build_encoder
from selfsup.functional import nt_xent
from selfsup.functional.noncontrastive import barlow_twins_loss
from selfsup.methods import DataInfo, get_method
from selfsup.methods.two_view import to_channels_last
from selfsup.train.precision import DEFAULT_PRECISION, cpu_flags, cpu_has_native_bf16, resolve_precision
from selfsup.train.run import config_from_dict

pytestmark = pytest.mark.usefixtures("one_thread")

ZEN4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: avx512f amx_tile amx_bf16 amx_int8\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
OLD_ARM = "processor\t: 0\nFeatures\t: fp asimd crc32\n"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert cpu_flags(ZEN4) >= {"avx512f", "avx512_bf16"}
    assert cpu_has_native_bf16(ZEN4) and cpu_has_native_bf16(SAPPHIRE) and cpu_has_native_bf16(GRAVITON3)
    assert not cpu_has_native_bf16(SKYLAKE)  # AVX-512 without BF16: bf16 would be emulated
    assert not cpu_has_native_bf16(OLD_ARM) and not cpu_has_native_bf16("")


def test_each_precision_value_resolves_as_documented():
    for cpuinfo in (ZEN4, SKYLAKE):
        assert resolve_precision("32", "cpu", cpuinfo=cpuinfo) == "32-true"
        assert resolve_precision("auto-gpu", "cpu", cpuinfo=cpuinfo) == "32-true"
    assert resolve_precision("auto", "cpu", cpuinfo=ZEN4) == "bf16-mixed"
    assert resolve_precision("auto", "cpu", cpuinfo=SKYLAKE) == "32-true"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16-mixed", "cpu", cpuinfo=ZEN4) == "bf16-mixed"  # native: no warning
    with pytest.warns(UserWarning, match="emulated"):  # asked for explicitly: honoured, with a warning
        assert resolve_precision("bf16-mixed", "cpu", cpuinfo=SKYLAKE) == "bf16-mixed"
    assert DEFAULT_PRECISION == "auto-gpu"  # fp32 on CPUs until bf16's accuracy is measured (then "auto")


@pytest.mark.parametrize("loss", [lambda z: nt_xent(z, 0.1), lambda z: barlow_twins_loss(*z.chunk(2))])
def test_losses_compute_in_float32_under_bf16_autocast(loss):
    """Without the fp32 region autocast runs the similarity matmul in bf16 (~3 significant digits)."""
    torch.manual_seed(0)
    z = torch.randn(64, 32).bfloat16()
    exact = loss(z.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss(z)
    assert got.dtype == torch.float32
    assert torch.allclose(got, exact, rtol=1e-6, atol=1e-6), (float(got), float(exact))


def test_a_bf16_mixed_simclr_step_is_close_to_the_fp32_step():
    spec = get_method("simclr")
    info = DataInfo((1, 16, 16), (0.5,), (0.25,), 32)
    x = torch.randint(0, 256, (32, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))

    def step(bf16):
        torch.manual_seed(0)
        method = spec.build(spec.config_cls(), build_encoder("small-cnn", (1, 16, 16)), info, seed=0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = method.training_step(x)
        out.loss.backward()
        return out.loss.detach(), method.encoder.features[0][0].weight.grad.flatten()

    (l32, g32), (l16, g16) = step(False), step(True)
    assert l16.dtype == torch.float32 and torch.isfinite(l16)
    assert abs(float(l16) - float(l32)) < 0.02, (float(l16), float(l32))
    assert float(torch.nn.functional.cosine_similarity(g16, g32, dim=0)) > 0.9


def test_channels_last_leaves_non_image_inputs_as_they_are():
    flat = torch.randn(4, 10)
    assert to_channels_last(flat, True) is flat
    img = torch.randn(4, 3, 5, 5)
    assert to_channels_last(img, True).is_contiguous(memory_format=torch.channels_last)
    assert to_channels_last(img, False) is img


@pytest.fixture
def trainer_precisions(monkeypatch):
    """The ``precision`` each Lightning Trainer the runs build is given."""
    seen = []
    original = lightning.Trainer

    class Recording(original):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs.get("precision"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(lightning, "Trainer", Recording)
    return seen


def test_precision_flag_reaches_the_trainer_and_run_json_and_a_resume_keeps_it(tmp_path, trainer_precisions):
    full = tmp_path / "full"
    argv = [*DIGITS, "--epochs", "2"]  # 20 steps, an epoch-end checkpoint at step 10
    assert main(["pretrain", "simclr", "--out", str(full), "--precision", "bf16-mixed"] + argv) == 0
    meta = json.loads((full / "run.json").read_text())
    assert trainer_precisions == ["bf16-mixed"]
    assert meta["precision"] == "bf16-mixed" and meta["config"]["train"]["precision"] == "bf16-mixed"
    assert meta["status"] == "finished" and meta["final_loss"] is not None

    run = killed_after(full, 10, tmp_path / "killed")
    assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 0  # the default would be 32 on a CPU
    assert trainer_precisions[-1] == "bf16-mixed"
    resumed = json.loads((run / "run.json").read_text())
    assert resumed["precision"] == "bf16-mixed" and resumed["steps"] == 20

    # without --precision: the method's own default (SimCLR's "auto", measured), else DEFAULT_PRECISION
    small = ["--set", "train_samples=256", "--epochs", "1", "--batch-size", "128", "--data", "digits", "--no-progress"]
    for method, requested in (("simclr", "auto"), ("byol", DEFAULT_PRECISION)):
        default = tmp_path / f"default-{method}"
        assert main(["pretrain", method, "--out", str(default), *small]) == 0
        meta = json.loads((default / "run.json").read_text())
        expected = resolve_precision(requested, "auto")
        assert trainer_precisions[-1] == expected and meta["precision"] == expected
        assert meta["precision_requested"] == requested
    # the flag wins over the method's default
    assert main(["pretrain", "simclr", "--out", str(tmp_path / "fp32"), "--precision", "32", *small]) == 0
    assert trainer_precisions[-1] == "32-true"
    assert json.loads((tmp_path / "fp32" / "run.json").read_text())["precision"] == "32-true"


def test_simclr_defaults_to_bf16_where_the_cpu_does_bf16_and_the_others_stay_fp32_on_a_cpu():
    from selfsup.train.run import resolve_config

    assert resolve_config("simclr", "fashion-mnist").train.precision == "auto"
    assert resolve_config("byol", "fashion-mnist").train.precision == DEFAULT_PRECISION == "auto-gpu"
    assert resolve_config("simclr", "fashion-mnist", overrides={"precision": "32"}).train.precision == "32"
    bf16_cpu = "flags\t\t: fpu sse avx512f avx512_bf16\n"
    assert resolve_precision("auto", "cpu", cpuinfo=bf16_cpu) == "bf16-mixed"
    assert resolve_precision("auto", "cpu", cpuinfo="flags\t\t: fpu sse avx2\n") == "32-true"


def test_runs_stored_with_the_old_auto_resume_with_its_old_meaning():
    """Before runs stored their resolved precision, ``auto`` meant bf16 on GPUs only."""
    stored = {"method": "simclr", "data": "digits", "encoder": "small-cnn", "train": {"precision": "auto"}}
    assert config_from_dict(stored).train.precision == "auto-gpu"
    stored["train"]["precision"] = "bf16-mixed"
    assert config_from_dict(stored).train.precision == "bf16-mixed"
    assert config_from_dict(stored, {"precision": "32"}).train.precision == "32"
    # a run stored without any precision (before the key existed) keeps fp32 on a CPU, not SimCLR's new default
    assert config_from_dict({**stored, "train": {}}).train.precision == "auto-gpu"
