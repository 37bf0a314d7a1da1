"""The one-way layering of GUIDE.md, enforced on the source's import statements."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "selfsup"
BASE = {"errors", "config", "__init__", "__version__"}
# layer -> the library packages it may import (besides BASE modules and itself)
ALLOWED = {
    "functional": set(),
    "augment": set(),
    "encoders": {"functional"},  # pure math only (split-brain's Lab conversion inside SplitEncoder)
    "data": set(),
    "word2vec": set(),  # the numba word2vec engine and random walks (numpy/numba only)
    "losses": {"functional"},
    "modules": {"functional"},
    "methods": {"functional", "losses", "modules", "augment", "encoders", "word2vec"},
    "eval": {"functional", "losses", "modules", "augment", "encoders", "data"},
    "train": {"functional", "losses", "modules", "augment", "encoders", "data", "methods"},
    "cli": None,  # the only place that imports everything
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "selfsup":
                names = [f"selfsup.{a.name}" for a in node.names]
        for n in names:
            parts = n.split(".")
            if parts[0] == "selfsup" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_layers_import_one_way():
    bad = []
    for layer, allowed in ALLOWED.items():
        if allowed is None:
            continue
        for f in (SRC / layer).rglob("*.py"):
            for pkg in imported_packages(f) - BASE - {layer} - allowed:
                bad.append(f"{f.relative_to(SRC)} imports selfsup.{pkg}")
    assert not bad, "\n".join(bad)


def test_every_subpackage_is_classified():
    pkgs = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert pkgs <= set(ALLOWED), pkgs - set(ALLOWED)
