#!/usr/bin/env bash
# The code is kept formatted with swift-format and the project's .swift-format (indent 4, lines up to 150).
# Exits 1, listing the differences, when a Swift file is not formatted; `Samples/check-format.sh --fix` formats them.
# The generated protobuf code (*.pb.swift) and the package manifests are left as they are.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Symbolic links (Tests/Fuzz shares FuzzHarness.swift with the main suite) are formatted through their target.
mapfile -t files < <(git ls-files '*.swift' | grep -v -E '\.pb\.swift$|(^|/)Package\.swift$' | while read -r f; do [ -L "$f" ] || echo "$f"; done)
if [ "${1:-}" = "--fix" ]; then
  swift format --configuration .swift-format -i "${files[@]}"
  exit 0
fi
if ! out=$(swift format lint --configuration .swift-format --strict "${files[@]}" 2>&1) || [ -n "$out" ]; then
  echo "$out" | head -40 >&2
  echo "format: $(echo "$out" | grep -c warning) lines are not formatted; run Samples/check-format.sh --fix" >&2
  exit 1
fi
echo "format: ${#files[@]} Swift files formatted"
