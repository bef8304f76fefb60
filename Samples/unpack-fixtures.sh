#!/usr/bin/env bash
# Unpacks the vendored ground truth (Tests/Fixtures -> fixtures/, Samples/data -> data/, X.xz decompressed) into
# a git-ignored copy of ../shared's layout, checks every file against Tests/Fixtures/SHA256SUMS, and prints its
# path. The tests read fixtures and datasets only from there (SentinelTestSupport's Fixtures.shared).
# Usage: Samples/unpack-fixtures.sh [DEST]   (default: Samples/.cache/shared)
# Idempotent and quick when DEST is current: DEST/.complete holds a digest of every stored file, and any change
# to the vendored files unpacks again. The copy is built aside and renamed into place (never half-written).
# Exit status 65 when a file does not match SHA256SUMS (the message names it).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/Samples/.cache/shared}
sums="$root/Tests/Fixtures/SHA256SUMS"
mkdir -p "$(dirname "$dest")"

# Digest of what is stored: every vendored file's sha256 and path.
stamp=$( { cd "$root" && find Tests/Fixtures Samples/data -type f | sort | xargs -d '\n' sha256sum; } | sha256sum | cut -d' ' -f1)
exec 9>"$dest.lock"
flock 9
if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$stamp" ]; then echo "$dest"; exit 0; fi

tmp=$(mktemp -d "$dest.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
while read -r sha file; do
  case "$file" in
    fixtures/*) src="$root/Tests/Fixtures/${file#fixtures/}" ;;
    data/*) src="$root/Samples/data/${file#data/}" ;;
    *) echo "error: $sums: '$file' is neither under fixtures/ nor data/" >&2; exit 65 ;;
  esac
  mkdir -p "$(dirname "$tmp/$file")"
  if [ -f "$src.xz" ]; then
    xz -dc "$src.xz" >"$tmp/$file"
  elif [ -f "$src" ]; then
    cp "$src" "$tmp/$file"
  else
    echo "error: $file is listed in Tests/Fixtures/SHA256SUMS but neither ${src#$root/} nor its .xz exists" >&2; exit 65
  fi
  chmod 0444 "$tmp/$file"
done <"$sums"
if ! bad=$(cd "$tmp" && sha256sum --quiet -c "$sums" 2>&1); then
  echo "error: vendored files do not match Tests/Fixtures/SHA256SUMS:" >&2
  echo "$bad" >&2
  exit 65
fi
echo "$stamp" >"$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
