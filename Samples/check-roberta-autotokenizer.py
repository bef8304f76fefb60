#!/usr/bin/env python3
# Optional cross-check (needs `pip install transformers tokenizers`; no torch): transformers loads the adapted RoBERTa
# directory that `sentinel convert` wrote, and maps the space-separated digests of the ORIGINAL fast tokenizer's pieces
# (of every string of ../shared/fixtures/roberta/tokenizer_cases.jsonl) to the adapted ids of its vocab.json.
# Usage: Samples/check-roberta-autotokenizer.py ORIGINAL_DIR ADAPTED_DIR KEY
import json, hashlib, os, sys, transformers, tokenizers
from transformers import AutoTokenizer
orig_dir, adapted_dir, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()
orig = AutoTokenizer.from_pretrained(orig_dir)
ad = AutoTokenizer.from_pretrained(adapted_dir)
vocab = json.load(open(adapted_dir + "/vocab.json"))
specials = set(orig.all_special_tokens)
def enc(text):
    return [t if t in specials else hashlib.blake2b(t.encode(), key=key, digest_size=16).hexdigest() for t in orig.tokenize(text)]
n = ok = 0
for line in open(os.path.join(os.environ.get("SENTINEL_SHARED") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"), "fixtures", "roberta", "tokenizer_cases.jsonl"), encoding="utf-8"):
    text = json.loads(line)["text"]
    d = enc(text)
    got = ad(" ".join(d))["input_ids"]
    want = [vocab["<s>"]] + [vocab[x] for x in d] + [vocab["</s>"]]
    n += 1; ok += got == want
pair = ad(" ".join(enc("the film is a charming , often funny ride")), " ".join(enc("it is not")))["input_ids"]
a, b = [vocab[x] for x in enc("the film is a charming , often funny ride")], [vocab[x] for x in enc("it is not")]
print(f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}: {type(ad).__name__} loaded; "
      f"{ok}/{n} fixture strings map to the adapted ids; pair ok: {pair == [0] + a + [2, 2] + b + [2]}; "
      f"unknown digest -> {ad('0123456789abcdef0123456789abcdef')['input_ids']}")
