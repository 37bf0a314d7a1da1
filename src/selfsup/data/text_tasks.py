"""Structured text for the sentence-level pretext tasks, and labeled sentence-classification tasks.

Pretext corpora keep their structure as *documents of segments* (a segment is a sentence,
a verse, an utterance or a fixed-size chunk), because next-sentence prediction and
utterance order need to know what follows what:

* ``chatterbot`` - English chatterbot-corpus conversations (PyPI ``chatterbot-corpus``), one
  document per conversation, one segment per utterance;
* ``kjv`` - the King James Bible (Debian ``bible-kjv``), one document per chapter, one segment per verse;
* ``fortunes`` - Debian ``fortunes``, one document per category file, one segment per fortune;
* ``polarity`` - the 200 sentences of gensim's ``pang_lee_polarity.cor``;
* anything :func:`selfsup.data.text.load_text_corpus` knows (``enwiki-sample``, ``lee``,
  ``text:PATH``): long lines are documents cut into chunks of ``seg_words`` words; runs of
  short lines (one sentence a line) are documents of consecutive lines.

Labeled tasks (:func:`load_text_task`): ``fortunes`` (category), ``polarity`` (pos/neg),
``kjv-testament`` (Old/New Testament of a verse), ``kjv-book`` (66 books), ``csv:PATH``
(columns ``text`` and ``label``, optional ``split`` = train/test). Each has a fixed, seeded,
stratified train/test split.

Held-out test texts (:class:`HeldOutTexts`, :data:`CORPUS_TASKS`): the built-in tasks take their
texts from the corpora of the same names, so an inductive pretraining run leaves the test texts of
those tasks out of the corpus (:func:`load_sources` with ``drop``), cutting each document where a
text was removed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from selfsup.data.base import stratified_split
from selfsup.data.registry import register_dataset
from selfsup.data.text import (
    TextCorpus,
    kjv_reference_lines,
    load_text_corpus,
    read_text_file,
    word_tokens,
)
from selfsup.errors import UserError, unknown_name

FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNES_MIN_PER_CLASS = 50
_VERSE = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+)\s*(.*)$")
STRUCTURED = ("chatterbot", "kjv", "fortunes", "polarity")
TASKS = ("fortunes", "polarity", "kjv-testament", "kjv-book", "csv:PATH")


# ----------------------------------------------------------------------------- sources
def chatterbot_conversations(lang: str = "english") -> list[tuple[str, list[str]]]:
    """(topic, utterances) of every chatterbot-corpus conversation with >= 2 turns."""
    try:
        import chatterbot_corpus
    except ImportError as e:
        raise UserError("the chatterbot dialogues need the PyPI package chatterbot-corpus",
                        hint="pip install 'selfsup[text]' (or pip install --no-deps chatterbot-corpus)") from e
    import yaml

    root = Path(chatterbot_corpus.__file__).parent / "data" / lang
    files = sorted(root.glob("*.yml"))
    if not files:
        raise UserError(f"no chatterbot-corpus files in {root}")
    out = []
    for f in files:
        d = yaml.safe_load(f.read_text(encoding="utf-8", errors="replace")) or {}
        topic = (d.get("categories") or [f.stem])[0]
        for conv in d.get("conversations") or []:
            turns = [" ".join(str(t).split()) for t in conv if t is not None and str(t).strip()]
            if len(turns) >= 2:
                out.append((str(topic), turns))
    return out


def fortune_entries(root: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """{category: fortunes} from a Debian fortunes folder (one file per category, ``%`` separated)."""
    d = Path(root or os.environ.get("SELFSUP_FORTUNES", FORTUNES_DIR))
    if not d.is_dir():
        raise UserError(f"fortunes not found in {d}",
                        hint="apt-get install fortunes, or set SELFSUP_FORTUNES=/path/to/fortune/files")
    out: dict[str, list[str]] = {}
    for f in sorted(d.iterdir()):
        if not f.is_file() or f.suffix in (".dat", ".u8") or f.name.startswith("."):
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        entries = [" ".join(e.split()) for e in re.split(r"^%\s*$", text, flags=re.MULTILINE)]
        entries = list(dict.fromkeys(e for e in entries if e))
        if entries:
            out[f.name] = entries
    if not out:
        raise UserError(f"no fortune files in {d}")
    return out


def polarity_sentences() -> list[tuple[str, str]]:
    """(label, sentence) pairs of gensim's ``pang_lee_polarity.cor`` (100 pos / 100 neg)."""
    try:
        from gensim.test.utils import datapath
    except ImportError as e:
        raise UserError("the polarity sentences ship with gensim's test data, and gensim is not installed",
                        hint="pip install 'selfsup[text]'") from e
    out = []
    for line in Path(datapath("pang_lee_polarity.cor")).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("__label__"):
            lab, _, text = line.partition(" ")
            out.append((lab[len("__label__"):], text.strip()))
    return out


