#!/usr/bin/env bash
# Benchmark: the native encoder's forward pass on the real MiniLM and a BERT-base geometry, release build,
# against the machine's sgemm peak and PyTorch's figures (../shared/perf/BASELINE.md); then the peak RSS of
# `sentinel embed` on MiniLM (weights memory-mapped).
# Usage: Samples/bench-encoder.sh [REPEATS]   (default 9)   Extra build flags: SWIFT_BUILD_FLAGS, e.g.
#   SWIFT_BUILD_FLAGS="-Xswiftc -target-cpu -Xswiftc znver4" Samples/bench-encoder.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. Samples/build-env.sh
repeats=${1:-9}
# shellcheck disable=SC2086
swift build -c release --product sentinel ${SWIFT_BUILD_FLAGS:-} >&2
# shellcheck disable=SC2086
bin=$(swift build -c release --show-bin-path ${SWIFT_BUILD_FLAGS:-})/sentinel
model=$(Samples/fetch-minilm.sh)
"$bin" bench encoder --model "$model" --repeats "$repeats"
input=$(mktemp)
out=$(mktemp -d)
trap 'rm -rf "$input" "$out"' EXIT
shared=$(Samples/unpack-fixtures.sh)
python3 - "$input" "$shared" <<'PY'
import json, os, sys
cases = json.load(open(os.path.join(sys.argv[2], "fixtures", "bert", "cases_shared.json")))
with open(sys.argv[1], "w") as f:
    for _ in range(100):
        for a, b in cases["f01"]:
            f.write(a + ("\t" + b if b else "") + "\n")
PY
line=$( { /usr/bin/time -f "%e %M" "$bin" embed "$model" --input "$input" --output "$out/e.safetensors" >/dev/null; } 2>&1 | tail -n 1)
echo "embed, $(wc -l < "$input") sentences of f01 (plain text): ${line% *} s wall, ${line#* } KiB peak RSS"
