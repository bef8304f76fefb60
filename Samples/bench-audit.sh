#!/usr/bin/env bash
# Benchmark: sentinel audit on the real MiniLM (30,522 × 384) after a seed-scheme conversion (key llm123, --shuffle,
# 2 glide passes), release build. Prints each attack's wall time and recovered fraction, the whole audit's wall and
# CPU time (user + sys) and peak RSS, and the load average: on a shared machine the CPU time is the steadier figure.
# Goals (issue 11): each attack under 5 s on 2 cores, the seed brute force under 60 s.
# Usage: Samples/bench-audit.sh [RUNS]   (default 1)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${1:-1}
swift build -c release --product sentinel >&2
bin=$(swift build -c release --show-bin-path)/sentinel
model=$(Samples/fetch-minilm.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SENTINEL_KEY=${SENTINEL_KEY:-llm123}
"$bin" convert "$model" --output "$tmp/adapted" --scheme seed --shuffle >/dev/null
for i in $(seq "$runs"); do
  echo "run $i (load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
  set +e
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$bin" audit "$tmp/adapted" --original "$model" --json > "$tmp/audit.json"
  status=$?
  set -e
  python3 - "$tmp/audit.json" "$tmp/time" "$status" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
wall, user, sys_, rss = open(sys.argv[2]).read().split()[-4:]
for a in doc["attacks"]:
    t10 = a["recovered_top10"]
    print(f'  {a["name"]:24s} {a["seconds"]:7.2f} s ({a["cpu_seconds"]:6.2f} s CPU)  top-1 {100 * a["recovered_top1"]:7.3f} %'
          + (f'  top-10 {100 * t10:7.3f} %' if t10 is not None else '') + f'  {a["verdict"]}')
print(f'  audit: {wall} s wall, {float(user) + float(sys_):.1f} s CPU, peak RSS {int(rss) / 1024:.0f} MiB, exit {sys.argv[3]}')
PY
done
