#!/usr/bin/env python3
"""HF tokenizers reference numbers for `sentinel bench-spm` (optional cross-check; the project does not need Python).

    pip install tokenizers==0.23.3
    python3 Samples/bench-spm-hf.py TOKENIZER_JSON [CONLL_TRAIN] [STRINGS_JSONL] [STRING_REPEATS]

Same inputs as `sentinel bench-spm`: CoNLL-2003 train sentences (words joined by spaces) and the JSON-lines strings
repeated STRING_REPEATS times (200). Prints pieces/s (without <s>/</s>) for `encode` in a loop (1 thread) and
`encode_batch` (the Rust thread pool; set RAYON_NUM_THREADS=2 on a 2-core machine), best of 5.
"""
import json
import sys
import time

from tokenizers import Tokenizer

path = sys.argv[1]
conll = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/conll2003/train.txt"
strings = sys.argv[3] if len(sys.argv) > 3 else "../shared/fixtures/xlmr/real_spm_strings.jsonl"
repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 200

tok = Tokenizer.from_file(path)
sentences, words = [], []
for line in open(conll, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("-DOCSTART-"):
        if words:
            sentences.append(" ".join(words))
            words = []
        continue
    words.append(line.split(" ")[0])
if words:
    sentences.append(" ".join(words))
multilingual = [json.loads(l)["text"] for l in open(strings, encoding="utf-8") if l.strip()] * repeats

for name, texts in (("conll", sentences), ("strings", multilingual)):
    for mode in ("encode", "encode_batch"):
        best, pieces = float("inf"), 0
        for _ in range(5):
            t0 = time.perf_counter()
            if mode == "encode":
                encs = [tok.encode(t, add_special_tokens=False) for t in texts]
            else:
                encs = tok.encode_batch(texts, add_special_tokens=False)
            best = min(best, time.perf_counter() - t0)
            pieces = sum(len(e.ids) for e in encs)
        print(f"{name} ({len(texts)} texts) {mode}: {pieces} pieces in {best:.3f} s = {pieces / best / 1e6:.3f} M pieces/s")
