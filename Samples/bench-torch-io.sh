#!/usr/bin/env bash
# Benchmark of PyTorch checkpoint I/O on the real MiniLM (90 MB): MiB/s and peak RSS of
#   write: sentinel export model.safetensors -> pytorch_model.bin
#   read:  sentinel export pytorch_model.bin -> model.safetensors (reads the .bin, writes safetensors)
# against `cp` of the same file (and `cp` + `sync`, since Sentinel's writers fsync).
# Usage: Samples/bench-torch-io.sh [SENTINEL_BINARY] [RUNS]   (build with: swift build -c release)
# Times are wall-clock from /usr/bin/time -v; the best of RUNS (default 3) is reported, page cache warm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../.build/release/sentinel}
runs=${2:-3}
model=$("$here/fetch-minilm.sh")
st="$model/model.safetensors"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

measure() { # name size command...
  local name=$1 size=$2; shift 2
  local best="" rss=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -v "$@" > /dev/null 2> "$tmp/time.txt"
    local wall kb
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2, t, ":"); s = 0; for (i = 1; i <= length(t); i++) s = s * 60 + t[i]; print s}' "$tmp/time.txt")
    kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
    if [ -z "$best" ] || awk "BEGIN {exit !($wall < $best)}"; then best=$wall; rss=$kb; fi
  done
  awk -v n="$name" -v s="$size" -v w="$best" -v r="$rss" \
    'BEGIN {printf "%-34s %8.3f s  %8.1f MiB/s  peak RSS %7.1f MiB (%.2fx file)\n", n, w, s / 1048576 / (w > 0 ? w : 1e-9), r / 1024, r * 1024 / s}'
}

"$bin" export "$st" --output "$tmp/pytorch_model.bin" --format pytorch > /dev/null
size=$(stat -c %s "$tmp/pytorch_model.bin")
echo "MiniLM pytorch_model.bin: $size bytes; safetensors: $(stat -c %s "$st") bytes; $runs runs, best shown"
measure "cp (.bin)" "$size" cp "$tmp/pytorch_model.bin" "$tmp/copy.bin"
measure "cp + sync (.bin)" "$size" sh -c "cp '$tmp/pytorch_model.bin' '$tmp/copy.bin' && sync '$tmp/copy.bin'"
measure "write: safetensors -> .bin" "$size" "$bin" export "$st" --output "$tmp/out.bin" --format pytorch
measure "read: .bin -> safetensors" "$size" "$bin" export "$tmp/pytorch_model.bin" --output "$tmp/back.safetensors" --format safetensors
cmp <(tail -c +1 "$st") "$tmp/back.safetensors" && echo "round trip: back.safetensors is byte-identical to model.safetensors"
