"""Text corpora as re-iterable streams of token lists.

Every corpus is a :class:`TextCorpus`: iterate it (any number of times) to get lists of
lowercased tokens, one per sentence or document. Names on the command line:

* ``enwiki-sample`` - the shortened English Wikipedia dump plus ``head500.noblanks.cor`` that
  gensim ships as test data (~784k tokens);
* ``lee`` - the Lee background news corpus (gensim test data);
* ``kjv`` - the King James Bible, one verse a line (Debian ``bible-kjv``: ``bible`` command);
* ``text:PATH`` - a plain-text file (or a folder of ``*.txt``), one sentence or document a line,
  lowercased and split on whitespace;
* ``wiki:PATH`` - a Wikipedia ``pages-articles*.xml.bz2`` dump, streamed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from selfsup.data.registry import register_dataset
from selfsup.errors import UserError, warn_skipped

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def simple_tokens(line: str) -> list[str]:
    """Lowercase and split on whitespace (the ``text:PATH`` rule)."""
    return line.lower().split()


def word_tokens(line: str) -> list[str]:
    """Lowercase and keep alphanumeric words (punctuation dropped)."""
    return _TOKEN.findall(line.lower())


@dataclass
class TextCorpus:
    """A named, re-iterable stream of token lists."""

    name: str
    make_iter: Callable[[], Iterator[list[str]]]
    description: str = ""

    def __iter__(self) -> Iterator[list[str]]:
        return self.make_iter()

    def summary(self) -> str:
        n_docs = n_tok = 0
        for s in self:
            n_docs += 1
            n_tok += len(s)
        return f"{self.name}: {n_docs} lines/documents, {n_tok} tokens"


def _gensim_test_file(name: str) -> Path:
    try:
        from gensim.test.utils import datapath
    except ImportError as e:
        raise UserError(f"the corpus file {name} ships with gensim's test data, and gensim is not installed",
                        hint="pip install 'selfsup[text]' (or pip install gensim)") from e
    path = Path(datapath(name))
    if not path.exists():
        raise UserError(f"{path} not found in gensim's test data")
    return path


def _lines(path: Path, tokenizer: Callable[[str], list[str]], encoding: str = "utf-8") -> Iterator[list[str]]:
    with open(path, encoding=encoding, errors="replace") as f:
        for line in f:
            toks = tokenizer(line)
            if toks:
                yield toks


def _wiki_articles(path: Path) -> Iterator[list[str]]:
    """Articles of a ``pages-articles*.xml.bz2`` dump, tokenised as gensim's ``WikiCorpus`` does.

    Read in this process (gensim's ``WikiCorpus.get_texts`` reads in a helper process, where a
    corrupt dump prints a traceback and leaves the reader waiting forever).
    """
    import bz2
    from xml.etree.ElementTree import ParseError

    from gensim.corpora import wikicorpus as wc

    fix = "the dump is corrupt or truncated; download it again (pages-articles*.xml.bz2) or pass another file"
    try:
        with bz2.BZ2File(path) as f:
            for title, text, _ in wc.extract_pages(f, filter_namespaces=("0",)):
                tokens = wc.tokenize(wc.filter_wiki(text or ""), wc.TOKEN_MIN_LEN, wc.TOKEN_MAX_LEN, True)
                if len(tokens) < wc.ARTICLE_MIN_WORDS or any(
                        (title or "").startswith(ns + ":") for ns in wc.IGNORED_NAMESPACES):
                    continue
                yield tokens
    except (OSError, EOFError, ParseError, ValueError) as e:  # bz2 stream and XML errors
        raise UserError(f"cannot read Wikipedia dump {path}: {type(e).__name__}: {e}", hint=fix) from None


def _cached(name: str, make: Callable[[], Iterator[list[str]]]) -> Callable[[], Iterator[list[str]]]:
    """Materialise a slow-to-parse corpus once per process."""
    cache: list[list[list[str]]] = []

    def it() -> Iterator[list[str]]:
        if not cache:
            cache.append(list(make()))
        return iter(cache[0])

    return it


def enwiki_sample() -> TextCorpus:
    wiki = _gensim_test_file("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    head = _gensim_test_file("head500.noblanks.cor")

    def make() -> Iterator[list[str]]:
        yield from _wiki_articles(wiki)
        yield from _lines(head, simple_tokens)

    return TextCorpus("enwiki-sample", _cached("enwiki-sample", make),
                      "shortened English Wikipedia dump + head500 (gensim test data)")


def wiki_dump(path: str | os.PathLike) -> TextCorpus:
    """A Wikipedia ``pages-articles*.xml.bz2`` dump, streamed article by article (gensim's WikiCorpus
    markup stripping and tokenisation; articles under 50 tokens skipped, as gensim does)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"Wikipedia dump {p} not found", hint="wiki:PATH takes a pages-articles*.xml.bz2 file")
    try:
        import gensim  # noqa: F401
    except ImportError as e:
        raise UserError("reading a Wikipedia dump needs gensim", hint="pip install 'selfsup[text]'") from e
    return TextCorpus(f"wiki:{p}", lambda: _wiki_articles(p), f"Wikipedia dump {p.name}")


