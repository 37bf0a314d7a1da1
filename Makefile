# selfsup: `make demo` installs and runs the quickstart; `make test` installs the whole product and runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make demo` needs the core package only; `make test` installs every extra (text, graph, series, video) and the
# test tools, so a fresh clone tests the whole product.
DEMO_EXTRAS ?=
TEST_EXTRAS ?= all,test
EXTRAS ?= $(TEST_EXTRAS)

.PHONY: demo test install data test-data venv clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)

venv: $(BIN)/python

# torch first, pinned, so no other package pulls a multi-GB CUDA build.
# PIP_FLAGS: `make demo` installs with --no-compile (install + data check 108 s instead of 142 s in fresh-clone `make demo` runs, BENCHMARKS.md: pip
# would byte-compile every module of torch & co.); Python then compiles only what the demo imports.
PIP_FLAGS ?=
install: venv
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(PIP_FLAGS) "torch==2.13.0"
	$(BIN)/pip install -q $(PIP_FLAGS) -e ".$(if $(strip $(EXTRAS)),[$(EXTRAS)])"
	@# the word2vec / DeepWalk numba kernels compiled into their on-disk cache now, as gensim's wheels ship its loop
	@# compiled: the first word2vec command then starts at once (~3 s here; ~0.5 s when the cache is already warm)
	@$(BIN)/python -m selfsup.word2vec

# Debian packages of real data, installed with apt where it exists and they are missing (sudo when not root).
# A machine without apt (or without the right to use it) gets a note; the tests that need the data then skip, saying how to get it.
APT_INSTALL = if command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
		($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$PKGS) \
		|| echo "could not install $$PKGS with apt: install them yourself (or pass --data-dir / --download to selfsup)"; \
	else echo "apt is unavailable: install $$PKGS yourself, or pass --data-dir / --download to selfsup"; fi

# Fashion-MNIST (Debian dataset-fashion-mnist), for the demo and the tests.
data:
	@if $(BIN)/python -c "from selfsup.data.fashion_mnist import candidate_dirs, FILES, _find; import sys; sys.exit(0 if all(_find(f, candidate_dirs(None)) for f, _ in FILES.values()) else 1)"; then \
		echo "Fashion-MNIST found"; \
	else PKGS="dataset-fashion-mnist"; $(APT_INSTALL); fi

# The text corpora the tests read: the KJV Bible (bible-kjv: the `bible` command) and fortunes; and headless
# Chromium (chromium), which opens `selfsup compare`'s report.html in tests/test_report_browser.py.
test-data: data
	@PKGS=""; command -v bible >/dev/null 2>&1 || PKGS="$$PKGS bible-kjv"; \
	[ -d /usr/share/games/fortunes ] || PKGS="$$PKGS fortunes"; \
	command -v chromium >/dev/null 2>&1 || PKGS="$$PKGS chromium"; \
	if [ -n "$$PKGS" ]; then $(APT_INSTALL); else echo "KJV Bible, fortunes and chromium found"; fi

demo: PIP_FLAGS = --no-compile
demo: EXTRAS = $(DEMO_EXTRAS)
demo: install data
	$(BIN)/selfsup quickstart --out runs/quickstart --fresh

test: install test-data
	$(BIN)/python -m pytest tests -rs

bench: install data
	$(BIN)/python benchmarks/simclr_vs_lightly.py

# never deletes runs: a run directory may hold a user's work (`selfsup quickstart --fresh` replaces its own run)
clean:
	rm -rf .pytest_cache src/*.egg-info
