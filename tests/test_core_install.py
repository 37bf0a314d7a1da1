"""The core install (no extras) must give a working CLI: `make demo` installs only `.[test]`.

Optional packages are made unimportable in a child interpreter; listing the methods and
running a tiny SimCLR pretraining must still work, and a command that needs an extra must say
which one to install."""

import subprocess
import sys
import textwrap

# networkx is not here: torch itself depends on it.
OPTIONAL = ["gensim", "tokenizers", "chatterbot_corpus", "torch_geometric", "sktime", "mnist1d",
            "imageio", "av", "cv2"]

BLOCKER = textwrap.dedent(f"""
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {OPTIONAL!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
            return None
    sys.meta_path.insert(0, _Block())
""")


def _run(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)


def test_cli_lists_methods_without_optional_packages(tmp_path):
    r = _run("""
        from selfsup.cli.main import main
        main(["list"])
    """, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("simclr", "moco-v2", "word2vec", "cpc", "dgi", "mlm", "frame-order", "split-brain"):
        assert name in r.stdout


def test_image_pretraining_without_optional_packages(tmp_path):
    r = _run(f"""
        from selfsup.cli.main import main
        main(["pretrain", "simclr", "--data", "digits", "--out", {str(tmp_path / 'run')!r}, "--epochs", "1",
              "--set", "batch_size=64", "--set", "train_samples=256"])
    """, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "run" / "encoder.safetensors").is_file()


def test_missing_extra_names_the_extra(tmp_path):
    r = _run(f"""
        import sys
        from selfsup.cli.main import main
        sys.exit(main(["pretrain", "cpc", "--data", "ucr:GunPoint", "--out", {str(tmp_path / 'run')!r}]))
    """, tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "selfsup[series]" in r.stderr and "Traceback" not in r.stderr