@dataclass
class Verse:
    book: str
    book_index: int  # 0..65 in canonical order
    chapter: int
    text: str


def kjv_verses() -> list[Verse]:
    """Every KJV verse with its book and chapter (Debian ``bible-kjv``, or ``$SELFSUP_KJV`` in its format)."""
    env = os.environ.get("SELFSUP_KJV")
    verses, books = [], {}
    for line in kjv_reference_lines():
        m = _VERSE.match(line.strip())
        if not m or not m.group(4):
            continue
        book = m.group(1)
        books.setdefault(book, len(books))
        verses.append(Verse(book, books[book], int(m.group(2)), m.group(4)))
    if not verses:
        where = f"$SELFSUP_KJV={env}" if env else "the output of `bible`"
        raise UserError(f"no verses with references (e.g. 'Ge1:1 In the beginning ...') found in {where}",
                        hint="point SELFSUP_KJV at a file with one verse a line, 'Ge1:1 text', or unset it")
    return verses


# ----------------------------------------------------------------------------- documents
def _chunk(words: list[str], n: int) -> list[str]:
    return [" ".join(words[i:i + n]) for i in range(0, len(words), n)]


Drop = Callable[[str], bool]  # a corpus unit (segment or line) -> True when it is held out


def _keep_all(_: str) -> bool:
    return False


def _pieces(segments: list[str], drop: Drop) -> list[list[str]]:
    """The runs of consecutive segments between the held-out ones (a held-out segment ends a piece)."""
    out: list[list[str]] = [[]]
    for s in segments:
        if drop(s):
            out.append([])
        else:
            out[-1].append(s)
    return [p for p in out if p]


def sources_from_lines(lines: list[list[str]], seg_words: int = 24, drop: Drop = _keep_all) -> list[list[list[str]]]:
    """Source documents of a plain corpus as pieces of segments: long lines are cut into
    ``seg_words`` chunks (one document each); runs of short lines are documents of consecutive
    lines. A held-out line (``drop(" ".join(tokens))``) is left out whole, before any chunking, and
    ends the piece it was in."""
    docs: list[list[list[str]]] = []
    run: list[list[str]] = [[]]  # pieces of the current run of short lines
    kept = 0

    def close() -> None:
        nonlocal run, kept
        pieces = [p for p in run if p]
        if pieces:
            docs.append(pieces)
        run, kept = [[]], 0

    for toks in lines:
        if not toks:
            continue
        if drop(" ".join(toks)):
            run.append([])
        elif len(toks) > seg_words:
            close()
            docs.append([_chunk(toks, seg_words)])
        else:
            run[-1].append(" ".join(toks))
            kept += 1
            if kept >= 256:
                close()
    close()
    return docs


def documents_from_lines(lines: list[list[str]], seg_words: int = 24) -> list[list[str]]:
    """Documents of segments from token lists: long lines are cut into ``seg_words`` chunks
    (one document each); runs of short lines are documents of consecutive lines."""
    return [p for src in sources_from_lines(lines, seg_words) for p in src]


def load_sources(name: str, seg_words: int = 24, skip_bad_files: bool = False,
                 drop: Drop = _keep_all) -> list[list[list[str]]]:
    """Source documents of a pretraining corpus, each a list of pieces (lists of segments).

    A source document is what the corpus calls one (a chapter, a fortune file, a conversation, a
    run of lines). ``drop`` holds a unit out: a segment of a structured corpus, a whole line of a
    plain one. A held-out unit ends its piece, so pieces never run across it: rows of consecutive
    segments (NSP, masked-LM pairs, utterance windows) are formed within a piece, and a segment
    is never paired with the one that followed a held-out text as if they were neighbours.
    Without held-out units each source document is one piece.
    """
    if name == "chatterbot":
        structured = [turns for _, turns in chatterbot_conversations()]
    elif name == "kjv":
        chapters: dict[tuple[int, int], list[str]] = {}
        for v in kjv_verses():
            chapters.setdefault((v.book_index, v.chapter), []).append(v.text)
        structured = list(chapters.values())
    elif name == "fortunes":
        structured = list(fortune_entries().values())
    elif name == "polarity":
        structured = [[t for _, t in polarity_sentences()]]
    else:
        return sources_from_lines(list(load_text_corpus(name, skip_bad_files)), seg_words, drop)
    return [p for p in (_pieces(d, drop) for d in structured) if p]


