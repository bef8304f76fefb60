#!/usr/bin/env bash
# The privacy–utility report (issue 11): for the seed scheme and several hardened settings, the audit's recovery
# rates (an attacker holding the public model) next to the entity F1 the adapted model reaches when fine-tuned on
# encrypted CoNLL-2003 — one table (report.md, report.json) and one plot (privacy-utility.svg).
#
# Usage: Samples/privacy-utility.sh [OUT_DIR]        (default Samples/.cache/privacy-utility)
#   TRAIN_SENTENCES (default 2000): the first N sentences of the CoNLL-2003 training set
#   EPOCHS (default 2), VALIDATION_SENTENCES (default: the whole validation set, 3,250)
#   SETTINGS: space-separated names among those below (default: all)
#   REUSE=1: keep the conversions, audits, encrypted files and fine-tuning runs already in OUT_DIR
#   SENTINEL_BIN: a sentinel binary to use instead of building one
#   STEPS=audit: convert, audit and encrypt only (no fine-tuning, no report)
# Release build; key from SENTINEL_KEY (default llm123). Takes about 5 minutes per setting on 2 idle cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. Samples/build-env.sh
Samples/install-deps.sh
if [ -n "${SENTINEL_BIN:-}" ]; then
  bin=$SENTINEL_BIN
else
  swift build -c release --product sentinel >&2
  bin=$(swift build -c release --show-bin-path)/sentinel
fi
model=$(Samples/fetch-minilm.sh)
Samples/unpack-fixtures.sh >/dev/null
data=Samples/.cache/shared/data/conll2003
out=${1:-Samples/.cache/privacy-utility}
train_n=${TRAIN_SENTENCES:-2000}
val_n=${VALIDATION_SENTENCES:-0}
epochs=${EPOCHS:-2}
export SENTINEL_KEY=${SENTINEL_KEY:-llm123}
mkdir -p "$out"
reusable() { [ "${REUSE:-0}" = 1 ] && [ -s "$1" ]; }

# name | convert options (after --output)
declare -A convert_options=(
  [plain]=""
  [seed]="--scheme seed --shuffle --glide-steps 2"
  [hardened-permutation]="--scheme hardened --noise-std 0"
  [hardened-noise-0.2]="--scheme hardened --noise-std 0.2"
  [hardened-noise-0.5]="--scheme hardened --noise-std 0.5"
  [hardened-noise-1]="--scheme hardened --noise-std 1"
  [hardened-reinit-0.5]="--scheme hardened --reinit-fraction 0.5"
  [hardened-reinit-1]="--scheme hardened --reinit-fraction 1"
)
order="plain seed hardened-permutation hardened-noise-0.2 hardened-noise-0.5 hardened-noise-1 hardened-reinit-0.5 hardened-reinit-1"
settings=${SETTINGS:-$order}

