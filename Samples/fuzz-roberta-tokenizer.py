#!/usr/bin/env python3
# Optional cross-check (pip install tokenizers): 4,000 random strings from mixed pools (letters, digits, every kind of
# whitespace, contractions, punctuation, accents, combining marks, CJK, emoji, zero-width and control characters,
# special tokens) through `sentinel encrypt` and through HF tokenizers; prints the number of mismatches.
# Usage: Samples/fuzz-roberta-tokenizer.py SEED SENTINEL_BINARY [MODEL_DIR]
import random, json, hashlib, os, subprocess, sys
MODEL = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.environ.get('SENTINEL_SHARED') or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'), 'fixtures', 'roberta', 'model')
from tokenizers import Tokenizer
tok = Tokenizer.from_file(MODEL + '/tokenizer.json')
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
pools = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "   ", " \u00a0\u2003\u3000\u2009\u000b\u000c\u0085\u1680",
  "'''", "sStTmMdDrReEvVlL", ".,;:!?-()[]{}\"#$%&*+/<=>@\\^_`|~", "éèüñçÀÉÖßøåæœ", "\u0301\u0308\u0327\u20dd",
  "日本語中文한국어ひらがなカタカナ", "😀👍🏽🇩🇪❤️‍🔥", "\u200b\u200d\u2060\ufeff\u00ad", "αβγδΩЖжщ", "٠١٢٣ⅣⅫ½²", "\u0000\u0001\u001f\u007f",
  "<s></s><mask><pad><unk>", "ʼˈˑ", "\U0001F600\U00010348\U0002A6D6", "\u0378\ue000\ufffd",
]
texts = []
for _ in range(4000):
    n = rng.randint(1, 40)
    s = "".join(rng.choice(rng.choice(pools)) for _ in range(n))
    texts.append(s)
open(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'sentinel-fuzz.txt'), 'w', encoding='utf-8').write("\n".join(texts) + "\n")
out = subprocess.run([sys.argv[2], 'encrypt', MODEL, '--input', os.path.join(os.environ.get('TMPDIR', '/tmp'), 'sentinel-fuzz.txt'), '--output', '-'],
                     env={'SENTINEL_KEY': 'llm123', 'PATH': '/usr/bin:/bin'}, capture_output=True, text=True)
assert out.returncode == 0, out.stderr
lines = out.stdout.split("\n")
specials = {"<s>", "</s>", "<mask>", "<pad>", "<unk>"}
bad = 0
for i, t in enumerate(texts):
    toks = tok.encode(t, add_special_tokens=False).tokens
    want = [x if x in specials else hashlib.blake2b(x.encode(), key=b'llm123', digest_size=16).hexdigest() for x in toks]
    got = lines[i].split(" ") if lines[i] else []
    if got != want:
        bad += 1
        if bad <= 5: print("MISMATCH", repr(t), toks)
print(f"{len(texts)} random strings, {bad} mismatches")
