"""Per-modality glue for ``selfsup pretrain`` and ``selfsup evaluate``.

Each modality registers two functions here:

* ``pretrain(args, spec, overrides) -> int``: ``args`` is the argparse namespace of
  ``selfsup pretrain`` (``method``, ``data``, ``out``, ``data_dir``, ``seed``, ``epochs``, ...),
  ``spec`` the method's registry entry, ``overrides`` the merged ``--config``/``--set`` values
  (with --epochs/--batch-size/--seed/--max-minutes folded in);
* ``evaluate(args, meta) -> int``: ``args`` of ``selfsup evaluate`` (``run_dir``, ``protocols``,
  ``labels``, ``seeds``, ``task``, ...), ``meta`` the run's ``run.json`` (its ``modality`` key
  selects the runner).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PRETRAIN: dict[str, Callable[..., int]] = {}
EVALUATE: dict[str, Callable[..., int]] = {}
EMBED: dict[str, Callable[..., int]] = {}  # modality -> embed(args, meta) for `selfsup embed` (others: encoders)


def register_runner(modality: str, pretrain: Callable[..., int], evaluate: Callable[..., int]) -> None:
    PRETRAIN[modality] = pretrain
    EVALUATE[modality] = evaluate


def register_embedder(modality: str, embed: Callable[..., int]) -> None:
    """``selfsup embed`` for a modality whose runs are not encoders (word vectors, node vectors)."""
    EMBED[modality] = embed


def embed_runner(modality: str) -> Callable[..., int] | None:
    _load_all()
    return EMBED.get(modality)


def _load_all() -> None:
    """Import the modality glue modules (each calls :func:`register_runner`)."""
    import importlib

    for mod in ("selfsup.cli.image", "selfsup.cli.graph", "selfsup.cli.series", "selfsup.cli.fitted", "selfsup.cli.channels", "selfsup.cli.words", "selfsup.cli.text",
                "selfsup.cli.video"):
        importlib.import_module(mod)


def pretrain_runner(modality: str) -> Callable[..., int]:
    _load_all()
    from selfsup.errors import UserError

    if modality not in PRETRAIN:
        raise UserError(f"no pretraining runner for modality '{modality}'")
    return PRETRAIN[modality]


def evaluate_runner(modality: str) -> Callable[..., Any]:
    _load_all()
    from selfsup.errors import UserError

    if modality not in EVALUATE:
        raise UserError(f"no evaluation runner for modality '{modality}'")
    return EVALUATE[modality]
