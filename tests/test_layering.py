"""The one-way layering of GUIDE.md, enforced on the source's import statements."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "selfsup"
BASE = {"errors", "config", "runfiles", "__init__", "__version__"}  # runfiles: torch-free run files
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
    "pipelines": {"functional", "losses", "modules", "augment", "encoders", "data", "word2vec", "methods", "train",
                  "eval"},
    "cli": None,  # the only place that imports everything
}
# top-level modules: what each may import
MODULES = {"api": ALLOWED["pipelines"] | {"pipelines"}}
ROOT = SRC.parents[1]


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


def test_api_imports_only_pipelines_and_below():
    for name, allowed in MODULES.items():
        bad = imported_packages(SRC / f"{name}.py") - BASE - allowed
        assert not bad, f"{name}.py imports selfsup.{bad}"


def cli_imports(path: Path) -> set[str]:
    """The ``selfsup.cli...`` modules that ``path`` imports (anywhere in it, functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[:2] == ["selfsup", "cli"]}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[:2] == ["selfsup", "cli"]:
                out.add(node.module)
            elif node.module == "selfsup":
                out |= {f"selfsup.{a.name}" for a in node.names if a.name == "cli"}
    return out


def offenders_of_cli_rule(root: Path) -> list[str]:
    """Files that import ``selfsup.cli`` but may not: the library outside ``cli/``, the benchmarks,
    and tests that import more of the CLI than its entry point ``selfsup.cli.main`` (the CLI's own
    tests run ``main``; everything else uses the library API)."""
    bad = []
    for f in sorted((root / "src" / "selfsup").rglob("*.py")):
        if "cli" not in f.relative_to(root / "src" / "selfsup").parts and cli_imports(f):
            bad.append(f"{f.relative_to(root)} imports {sorted(cli_imports(f))}")
    for f in sorted((root / "benchmarks").rglob("*.py")):
        if cli_imports(f):
            bad.append(f"{f.relative_to(root)} imports {sorted(cli_imports(f))} (run the command, or use selfsup.api)")
    for f in sorted((root / "tests").rglob("*.py")):
        if cli_imports(f) - {"selfsup.cli.main"}:
            bad.append(f"{f.relative_to(root)} imports {sorted(cli_imports(f) - {'selfsup.cli.main'})}")
    return bad


def test_nothing_but_the_cli_and_its_tests_imports_selfsup_cli():
    bad = offenders_of_cli_rule(ROOT)
    assert not bad, "\n".join(bad)


def test_the_cli_rule_catches_a_benchmark_and_a_library_module(tmp_path):
    (tmp_path / "src" / "selfsup" / "eval").mkdir(parents=True)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "src" / "selfsup" / "eval" / "x.py").write_text("def f():\n    from selfsup.cli.text import a\n")
    (tmp_path / "benchmarks" / "b.py").write_text("from selfsup.cli.main import main\n")
    (tmp_path / "tests" / "test_a.py").write_text("from selfsup.cli.main import main\n")  # allowed: runs the CLI
    (tmp_path / "tests" / "test_b.py").write_text("import selfsup.cli.series\n")
    bad = offenders_of_cli_rule(tmp_path)
    assert [b.split(" ")[0] for b in bad] == ["src/selfsup/eval/x.py", "benchmarks/b.py", "tests/test_b.py"]


def test_every_subpackage_is_classified():
    pkgs = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert pkgs <= set(ALLOWED), pkgs - set(ALLOWED)
