#!/usr/bin/env bash
# The parity experiment of issue 10: MiniLM fine-tuned on CoNLL-2003 (1 epoch, batch 16, lr 5e-5, max length 128,
# seed 42), (a) the original model on plain text, (b) the seed-scheme adapted model (--scheme seed --shuffle, key
# llm123) on text encrypted by `sentinel encrypt`. Reports validation and test entity F1 (Sentinel's and seqeval's),
# whether the predictions are identical token for token, the epoch's wall time and peak RSS (/usr/bin/time -v).
# Optional: `Samples/finetune-parity.sh sst2` runs the same for SST-2 (first 5,000 training rows, full dev set).
# Needs a release build (`. Samples/build-env.sh && swift build -c release`), the model (Samples/fetch-minilm.sh),
# the unpacked data (Samples/unpack-fixtures.sh) and, for the cross-check, `pip install seqeval`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
B=${SENTINEL_BIN:-$root/.build/release/sentinel}
M=$("$here/fetch-minilm.sh")
DATA=$root/Samples/.cache/shared/data
W=${PARITY_DIR:-$root/Samples/.cache/parity}
export SENTINEL_KEY=llm123
task=${1:-conll}
mkdir -p "$W"
[ -d "$W/adapted" ] || "$B" convert "$M" --output "$W/adapted" --scheme seed --shuffle 2>/dev/null

run() {  # name, time log, finetune arguments...
  local name=$1 log=$2; shift 2
  /usr/bin/time -v "$B" finetune "$@" --epochs 1 --batch-size 16 --learning-rate 5e-5 --max-length 128 --seed 42 \
    --output "$W/$name" --force --json --progress > "$W/$name.json" 2> "$log"
  grep -E "Elapsed|Maximum resident" "$log"
  cat "$W/$name.json"
}

if [ "$task" = conll ]; then
  D=$DATA/conll2003
  for s in train valid test; do
    [ -f "$W/$s.jsonl" ] || "$B" encrypt "$M" --format conll --input "$D/$s.txt" --output "$W/$s.jsonl"
  done
  # The two runs share the machine (PARALLEL=0 runs them one after the other).
  if [ "${PARALLEL:-1}" = 1 ]; then
    run plain "$W/plain.time" "$M" --task ner --train "$D/train.txt" --validation "$D/valid.txt" &
    run encrypted "$W/encrypted.time" "$W/adapted" --task ner --encrypted --train "$W/train.jsonl" --validation "$W/valid.jsonl" &
    wait
  else
    run plain "$W/plain.time" "$M" --task ner --train "$D/train.txt" --validation "$D/valid.txt"
    run encrypted "$W/encrypted.time" "$W/adapted" --task ner --encrypted --train "$W/train.jsonl" --validation "$W/valid.jsonl"
  fi
  for s in valid test; do
    "$B" evaluate "$W/plain" --task ner --data "$D/$s.txt" --json > "$W/plain-$s.eval.json"
    "$B" evaluate "$W/encrypted" --task ner --encrypted --data "$W/$s.jsonl" --json > "$W/encrypted-$s.eval.json"
    "$B" predict "$W/plain" --task ner --format conll --max-length 128 --input "$D/$s.txt" --json > "$W/plain-$s.pred.json"
    "$B" predict "$W/encrypted" --task ner --encrypted --format jsonl --max-length 128 --input "$W/$s.jsonl" --json \
      > "$W/encrypted-$s.pred.json"
    echo "== $s"; cat "$W/plain-$s.eval.json" "$W/encrypted-$s.eval.json"
    python3 "$here/crosscheck/seqeval_predictions.py" "$D/$s.txt" "$W/plain-$s.pred.json" "$W/encrypted-$s.pred.json" || true
  done
else
  D=$DATA/glue/SST-2
  head -n 5001 "$D/train.tsv" > "$W/sst2-train5k.tsv"
  "$B" encrypt "$M" --format tsv --input "$W/sst2-train5k.tsv" --output "$W/sst2-train5k.jsonl" --force
  "$B" encrypt "$M" --format tsv --input "$D/dev.tsv" --output "$W/sst2-dev.jsonl" --force
  run sst2-plain "$W/sst2-plain.time" "$M" --task classification --train "$W/sst2-train5k.tsv" --validation "$D/dev.tsv" &
  run sst2-encrypted "$W/sst2-encrypted.time" "$W/adapted" --task classification --encrypted \
    --train "$W/sst2-train5k.jsonl" --validation "$W/sst2-dev.jsonl" &
  wait
fi