def load_documents(name: str, seg_words: int = 24, skip_bad_files: bool = False,
                   drop: Drop = _keep_all) -> list[list[str]]:
    """Documents (lists of segments, each a string) of a pretraining corpus; with ``drop``, the
    pieces between held-out units (see :func:`load_sources`).

    ``skip_bad_files``: for ``text:FOLDER``, skip unreadable files with a warning instead of stopping.
    """
    return [p for src in load_sources(name, seg_words, skip_bad_files, drop) for p in src]


# ----------------------------------------------------------------------------- labeled tasks
@dataclass
class TextTask:
    """A labeled sentence-classification task with a fixed train/test split."""

    name: str
    train_texts: list[str]
    y_train: np.ndarray
    test_texts: list[str]
    y_test: np.ndarray
    classes: list[str]

    def summary(self) -> str:
        return (f"{self.name}: {len(self.train_texts)} train / {len(self.test_texts)} test texts, "
                f"{len(self.classes)} classes")


def _split_task(name: str, texts: list[str], labels: list[str], test_fraction: float, seed: int = 0,
                classes: list[str] | None = None) -> TextTask:
    classes = classes or sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[lab] for lab in labels], dtype=np.int64)
    tr, te = stratified_split(y, len(y), test_fraction, seed)
    return TextTask(name, [texts[i] for i in tr], y[tr], [texts[i] for i in te], y[te], classes)


def _csv_task(path: str) -> TextTask:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"csv task file {p} not found", hint="csv:PATH needs a CSV file with columns text,label")
    text = read_text_file(p, "csv task file")
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise UserError(f"{p} is not a valid CSV file: {e}",
                        hint="columns text,label (optional split); quote fields that hold commas or newlines") from None
    if not rows or "text" not in rows[0] or "label" not in rows[0]:
        raise UserError(f"{p} needs a header with columns 'text' and 'label' (optional 'split': train/test)",
                        hint="e.g. text,label\\n\"a fine film\",pos")
    rows = [r for r in rows if (r["text"] or "").strip() and (r["label"] or "").strip()]
    texts, labels = [r["text"].strip() for r in rows], [r["label"].strip() for r in rows]
    if len(set(labels)) < 2:
        raise UserError(f"{p} has fewer than two distinct labels")
    if "split" in rows[0]:
        splits = [(r.get("split") or "").strip().lower() for r in rows]
        bad = sorted({s for s in splits if s not in ("train", "test")})
        if bad:
            raise UserError(f"{p}: column 'split' must be train or test, found {bad[:3]}")
        classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(classes)}
        tr = [i for i, s in enumerate(splits) if s == "train"]
        te = [i for i, s in enumerate(splits) if s == "test"]
        if not tr or not te:
            raise UserError(f"{p}: the split column needs both train and test rows")
        y = np.array([index[lab] for lab in labels], dtype=np.int64)
        return TextTask(f"csv:{p}", [texts[i] for i in tr], y[tr], [texts[i] for i in te], y[te], classes)
    counts = {c: labels.count(c) for c in set(labels)}
    if min(counts.values()) < 2:
        raise UserError(f"{p}: every label needs at least 2 rows for a train/test split",
                        hint=f"rare labels: {sorted(c for c, n in counts.items() if n < 2)[:5]}")
    return _split_task(f"csv:{p}", texts, labels, 0.3)


def load_text_task(name: str) -> TextTask:
    """A labeled task by name: fortunes, polarity, kjv-testament, kjv-book or csv:PATH."""
    if name.startswith("csv:"):
        return _csv_task(name[4:])
    if name == "fortunes":
        texts, labels = [], []
        for cat, entries in fortune_entries().items():
            if len(entries) >= FORTUNES_MIN_PER_CLASS:
                texts += entries
                labels += [cat] * len(entries)
        return _split_task("fortunes", texts, labels, 0.3)
    if name == "polarity":
        pairs = polarity_sentences()
        return _split_task("polarity", [t for _, t in pairs], [lab for lab, _ in pairs], 0.5)
    if name in ("kjv-testament", "kjv-book"):
        verses = kjv_verses()
        if name == "kjv-testament":
            labels = ["old" if v.book_index < 39 else "new" for v in verses]
            return _split_task(name, [v.text for v in verses], labels, 0.2, classes=["old", "new"])
        books = list(dict.fromkeys(v.book for v in verses))
        return _split_task(name, [v.text for v in verses], [v.book for v in verses], 0.2, classes=books)
    raise unknown_name("text task", name, TASKS)


