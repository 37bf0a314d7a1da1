import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("SELFSUP_DATA_DIR", str(REPO.parent / "shared" / "data"))
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


TEXT_SENTS = ["the cat sat on the mat .", "the dog ate my homework .", "a bird sang in the tree .",
              "we went to the market today .", "it rained all day long .", "she plays the violin well ."]


@pytest.fixture
def one_thread():
    """Run the test with one torch thread (small text models: deterministic and no oversubscription)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def corpus(tmp_path):
    """A 400-line text corpus drawn (seed 0) from six short sentences."""
    import numpy as np

    rng = np.random.default_rng(0)
    p = tmp_path / "corpus.txt"
    p.write_text("\n".join(TEXT_SENTS[i] for i in rng.integers(0, len(TEXT_SENTS), 400)) + "\n")
    return p


# Skip reasons say how to get what is missing (`make test` installs all of it where apt exists).
NEED_FMNIST = ("Fashion-MNIST idx files not found: `apt-get install dataset-fashion-mnist` (what `make test` does where "
               "apt exists), or set SELFSUP_DATA_DIR to a folder holding them")
NEED_KJV = "the KJV Bible needs the Debian package bible-kjv: `apt-get install bible-kjv` (what `make test` does)"
NEED_PLANETOID = ("Cora raw files not found: set SELFSUP_DATA_DIR to a folder with planetoid/Cora/raw (Planetoid format), "
                  "or run `selfsup pretrain dgi --data cora --download ...` once on a machine with a network")
