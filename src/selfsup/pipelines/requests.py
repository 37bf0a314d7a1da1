"""The typed settings of one pipeline call: what ``selfsup pretrain`` / ``evaluate`` / ``embed``
(or a Python user through :mod:`selfsup.api`) asks a modality to do.

The command line fills these from its flags; the API from its keyword arguments. A modality's
functions read them and nothing else (no argparse namespace crosses into the library).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PretrainRequest:
    """One pretraining run (or, with ``resume``, the continuation of one).

    Attributes:
        method: registry name of the method (``selfsup list``).
        data: dataset name (``fashion-mnist``, ``ucr:GunPoint``, ``text:PATH``, ``cora``, ...).
        out: the run directory to create.
        encoder: encoder registry name; None = the modality's default.
        preset: a named preset of the method.
        data_dir: where dataset files are (else ``$SELFSUP_DATA_DIR`` and system locations).
        image_size: side length for ``folder:PATH`` images.
        download: allow downloading the dataset from its official source.
        skip_bad_files: skip unreadable files with a warning.
        progress: show progress bars.
        transductive: text methods: pretrain on the whole corpus, downstream test texts included.
        resume: the run directory to continue (then ``method``/``data`` come from its run.json).
        changes: settings a resumed run may change (``--set`` of ``pretrain --resume``).
    """

    method: str | None = None
    data: str | None = None
    out: str | None = None
    encoder: str | None = None
    preset: str | None = None
    data_dir: str | None = None
    image_size: int | None = None
    download: bool = False
    skip_bad_files: bool = False
    progress: bool = True
    transductive: bool = False
    resume: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalRequest:
    """One evaluation of a finished run (``None`` everywhere = the modality's defaults).

    Attributes:
        run_dir: the run directory.
        protocols: protocol names (``knn``, ``linear``, ``finetune``, ``fewshot``, ``cluster``, ``svm``,
            ``1nn``; words: ``wordsim353``, ``simlex999=PATH``, ``analogy``).
        labels: label fractions, e.g. ``("1%", "10%", "100%")``.
        seeds: label-subset seeds.
        baselines: baseline names; an empty tuple = none.
        k: neighbours of the kNN classifier (None: chosen on validation).
        task: the downstream task of modalities with several (text).
        transductive: text runs: accept a task whose test texts are in the pretraining corpus.
        split: ``"test"`` or ``"validation"`` (image / array and graph runs).
        data_dir: where dataset files are.
    """

    run_dir: str
    protocols: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    baselines: tuple[str, ...] | None = None
    k: int | None = None
    task: str | None = None
    transductive: bool = False
    split: str = "test"
    data_dir: str | None = None


def as_tuple(v: Any) -> tuple[str, ...] | None:
    """``"a,b"`` or ``["a", "b"]`` -> ``("a", "b")``; None stays None."""
    if v is None:
        return None
    if isinstance(v, str):
        return tuple(s.strip() for s in v.split(",") if s.strip())
    return tuple(str(s) for s in v)