# ----------------------------------------------------------------------------- held-out test texts
# the labeled tasks whose texts come from a corpus: pretraining on it leaves their test texts out
CORPUS_TASKS: dict[str, tuple[str, ...]] = {
    "fortunes": ("fortunes",),
    "kjv": ("kjv-testament", "kjv-book"),
    "polarity": ("polarity",),
}


def text_key(text: str) -> str:
    """A text up to case and whitespace (the unit a plain corpus keeps: its lowercased tokens)."""
    return " ".join(text.lower().split())


def word_key(text: str) -> str:
    """A text up to case, whitespace and punctuation (its words in order; may be empty)."""
    return " ".join(word_tokens(text))


def test_split_digest(task: TextTask) -> str:
    """A short fingerprint of a task's test texts, in order (what a run records it held out)."""
    h = hashlib.sha256()
    for t in task.test_texts:
        h.update(t.encode("utf-8", "replace") + b"\x1e")
    return h.hexdigest()[:16]


@dataclass
class HeldOutTexts:
    """The test texts of downstream tasks, to be kept out of a pretraining corpus.

    A corpus unit (a segment of a structured corpus, a line of a plain one) is held out when it
    equals a test text up to case and whitespace, or has the same words in the same order (up to
    punctuation). Every occurrence is held out, also where the same text is a training text of the
    task elsewhere (a repeated verse, a fortune filed in two categories): the corpus then holds no
    copy of any test text. A test text that is only part of a longer unit is not found.

    Attributes:
        tasks: names of the tasks whose test splits are held out.
        test_texts: number of test texts of each task.
        digests: :func:`test_split_digest` of each task.
    """

    tasks: tuple[str, ...] = ()
    test_texts: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    keys: frozenset[str] = frozenset()
    word_keys: frozenset[str] = frozenset()
    loaded: dict[str, TextTask] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of_tasks(cls, names: Iterable[str]) -> HeldOutTexts:
        tasks = [load_text_task(n) for n in dict.fromkeys(names)]
        return cls.of(tasks)

    @classmethod
    def of(cls, tasks: Iterable[TextTask]) -> HeldOutTexts:
        tasks = list(tasks)
        texts = [t for task in tasks for t in task.test_texts]
        return cls(tuple(t.name for t in tasks), {t.name: len(t.test_texts) for t in tasks},
                   {t.name: test_split_digest(t) for t in tasks},
                   frozenset(k for k in map(text_key, texts) if k), frozenset(k for k in map(word_key, texts) if k),
                   {t.name: t for t in tasks})

    def match(self, unit: str) -> str | None:
        """The key by which ``unit`` is a held-out text, or None."""
        k = text_key(unit)
        if k in self.keys:
            return k
        w = word_key(unit)
        return w if w and w in self.word_keys else None

    def holds(self, text: str) -> bool:
        return self.match(text) is not None

    def found(self, matched: set[str], task: TextTask) -> int:
        """How many test texts of ``task`` have a key among ``matched`` (keys seen in a corpus)."""
        return sum(1 for t in task.test_texts if text_key(t) in matched or (word_key(t) or None) in matched)


def corpus_tasks(corpus: str) -> tuple[str, ...]:
    """The built-in tasks defined on ``corpus`` (their test texts live in it)."""
    return CORPUS_TASKS.get(corpus, ())


# ----------------------------------------------------------------------------- registry
def _corpus(name: str, segments) -> TextCorpus:
    return TextCorpus(name, lambda: (t for t in (word_tokens(s) for s in segments()) if t))


@register_dataset("chatterbot", "chatterbot-corpus English dialogues (PyPI chatterbot-corpus), 21 topics",
                  modality="words")
def _reg_chatterbot(arg=None, **_: object) -> TextCorpus:
    return _corpus("chatterbot", lambda: [u for _, turns in chatterbot_conversations() for u in turns])


@register_dataset("fortunes", "Debian fortunes, one entry a segment (task: category)", modality="words")
def _reg_fortunes(arg=None, **_: object) -> TextCorpus:
    return _corpus("fortunes", lambda: [e for es in fortune_entries().values() for e in es])


@register_dataset("polarity", "200 movie-review sentences, pos/neg (gensim test data)", modality="words")
def _reg_polarity(arg=None, **_: object) -> TextCorpus:
    return _corpus("polarity", lambda: [t for _, t in polarity_sentences()])