def lee() -> TextCorpus:
    path = _gensim_test_file("lee_background.cor")
    return TextCorpus("lee", lambda: _lines(path, word_tokens, encoding="latin-1"), "Lee background news corpus")


def kjv_reference_lines() -> list[str]:
    """The KJV's lines: those of ``$SELFSUP_KJV`` as they are when it is set, else the verses of the
    Debian package bible-kjv's ``bible`` command, one a line with its reference ("Ge1:1 In the beginning ...")."""
    env = os.environ.get("SELFSUP_KJV")
    if env:
        return read_text_file(Path(env), "SELFSUP_KJV").splitlines()
    exe = shutil.which("bible") or ("/usr/bin/bible" if Path("/usr/bin/bible").exists() else None)
    if exe is None:
        raise UserError("the KJV Bible needs the Debian package bible-kjv (the `bible` command)",
                        hint="apt-get install bible-kjv, or set SELFSUP_KJV=/path/to/kjv.txt (one verse a line)")
    out = subprocess.run([exe, "-f", "-l100000", "gen1:1-rev22:21"], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise UserError(f"`bible` failed: {out.stderr.strip()[:200]}")
    return out.stdout.splitlines()


def _kjv_lines() -> list[str]:
    if os.environ.get("SELFSUP_KJV"):  # a user's file is taken line by line as it is
        return kjv_reference_lines()
    lines = []
    for line in kjv_reference_lines():
        # "Ge1:1 In the beginning ..." (or "Genesis 1:1 ...") -> drop the verse reference
        m = re.match(r"^\s*(?:[1-3] ?)?[A-Za-z]+(?: of [A-Za-z]+)? ?\d+:\d+\s*(.*)$", line)
        lines.append(m.group(1) if m else line)
    return lines


def kjv() -> TextCorpus:
    cache: list[list[list[str]]] = []

    def it() -> Iterator[list[str]]:
        if not cache:
            cache.append([t for t in (word_tokens(v) for v in _kjv_lines()) if t])
        return iter(cache[0])

    return TextCorpus("kjv", it, "King James Bible, one verse a line (Debian bible-kjv)")


BINARY_SHARE = 0.01  # more undecodable characters than this and a file is not UTF-8 text


def text_problem(path: Path, chunk: int = 1 << 20) -> str | None:
    """Why ``path`` is not a usable UTF-8 text file (empty, binary, another encoding), or ``None``."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chars = bad = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                if b"\x00" in block:
                    return "binary data (NUL bytes), not text"
                text = decoder.decode(block)
                chars += len(text)
                bad += text.count("\ufffd")
            text = decoder.decode(b"", final=True)
            chars += len(text)
            bad += text.count("\ufffd")
    except OSError as e:
        return f"cannot read it: {e}"
    if chars == 0:
        return "empty file"
    if bad > BINARY_SHARE * chars:
        return f"not UTF-8 text ({bad} of {chars} characters undecodable: binary data or another encoding)"
    return None


TEXT_FIX = ("convert it to UTF-8 text (e.g. iconv -f latin1 -t utf-8), remove it, "
            "or pass --skip-bad-files to skip bad files with a warning")


def read_text_file(path: Path, what: str = "text file") -> str:
    """The whole of a UTF-8 text file, or a ``UserError`` naming it and the fix."""
    if not path.is_file():
        raise UserError(f"{what} {path} not found", hint="pass an existing UTF-8 text file")
    problem = text_problem(path)
    if problem is not None:
        raise UserError(f"{what} {path}: {problem}", hint="convert it to UTF-8 text (e.g. iconv -f latin1 -t utf-8)")
    return path.read_text(encoding="utf-8", errors="replace")


def text_file(path: str | os.PathLike, skip_bad_files: bool = False) -> TextCorpus:
    """A plain-text file, or every ``*.txt`` under a folder, one sentence or document a line.

    Each file is checked once: empty, binary or non-UTF-8 files raise a ``UserError`` naming the
    file, or with ``skip_bad_files`` are skipped and listed in one warning.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"text corpus {p} not found", hint="text:PATH takes a file (one sentence a line) or folder")
    files = sorted(f for f in p.rglob("*.txt") if f.is_file()) if p.is_dir() else [p]
    if not files:
        raise UserError(f"no *.txt files under {p}")
    good, skipped = [], []
    for f in files:
        problem = text_problem(f)
        if problem is None:
            good.append(f)
        elif skip_bad_files:
            skipped.append((str(f), problem))
        else:
            raise UserError(f"text file {f}: {problem}", hint=TEXT_FIX)
    warn_skipped("text files", skipped)
    if not good:
        raise UserError(f"no readable text in {p}: all {len(files)} files were skipped", hint=TEXT_FIX)

    def it() -> Iterator[list[str]]:
        for f in good:
            yield from _lines(f, simple_tokens)

    return TextCorpus(f"text:{p}", it, f"plain text from {p}")


