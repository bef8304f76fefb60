#!/usr/bin/env bash
# The HF Trainer guide end to end (README.md beside this file): convert MiniLM with the seed scheme, encrypt a CoNLL-2003
# subset on the client, fine-tune the adapted model on the encrypted JSON lines with transformers' Trainer, then check
# the result with Sentinel.
# Usage: Samples/hf-trainer/run.sh [OUT_DIR] [TRAIN_SENTENCES]   (default Samples/.cache/hf-trainer, 500)
# Environment: SENTINEL (the sentinel binary; default: `sentinel` on PATH, else .build/release, else .build/debug),
# SENTINEL_KEY (default llm123), VALID_SENTENCES (default: all 3,250 of valid.txt), EPOCHS (default 1),
# LEARNING_RATE (default 5e-5).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${1:-Samples/.cache/hf-trainer}
n=${2:-500}
export SENTINEL_KEY=${SENTINEL_KEY:-llm123}
bin=${SENTINEL:-$(command -v sentinel || true)}
for b in .build/release/sentinel .build/debug/sentinel; do [ -n "$bin" ] || { [ -x "$b" ] && bin=$b; }; done
[ -n "$bin" ] || { echo "error: no sentinel binary (swift build -c release, or set SENTINEL)" >&2; exit 64; }
py=$(Samples/interop/setup.sh)
minilm=$(Samples/fetch-minilm.sh)
data=$(Samples/unpack-fixtures.sh)/data/conll2003
mkdir -p "$out"

# The first N sentences of a CoNLL file (blank-line separated; -DOCSTART- lines dropped).
first_sentences() {
  awk -v n="$2" '/^-DOCSTART-/ { next } /^[[:space:]]*$/ { if (len) { k++; print ""; len = 0 } if (k >= n) exit; next } { print; len++ } END { if (len) print "" }' "$1"
}
first_sentences "$data/train.txt" "$n" > "$out/train.txt"
first_sentences "$data/valid.txt" "${VALID_SENTENCES:-1000000}" > "$out/valid.txt"

echo "== 1. convert (model owner): seed scheme, shuffled ids" >&2
"$bin" convert "$minilm" --output "$out/adapted" --scheme seed --shuffle --force
# The model owner checks the conversion before handing it out (vocabulary, unchanged tensors, forward parity).
"$bin" verify "$out/adapted" --original "$minilm"
echo "== 2. encrypt (client, ORIGINAL tokenizer): CoNLL -> JSON lines of digests" >&2
"$bin" encrypt "$minilm" --format conll --input "$out/train.txt" --output "$out/train.jsonl" --force
"$bin" encrypt "$minilm" --format conll --input "$out/valid.txt" --output "$out/valid.jsonl" --force
echo "== 3. fine-tune with the HF Trainer (datasets + from_pretrained on those files as they are)" >&2
/usr/bin/time -v "$py" Samples/hf-trainer/train.py --model "$out/adapted" --task ner --train "$out/train.jsonl" \
  --validation "$out/valid.jsonl" --output "$out/finetuned" --epochs "${EPOCHS:-1}" --learning-rate "${LEARNING_RATE:-5e-5}" --cpu 2> >(grep -E "Elapsed|Maximum resident|Error|error" >&2)
echo "== 4. check with Sentinel" >&2
# The fine-tuned directory still answers to the key (its tokenizer is the adapted one); verify is not run on it: its
# encoder weights are trained, so they no longer equal the original's (verify is the check of a conversion).
"$bin" vocab "$out/finetuned" --original "$minilm" --token berlin
if "$bin" evaluate --help >/dev/null 2>&1; then
  "$bin" evaluate "$out/finetuned" --task ner --data "$out/valid.jsonl" --encrypted --json
else
  echo "this sentinel has no 'evaluate' yet (it comes with the fine-tuning branch); predict instead:" >&2
  "$bin" predict "$out/finetuned" --task ner --encrypted --input "$out/valid.jsonl" --json | head -c 600; echo
fi
