#!/usr/bin/env bash
# Benchmark: sentinel convert on the real MiniLM (seed scheme, --shuffle, 2 glide passes), release build.
# Prints each run's wall time and peak RSS, the median, and the ratios against the authors' converter
# figures measured on this machine class (../shared/perf/BASELINE.md: ~10 s wall, ~1.06 GiB peak RSS).
# Usage: Samples/bench-convert.sh [RUNS [CONVERT OPTIONS...]]   (default 7 runs, --shuffle)
#   e.g. Samples/bench-convert.sh 5 --scheme hardened --noise-std 0.1   (the ratios then compare another scheme)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. Samples/build-env.sh
runs=${1:-7}
shift || true
opts=("$@")
[ ${#opts[@]} -eq 0 ] && opts=(--scheme seed --shuffle)
swift build -c release --product sentinel >&2
bin=$(swift build -c release --show-bin-path)/sentinel
model=$(Samples/fetch-minilm.sh)
size=$(stat -c %s "$model/model.safetensors")
out=$(mktemp -d)/adapted
export SENTINEL_KEY=${SENTINEL_KEY:-llm123}
"$bin" convert "$model" --output "$out" "${opts[@]}" --force >/dev/null 2>&1   # warm the page cache
walls=(); rss=()
for i in $(seq "$runs"); do
  rm -rf "$out"; sync   # each run writes a fresh output directory (removing the old one is not timed)
  line=$( { /usr/bin/time -f "%e %M" "$bin" convert "$model" --output "$out" "${opts[@]}" >/dev/null; } 2>&1 | tail -n 1)
  walls+=("${line% *}"); rss+=("${line#* }")
  echo "run $i: ${line% *} s wall, ${line#* } KiB peak RSS"
done
python3 - "$size" "${walls[@]}" -- "${rss[@]}" <<'PY'
import sys, statistics
args = sys.argv[1:]
size = int(args[0]); sep = args.index("--")
walls = [float(x) for x in args[1:sep]]; rss = [int(x) for x in args[sep + 1:]]
w = statistics.median(walls); r = max(rss) * 1024
print(f"median wall {w:.3f} s (min {min(walls):.3f}); peak RSS {r / 2**20:.1f} MiB = {r / size:.2f}x the model file ({size} bytes)")
print(f"vs reference converter (BASELINE.md, ~10 s, ~1.06 GiB): {10 / w:.0f}x faster, {1.06 * 2**30 / r:.1f}x less memory")
PY
"$bin" inspect "$model/model.safetensors" >/dev/null
/usr/bin/time -f "inspect (header only): %e s wall, %M KiB peak RSS" "$bin" inspect "$model/model.safetensors" >/dev/null
rm -rf "$(dirname "$out")"