def iterable(sentences) -> TextCorpus:
    """Wrap any re-iterable of token lists."""
    return TextCorpus("iterable", lambda: iter(sentences))


CORPORA: dict[str, Callable[[], TextCorpus]] = {"enwiki-sample": enwiki_sample, "lee": lee, "kjv": kjv}


def load_text_corpus(name: str, skip_bad_files: bool = False) -> TextCorpus:
    """Resolve a corpus name (``enwiki-sample``, ``lee``, ``kjv``, ``text:PATH``, ``wiki:PATH``).

    ``skip_bad_files`` applies to ``text:FOLDER`` (empty, binary or non-UTF-8 files are skipped
    with a warning instead of stopping).
    """
    if name.startswith("text:"):
        return text_file(name[5:], skip_bad_files)
    if name.startswith("wiki:"):
        return wiki_dump(name[5:])
    if name not in CORPORA:
        from selfsup.errors import unknown_name

        raise unknown_name("text corpus", name, [*CORPORA, "text:PATH", "wiki:PATH"])
    return CORPORA[name]()


@register_dataset("enwiki-sample", "shortened English Wikipedia + head500 (gensim test data), ~784k tokens",
                  modality="words")
def _reg_enwiki(arg=None, **_: object) -> TextCorpus:
    return enwiki_sample()


@register_dataset("lee", "Lee background news corpus (gensim test data)", modality="words")
def _reg_lee(arg=None, **_: object) -> TextCorpus:
    return lee()


@register_dataset("kjv", "King James Bible, one verse a line (Debian bible-kjv)", modality="words")
def _reg_kjv(arg=None, **_: object) -> TextCorpus:
    return kjv()


@register_dataset("text", "plain text, one sentence or document a line (text:PATH)", prefix=True, modality="words")
def _reg_text(arg=None, skip_bad_files: bool = False, **_: object) -> TextCorpus:
    return text_file(arg, skip_bad_files)


@register_dataset("wiki", "a Wikipedia pages-articles*.xml.bz2 dump, streamed (wiki:PATH)", prefix=True,
                  modality="words")
def _reg_wiki(arg=None, **_: object) -> TextCorpus:
    return wiki_dump(arg)
