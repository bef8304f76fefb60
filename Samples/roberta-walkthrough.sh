#!/usr/bin/env bash
# A RoBERTa-style model (byte-level BPE) end to end, on the synthetic RoBERTa of the vendored fixtures
# (Tests/Fixtures/roberta/model, unpacked by Samples/unpack-fixtures.sh)
# (real byte-level BPE tokenizer, random weights): tokenize, embed, convert with the seed scheme, encrypt on the
# client, run the adapted model on the digests, look tokens up, verify. Every step is a `sentinel` command.
# Usage: Samples/roberta-walkthrough.sh [OUT_DIR]   (default Samples/.cache/roberta-walkthrough; key SENTINEL_KEY or llm123)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=$(Samples/unpack-fixtures.sh)
model=$shared/fixtures/roberta/model
out=${1:-Samples/.cache/roberta-walkthrough}
export SENTINEL_KEY=${SENTINEL_KEY:-llm123}
swift build -c release --product sentinel >&2
bin=$(swift build -c release --show-bin-path)/sentinel
mkdir -p "$out"
printf '%s\n' "Peter Blackburn lives in Berlin ." "the film is a charming , often funny ride" "Ünïcödé text and 日本語" > "$out/plain.txt"

echo "== 1. the original model on plain text (byte-level BPE pieces, RoBERTa position ids)"
"$bin" embed "$model" --input "$out/plain.txt" --output "$out/plain.safetensors" --force

echo "== 2. convert: digests of the byte-level spellings (Ġthe), seed id mapping, glide transform"
"$bin" convert "$model" --output "$out/adapted" --scheme seed --shuffle --glide-steps 2 --embedding-dtype F64 --force
ls "$out/adapted"    # vocab.json of digests, a WordLevel tokenizer.json; no merges.txt

echo "== 3. the client encrypts with the ORIGINAL tokenizer: one digest per piece"
"$bin" encrypt "$model" --input "$out/plain.txt" --output "$out/encrypted.txt" --force
cut -c1-100 "$out/encrypted.txt"

echo "== 4. the adapted model on the digests gives the original's output"
"$bin" embed "$out/adapted" --encrypted --input "$out/encrypted.txt" --output "$out/encrypted.safetensors" --force

echo "== 5. token ↔ digest ↔ old id ↔ new id, byte-level spellings shown readably (␣ = space, lone bytes in hex)"
"$bin" vocab "$out/adapted" --original "$model" --token "Ġthe"
"$bin" vocab "$out/adapted" --original "$model" --id 203

echo "== 6. verify: vocabulary, unchanged tensors, embedding rows, encoder on encrypted vs plain text"
"$bin" verify "$out/adapted" --original "$model"

echo "== 7. tokenizer speed on CoNLL-2003 train (pieces/s; compare with HF tokenizers, Formats/tokenizer-bpe.md)"
"$bin" bench-tokenize "$model" --data "$shared/data/conll2003/train.txt" --repeats 3
