"""Numeric precision of a training run: what each ``precision`` value means on this machine.

Values (``--precision`` / ``--set precision=``):

* ``32`` (or ``32-true``): float32 everywhere.
* ``bf16-mixed``: the forward pass under bfloat16 autocast (Lightning's ``bf16-mixed`` plugin, which
  on a CPU is ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the training step); weights,
  gradients and optimizer state stay float32, and the losses compute in float32 on upcast inputs
  (:func:`selfsup.functional.precision.float32_loss`). On a CPU without native bf16 instructions it
  still runs, emulated and slower, with a warning.
* ``auto``: ``bf16-mixed`` where the hardware does bf16 natively (a CUDA GPU that supports it, a CPU
  with AVX-512 BF16 / AMX-BF16, an Arm CPU with the BF16 extension), else ``32``.
* ``auto-gpu``: ``bf16-mixed`` on a bf16-capable GPU, ``32`` on a CPU (the meaning ``auto`` had before
  CPUs were considered; what runs recorded as ``auto`` before then are resumed with).
* ``16-mixed``, ``bf16-true``: passed to Lightning as they are (GPU use).

A run records the precision it resolved to in ``run.json`` (``precision``) and in its config, so a
resumed run keeps it on any machine; ``--set precision=...`` on a resume changes it explicitly.
"""

from __future__ import annotations

import functools
import platform
import warnings
from pathlib import Path

import torch

# The precision of a run that does not choose one and whose method sets none. A method turns bf16 on for
# CPUs too (``MethodSpec.train_defaults={"precision": "auto"}``) once its kNN-100% / linear-1% accuracy at
# bf16-mixed is measured within 0.005 of fp32 (3 seeds, 1 epoch): so far SimCLR (BENCHMARKS.md, "precision").
DEFAULT_PRECISION = "auto-gpu"

PRECISIONS = ("auto", "auto-gpu", "32", "32-true", "bf16-mixed", "16-mixed", "bf16-true")

# /proc/cpuinfo flags of x86 CPUs with bf16 arithmetic (dot products in hardware), and of Arm CPUs
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU feature flags of the first processor in ``cpuinfo`` (default: ``/proc/cpuinfo``; empty where
    there is none, e.g. macOS or Windows)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / Arm
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU computes in bfloat16 natively (AVX-512 BF16 or AMX-BF16 on x86, the BF16
    extension on Arm; Apple silicon from M2 on), so bf16 autocast is faster than float32 rather
    than emulated.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` to read (default: this machine's).
    """
    if cpuinfo is None and platform.system() == "Darwin":
        return platform.machine() == "arm64" and _apple_bf16()
    return bool(cpu_flags(cpuinfo) & _BF16_FLAGS)


@functools.lru_cache(maxsize=1)
def _apple_bf16() -> bool:
    import subprocess

    try:
        out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == "1"


def _gpu_run(accelerator: str) -> bool:
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def resolve_precision(precision: str, accelerator: str = "auto", *, warn: bool = True,
                      cpuinfo: str | None = None) -> str:
    """The Lightning precision a run of ``precision`` uses on this machine ("32-true", "bf16-mixed", ...).

    Args:
        precision: one of :data:`PRECISIONS`.
        accelerator: the run's Lightning accelerator ("auto" uses a GPU when there is one).
        warn: warn when ``bf16-mixed`` is asked for on a CPU without native bf16.
        cpuinfo: ``/proc/cpuinfo`` text to decide from (tests); default this machine's.
    """
    gpu = _gpu_run(accelerator)
    if precision in ("32", "32-true"):
        return "32-true"
    if precision in ("auto", "auto-gpu"):
        if gpu:
            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
        if precision == "auto" and cpu_has_native_bf16(cpuinfo):
            return "bf16-mixed"
        return "32-true"
    if precision == "bf16-mixed" and not gpu and warn and not cpu_has_native_bf16(cpuinfo):
        warnings.warn("precision bf16-mixed on a CPU without native bf16 instructions (AVX-512 BF16 / AMX): "
                      "bf16 is emulated and usually slower than float32; --precision auto picks 32 here",
                      stacklevel=2)
    return precision
