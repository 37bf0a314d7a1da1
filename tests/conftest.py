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