# The first N sentences (blank-line separated, -DOCSTART- lines dropped) of a CoNLL file.
head_sentences() { # FILE N OUT
  python3 - "$1" "$2" "$3" <<'PY'
import sys
src, n, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
blocks, cur = [], []
for line in open(src, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line.strip():
        if cur: blocks.append(cur); cur = []
        continue
    if line.startswith("-DOCSTART-"): continue
    cur.append(line)
if cur: blocks.append(cur)
if n > 0: blocks = blocks[:n]
with open(dst, "w", encoding="utf-8") as f:
    for b in blocks: f.write("\n".join(b) + "\n\n")
print(len(blocks))
PY
}
echo "train: $(head_sentences "$data/train.txt" "$train_n" "$out/train-$train_n.conll") sentences," \
  "validation: $(head_sentences "$data/valid.txt" "$val_n" "$out/valid-$val_n.conll") sentences, $epochs epochs" >&2

for name in $settings; do
  dir="$out/$name"
  mkdir -p "$dir"
  echo "== $name" >&2
  if [ "$name" = plain ]; then
    adapted=$model
    train="$out/train-$train_n.conll" valid="$out/valid-$val_n.conll" encrypted=""
    echo '{"passed": null, "attacks": []}' > "$dir/audit.json"
  else
    adapted="$dir/model"
    if ! reusable "$dir/audit.json"; then
      # shellcheck disable=SC2086
      "$bin" convert "$model" --output "$adapted" ${convert_options[$name]} --force >/dev/null
      set +e
      "$bin" audit "$adapted" --original "$model" --json > "$dir/audit.json.tmp"
      status=$?
      set -e
      [ "$status" -le 1 ] || { echo "audit failed with exit $status" >&2; exit "$status"; }
      mv "$dir/audit.json.tmp" "$dir/audit.json"
      rm -f "$dir"/*.jsonl "$dir/finetune.json"
    fi
    manifest=()
    [[ "$name" == hardened* ]] && manifest=(--manifest "$adapted")
    for part in "train-$train_n" "valid-$val_n"; do
      reusable "$dir/$part.jsonl" ||
        "$bin" encrypt "$model" "${manifest[@]}" --format conll --input "$out/$part.conll" --output "$dir/$part.jsonl" --force
    done
    train="$dir/train-$train_n.jsonl" valid="$dir/valid-$val_n.jsonl" encrypted="--encrypted"
    # Frequency analysis of the encrypted validation text against the plain training text's wordpiece counts:
    # digests are deterministic per token under every scheme, so no embedding setting changes this figure.
    if ! reusable "$dir/frequency-$train_n-$val_n.json"; then
      set +e
      "$bin" audit "$adapted" --original "$model" --attacks ciphertext_frequency --ciphertext "$valid" \
        --corpus "$out/train-$train_n.conll" --json > "$dir/frequency.json.tmp"
      status=$?
      set -e
      [ "$status" -le 1 ] || { echo "frequency audit failed with exit $status" >&2; exit "$status"; }
      mv "$dir/frequency.json.tmp" "$dir/frequency-$train_n-$val_n.json"
    fi
  fi
  [ "${STEPS:-all}" = audit ] && continue
  reusable "$dir/finetune-$train_n-$epochs.json" && continue
  # shellcheck disable=SC2086
  /usr/bin/time -f "%e %M" -o "$dir/finetune-$train_n-$epochs.time" "$bin" finetune "$adapted" --task ner --train "$train" --validation "$valid" \
    --output "$dir/finetuned" --epochs "$epochs" --batch-size 16 --learning-rate 5e-5 --max-length 128 --seed 42 \
    $encrypted --json --force > "$dir/finetune.json.tmp"
  mv "$dir/finetune.json.tmp" "$dir/finetune-$train_n-$epochs.json"
done
[ "${STEPS:-all}" = audit ] && exit 0

python3 - "$out" "$settings" "$train_n" "$epochs" "$val_n" <<'PY'
import json, os, sys
out, settings, train_n, epochs, val_n = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5]
def f1_of(doc):
    # finetune --json: the final validation metrics (entity F1 as a fraction)
    for key in ("validation", "metrics", "eval"):
        if isinstance(doc.get(key), dict): doc = doc[key]; break
    for key in ("f1", "entity_f1", "overall_f1"):
        if key in doc: return float(doc[key])
    raise SystemExit(f"no f1 in finetune output: {doc}")
rows = []
for name in settings:
    d = os.path.join(out, name)
    audit = json.load(open(os.path.join(d, "audit.json")))
    ft = json.load(open(os.path.join(d, f"finetune-{train_n}-{epochs}.json")))
    wall, rss = open(os.path.join(d, f"finetune-{train_n}-{epochs}.time")).read().split()[-2:]
    attacks = {a["name"]: a["recovered_top1"] for a in audit["attacks"]}
    freq_path = os.path.join(d, f"frequency-{train_n}-{val_n}.json")
    frequency = json.load(open(freq_path))["attacks"][0] if os.path.exists(freq_path) else None
    rows.append(dict(setting=name, f1=f1_of(ft), best_attack=max(attacks.values()) if attacks else None,
                     best_attack_name=max(attacks, key=attacks.get) if attacks else None, attacks=attacks,
                     passed=audit.get("passed"), ciphertext_decoded=frequency["recovered_top1"] if frequency else None, finetune_seconds=float(wall), finetune_peak_rss_kib=int(rss)))
json.dump(dict(train_sentences=train_n, epochs=epochs, rows=rows), open(os.path.join(out, "report.json"), "w"), indent=1)
names = sorted({k for r in rows for k in r["attacks"]})
with open(os.path.join(out, "report.md"), "w") as f:
    f.write(f"Fine-tuning: MiniLM, CoNLL-2003 first {train_n} training sentences, {epochs} epochs, batch 16, lr 5e-5, "
            "max length 128, seed 42; validation entity F1 (seqeval). Audit: top-1 fraction of the hidden ids recovered "
            "by an attacker holding the public model (threshold 1 %); ciphertext decoded: fraction of the encrypted validation "
            "tokens that frequency analysis (ranked against the plain training text's wordpiece counts) decodes.\n\n")
    f.write("| setting | val F1 | worst attack | recovered | audit | ciphertext decoded | " + " | ".join(names) + " |\n")
    f.write("|---" * (6 + len(names)) + "|\n")
    for r in rows:
        rec = "–" if r["best_attack"] is None else f'{100 * r["best_attack"]:.2f} %'
        verdict = "–" if r["passed"] is None else ("pass" if r["passed"] else "FAIL")
        cells = [f'{100 * r["attacks"][n]:.2f}' if n in r["attacks"] else "" for n in names]
        dec = "–" if r["ciphertext_decoded"] is None else f'{100 * r["ciphertext_decoded"]:.1f} %'
        f.write(f'| {r["setting"]} | {100 * r["f1"]:.1f} | {r["best_attack_name"] or "–"} | {rec} | {verdict} | {dec} | ' + " | ".join(cells) + " |\n")
# SVG: recovered fraction (log x) against F1 (y), one labelled point per setting.
import math
W, H, L, B = 640, 420, 70, 50
xs = [max(r["best_attack"], 1e-5) if r["best_attack"] is not None else None for r in rows]
fs = [100 * r["f1"] for r in rows]
ylo, yhi = math.floor(min(fs) / 5) * 5, math.ceil(max(fs) / 5) * 5 + (5 if max(fs) % 5 == 0 else 0)
def px(x): return L + (math.log10(x) + 5) / 5 * (W - L - 20)
def py(y): return H - B - (y - ylo) / max(yhi - ylo, 1) * (H - B - 20)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<line x1="{L}" y1="{H-B}" x2="{W-20}" y2="{H-B}" stroke="black"/><line x1="{L}" y1="20" x2="{L}" y2="{H-B}" stroke="black"/>',
       f'<line x1="{px(0.01):.1f}" y1="20" x2="{px(0.01):.1f}" y2="{H-B}" stroke="red" stroke-dasharray="4 3"/>',
       f'<text x="{px(0.01)+4:.1f}" y="32" fill="red">audit threshold 1 %</text>',
       f'<text x="{(L+W)/2:.0f}" y="{H-12}" text-anchor="middle">vocabulary recovered by the strongest attack (top-1, log scale)</text>',
       f'<text x="16" y="{(H-B)/2:.0f}" transform="rotate(-90 16 {(H-B)/2:.0f})" text-anchor="middle">validation entity F1 (%)</text>']
for e in range(-5, 1):
    svg.append(f'<text x="{px(10**e):.1f}" y="{H-B+16}" text-anchor="middle">{100 * 10**e:g} %</text>')
for y in range(int(ylo), int(yhi) + 1, 5):
    svg.append(f'<text x="{L-6}" y="{py(y)+4:.1f}" text-anchor="end">{y}</text>')
for r, x, f1 in zip(rows, xs, fs):
    if x is None:
        svg.append(f'<line x1="{L}" y1="{py(f1):.1f}" x2="{W-20}" y2="{py(f1):.1f}" stroke="gray" stroke-dasharray="2 2"/>')
        svg.append(f'<text x="{W-24}" y="{py(f1)-4:.1f}" text-anchor="end" fill="gray">plain model, plain data</text>')
        continue
    color = "green" if r["passed"] else "red"
    svg.append(f'<circle cx="{px(x):.1f}" cy="{py(f1):.1f}" r="4" fill="{color}"/>')
    svg.append(f'<text x="{px(x)+6:.1f}" y="{py(f1)-6:.1f}">{r["setting"]}</text>')
svg.append("</svg>")
open(os.path.join(out, "privacy-utility.svg"), "w").write("\n".join(svg) + "\n")
print(open(os.path.join(out, "report.md")).read())
PY
