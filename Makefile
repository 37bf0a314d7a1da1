# selfsup: `make demo` installs and runs the quickstart; `make test` installs and runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test
export SELFSUP_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test install data venv clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)

venv: $(BIN)/python

# torch first, pinned, so no other package pulls a multi-GB CUDA build.
# PIP_FLAGS: `make demo` installs with --no-compile (install + data check 108 s instead of 142 s in fresh-clone `make demo` runs, BENCHMARKS.md: pip
# would byte-compile every module of torch & co.); Python then compiles only what the demo imports.
PIP_FLAGS ?=
install: venv
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(PIP_FLAGS) "torch==2.13.0"
	$(BIN)/pip install -q $(PIP_FLAGS) -e ".[$(EXTRAS)]"

# Fashion-MNIST from Debian when apt is available and no copy is found.
data:
	@if $(BIN)/python -c "from selfsup.data.fashion_mnist import candidate_dirs, FILES, _find; import sys; sys.exit(0 if all(_find(f, candidate_dirs(None)) for f, _ in FILES.values()) else 1)"; then \
		echo "Fashion-MNIST found"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "Fashion-MNIST not found and apt is unavailable: pass --data-dir or --download to selfsup"; \
	fi

demo: PIP_FLAGS = --no-compile
demo: install data
	$(BIN)/selfsup quickstart --out runs/quickstart --fresh

test: install data
	$(BIN)/python -m pytest tests

bench: install data
	$(BIN)/python benchmarks/simclr_vs_lightly.py

clean:
	rm -rf runs .pytest_cache
