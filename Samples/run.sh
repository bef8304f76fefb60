#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build sentinel in release mode, fetch the real
# sample model (all-MiniLM-L6-v2), convert it with the seed scheme (shuffle, 2 glide passes) and verify the result
# against the original (vocabulary, unchanged tensors, embedding rows, encoder output on encrypted vs plain text).
# Usage: Samples/run.sh [OUT_DIR]   (default Samples/.cache/minilm-adapted; key from SENTINEL_KEY, default llm123)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. Samples/build-env.sh
Samples/install-deps.sh
swift build -c release --product sentinel >&2
model=$(Samples/fetch-minilm.sh)
out=${1:-Samples/.cache/minilm-adapted}
export SENTINEL_KEY=${SENTINEL_KEY:-llm123}
bin=$(swift build -c release --show-bin-path)/sentinel
"$bin" convert "$model" --output "$out" --scheme seed --shuffle --glide-steps 2 --force
"$bin" inspect "$out" --tensor embeddings.word_embeddings.weight
"$bin" verify "$out" --original "$model"
