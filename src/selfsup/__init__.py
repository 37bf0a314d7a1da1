"""selfsup: self-supervised representation learning across modalities.

Layers (imports flow one way):
``functional -> losses/modules -> methods -> train/eval -> pipelines -> api -> cli``;
``augment``, ``encoders`` and ``data`` import nothing else from the library
(except the shared ``errors`` and ``config`` helpers).

The library API (:mod:`selfsup.api`) is re-exported here, loaded on first use so that
``import selfsup`` (and ``selfsup --help``) stays fast::

    import selfsup
    run = selfsup.pretrain("simclr", "digits", out="runs/simclr", epochs=2)
    selfsup.evaluate(run)
"""

from typing import Any

__version__ = "0.1.0"

_API = ("Run", "compare", "embed", "evaluate", "list_methods", "load_encoder", "open_run", "pretrain", "report",
        "resume")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from selfsup import api

        return getattr(api, name)
    raise AttributeError(f"module 'selfsup' has no attribute {name!r}")
