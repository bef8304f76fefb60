#!/usr/bin/env bash
# (Re)vendors the ground truth the tests read from ../shared into the repository, as listed in
# Tests/Fixtures/MANIFEST: fixtures/X -> Tests/Fixtures/X, data/X -> Samples/data/X (X.xz when xz packs the file
# at least 10 % smaller than git's own zlib does), safetensors files with keep=... trimmed to those tensors.
# Rewrites Tests/Fixtures/SHA256SUMS (sha256 of every vendored file's content, paths relative to ../shared) and
# removes vendored files that the manifest no longer lists. Files whose content is unchanged are left as they
# are, so a re-run changes nothing in git.
# Usage: Samples/vendor-fixtures.sh [SHARED_DIR]   (default: $SENTINEL_SHARED, else ../shared beside the checkout)
# Needs python3 (standard library only, to trim safetensors headers), xz, gzip, sha256sum. Tests never run it.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${1:-${SENTINEL_SHARED:-$root/../shared}}
if [ ! -d "$shared/fixtures" ]; then
  echo "error: $shared has no fixtures/ folder (pass the shared directory or set SENTINEL_SHARED)" >&2; exit 66
fi
shared=$(cd "$shared" && pwd)
manifest="$root/Tests/Fixtures/MANIFEST"
sums="$root/Tests/Fixtures/SHA256SUMS"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Where a shared-relative path is stored in the repository (without a .xz suffix).
stored() {
  case "$1" in
    fixtures/*) echo "$root/Tests/Fixtures/${1#fixtures/}" ;;
    data/*) echo "$root/Samples/data/${1#data/}" ;;
    *) echo "error: $manifest: '$1' is neither under fixtures/ nor data/" >&2; exit 65 ;;
  esac
}

# Parse the manifest: patterns (with their keep= lists) and exclusions.
patterns=() keeps=() excludes=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  line=${line%%#*}
  read -r path option extra <<<"$line" || true
  [ -z "${path:-}" ] && continue
  if [ -n "${extra:-}" ] || { [ -n "${option:-}" ] && [[ $option != keep=* ]]; }; then
    echo "error: $manifest line $lineno: expected 'PATH [keep=P1,P2,...]', got '$line'" >&2; exit 65
  fi
  if [[ $path == !* ]]; then excludes+=("${path#!}"); continue; fi
  patterns+=("$path")
  keeps+=("${option#keep=}")
done <"$manifest"

# Expand against the files of ../shared/fixtures and ../shared/data.
(cd "$shared" && find fixtures data -type f | sort) >"$tmp/all"
: >"$tmp/list"
used=()
for i in "${!patterns[@]}"; do used[$i]=0; done
while IFS= read -r file; do
  skip=0
  for x in "${excludes[@]}"; do [[ $file == $x ]] && skip=1; done
  [ $skip -eq 1 ] && continue
  for i in "${!patterns[@]}"; do
    p=${patterns[$i]}
    if [[ $p == */ && $file == "$p"* ]] || [[ $file == $p ]]; then
      printf '%s\t%s\n' "$file" "${keeps[$i]}" >>"$tmp/list"
      used[$i]=1
      break
    fi
  done
done <"$tmp/all"
for i in "${!patterns[@]}"; do
  if [ "${used[$i]}" -eq 0 ]; then echo "error: $manifest: '${patterns[$i]}' matches no file in $shared" >&2; exit 65; fi
done

# Trims a safetensors file to the tensors whose names match the comma-separated patterns (fnmatch):
# same dtype, shape and bytes, in the original order, data packed in that order, __metadata__ kept,
# the header padded with spaces to a multiple of 8 as safetensors does.
trim() {
  python3 - "$1" "$2" "$3" <<'PY'
import fnmatch, json, struct, sys
src, out, patterns = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
with open(src, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    start = 8 + n
    kept, blobs, offset = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            kept[name] = info
            continue
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        a, b = info["data_offsets"]
        f.seek(start + a)
        blobs.append(f.read(b - a))
        kept[name] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [offset, offset + b - a]}
        offset += b - a
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(k, p) for k in kept if k != "__metadata__")]
    if unmatched:
        sys.exit(f"error: {src}: keep= pattern(s) {unmatched} match no tensor")
text = json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode()
text += b" " * (-len(text) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text)
    for blob in blobs:
        f.write(blob)
PY
}

: >"$tmp/sums"
: >"$tmp/keep-files"
count=0 packed=0
while IFS=$'\t' read -r file keep; do
  dest=$(stored "$file")
  content="$shared/$file"
  if [ -n "$keep" ]; then
    content="$tmp/trimmed"
    trim "$shared/$file" "$content" "$keep"
  fi
  sha=$(sha256sum "$content" | cut -d' ' -f1)
  printf '%s  %s\n' "$sha" "$file" >>"$tmp/sums"
  count=$((count + 1))
  mkdir -p "$(dirname "$dest")"
  # Unchanged content keeps its stored form.
  if [ -f "$dest.xz" ] && [ "$(xz -dc "$dest.xz" | sha256sum | cut -d' ' -f1)" = "$sha" ]; then
    echo "$dest.xz" >>"$tmp/keep-files"; packed=$((packed + 1)); continue
  fi
  if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$sha" ]; then
    echo "$dest" >>"$tmp/keep-files"; continue
  fi
  xz -9e -T1 -c "$content" >"$tmp/packed.xz"
  xzsize=$(stat -c %s "$tmp/packed.xz")
  gzsize=$(gzip -6 -c "$content" | wc -c)
  rm -f "$dest" "$dest.xz"
  if [ $((xzsize * 10)) -le $((gzsize * 9)) ] && [ $((gzsize - xzsize)) -ge 4096 ]; then
    chmod 0644 "$tmp/packed.xz"; mv "$tmp/packed.xz" "$dest.xz"; echo "$dest.xz" >>"$tmp/keep-files"; packed=$((packed + 1))
  else
    install -m 0644 "$content" "$dest.tmp"; mv "$dest.tmp" "$dest"; echo "$dest" >>"$tmp/keep-files"
  fi
  echo "vendored $file" >&2
done <"$tmp/list"

# Vendored files the manifest no longer lists.
for dir in "$root/Tests/Fixtures" "$root/Samples/data"; do
  [ -d "$dir" ] || continue
  find "$dir" -type f ! -path "$root/Tests/Fixtures/MANIFEST" ! -path "$sums" | sort | while IFS= read -r f; do
    grep -qxF "$f" "$tmp/keep-files" || { echo "removed ${f#$root/}" >&2; rm -f "$f"; }
  done
  find "$dir" -mindepth 1 -type d -empty -delete
done
mv "$tmp/sums" "$sums"
echo "$count files vendored ($packed xz-packed); Tests/Fixtures/SHA256SUMS rewritten" >&2
