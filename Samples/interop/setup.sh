#!/usr/bin/env bash
# Creates the Python environment of the HuggingFace interoperability checks (Samples/interop/check.py) and of
# the HF Trainer guide (Samples/hf-trainer): a venv in the git-ignored Samples/.cache/interop-venv with CPU-only
# torch (2.13.0+cpu: no CUDA libraries), transformers, safetensors, datasets, accelerate,
# seqeval and scikit-learn (the metric references of Formats/metrics).
# Usage: Samples/interop/setup.sh [VENV_DIR]   Prints the venv's python on stdout.
# Idempotent: when the venv holds every pinned package at its version it does nothing else (well under a second).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-${SENTINEL_INTEROP_VENV:-$here/../.cache/interop-venv}}
mkdir -p "$(dirname "$venv")"
venv=$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")
py="$venv/bin/python"
# Pinned versions: the ones the checks were run with (README of Samples/interop).
torch_req='torch==2.13.0+cpu'
reqs=(transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0 datasets==5.2.0 accelerate==1.16.0 seqeval==1.2.2 scikit-learn==1.9.1 numpy==2.4.6)
stamp="$venv/.sentinel-interop-$(printf '%s\n' "$torch_req" "${reqs[@]}" | sha256sum | cut -c1-16)"

# Quick path: the stamp of these pins is there and every pinned distribution is installed at its version.
pins=$(printf '%s\n' "$torch_req" "${reqs[@]}")
if [ -x "$py" ] && [ -f "$stamp" ] && PINS="$pins" "$py" -c '
import importlib.metadata as m, os, sys
sys.exit(any(m.version(n) != v for n, v in (l.split("==") for l in os.environ["PINS"].split())))' 2>/dev/null; then
  echo "$py"; exit 0
fi
if [ ! -x "$py" ]; then
  echo "creating $venv" >&2
  python3 -m venv "$venv" >&2
fi
"$py" -m pip install --quiet --upgrade pip >&2
# The CPU build of torch first, so that transformers/accelerate find torch satisfied and pull no CUDA packages:
# from pip's configured find-links when it has the wheel (this machine: /opt/wheels), else from the PyTorch
# CPU index (dependencies from PyPI).
if ! "$py" -m pip install --quiet "$torch_req" >&2 2>/dev/null; then
  "$py" -m pip install --quiet "$torch_req" --extra-index-url https://download.pytorch.org/whl/cpu >&2
fi
"$py" -m pip install --quiet "${reqs[@]}" >&2
if "$py" -m pip list 2>/dev/null | grep -qi '^nvidia-'; then
  echo "error: CUDA packages were installed into $venv:" >&2
  "$py" -m pip list 2>/dev/null | grep -i '^nvidia-' >&2
  exit 1
fi
"$py" -c 'import torch, transformers, safetensors, datasets, seqeval, sklearn' >&2
rm -f "$venv"/.sentinel-interop-*
touch "$stamp"
echo "$py"
