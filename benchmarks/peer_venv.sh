#!/usr/bin/env bash
# Create (or refresh) the throwaway "peer" virtualenv used by
# benchmarks/peer_lightly_simclr.py.
#
# The peer benchmark runs lightly's SimCLR pipeline, which needs torchvision.
# Installing torchvision into the project venv would replace the project's torch
# build, so the peer lives in its own venv, outside the repository:
#
#   ${PEER_VENV:-$HOME/.cache/selfsup-peer-venv}
#
# Idempotent: re-running reuses the venv and only installs what is missing.
# Versions can be overridden with PEER_TORCH / PEER_TORCHVISION / PEER_LIGHTLY
# (pip requirement specifiers, e.g. PEER_LIGHTLY='lightly==1.6.0').
#
# Usage: bash benchmarks/peer_venv.sh     (prints the venv's python at the end)
set -euo pipefail

PEER_VENV="${PEER_VENV:-$HOME/.cache/selfsup-peer-venv}"
PEER_TORCH="${PEER_TORCH:-torch==2.14.1}"
PEER_TORCHVISION="${PEER_TORCHVISION:-torchvision==0.29.1}"
PEER_LIGHTLY="${PEER_LIGHTLY:-lightly}"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$PEER_VENV/bin/python" ]]; then
    mkdir -p "$(dirname "$PEER_VENV")"
    "$PYTHON" -m venv "$PEER_VENV"
fi

# pip's own configuration (find-links, extra index, constraints) supplies the
# torch / torchvision wheels; nothing here points at a specific index.
"$PEER_VENV/bin/python" -m pip install --quiet \
    "$PEER_TORCH" "$PEER_TORCHVISION" "$PEER_LIGHTLY"

"$PEER_VENV/bin/python" - <<'EOF' >&2
import importlib.metadata as md
for name in ("torch", "torchvision", "lightly"):
    print(f"peer venv: {name}=={md.version(name)}")
EOF

echo "$PEER_VENV/bin/python"
