#!/usr/bin/env bash
# Create .venv in the project root and install textclf (editable) with its test tools.
# Without an NVIDIA GPU, the CPU build of torch is pinned first so pip does not fetch a multi-GB CUDA build;
# with a GPU, pip picks torch from the range in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! command -v nvidia-smi >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"
