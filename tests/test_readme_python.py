"""Every ```python block of README.md runs as written (offline data only), each in a fresh folder.

Blocks that need data this machine may lack are skipped with the reason that says how to get it;
``corpus.txt``, the reader's own text file in the word2vec example, is written by the test."""

import re
from pathlib import Path

import pytest
from conftest import NEED_FMNIST, NEED_PLANETOID

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


BLOCKS = python_blocks(README.read_text())


def _have_fmnist() -> bool:
    from selfsup.data.fashion_mnist import candidate_dirs

    return any((d / "t10k-images-idx3-ubyte.gz").exists() or (d / "t10k-images-idx3-ubyte").exists()
               for d in candidate_dirs(None))


def _have_cora() -> bool:
    import os

    root = Path(os.environ.get("SELFSUP_DATA_DIR", "")) / "planetoid" / "Cora" / "raw"
    return root.is_dir() and any(root.iterdir())


def _skip_reason(block: str) -> str | None:
    if '"fashion-mnist"' in block and not _have_fmnist():
        return NEED_FMNIST
    if '"cora"' in block and not _have_cora():
        return NEED_PLANETOID
    return None


def test_readme_has_the_api_examples():
    """The Python section shows the API on an image, a series, a text and a graph example."""
    api = [b for b in BLOCKS if "selfsup.pretrain(" in b]
    data = {m.group(1) for b in api for m in re.finditer(r'selfsup\.pretrain\("[\w-]+", "([\w:-]+)"', b)}
    assert {"digits", "ucr:GunPoint", "polarity", "cora"} <= data, data
    for call in ("selfsup.evaluate(", "selfsup.embed(", "selfsup.load_encoder(", "selfsup.list_methods("):
        assert any(call in b for b in api), call


def test_python_blocks_are_found():
    assert len(BLOCKS) >= 4
    assert python_blocks("x\n```python\na = 1\n```\n```bash\nb\n```\n```python\nc = 2\n```\n") == ["a = 1\n", "c = 2\n"]


# a block that trains on Fashion-MNIST in its own loop takes minutes on 2 cores: marked slow (still run in CI)
PARAMS = [pytest.param(i, id=f"block{i}", marks=[pytest.mark.slow] if '"fashion-mnist"' in b else [])
          for i, b in enumerate(BLOCKS)]


@pytest.mark.parametrize("i", PARAMS)
def test_readme_python_block_runs(i, tmp_path, monkeypatch, one_thread):
    block = BLOCKS[i]
    reason = _skip_reason(block)
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(tmp_path)
    if "corpus.txt" in block:  # the reader's own corpus: a small one with the words the example asks about
        words = "the king and the queen rule the land . the man and the woman walk to the market ."
        (tmp_path / "corpus.txt").write_text((words + "\n") * 200)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(block, f"README.md python block {i}", "exec"), namespace)  # noqa: S102  (raises if it fails)
