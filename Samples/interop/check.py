#!/usr/bin/env python3
"""HuggingFace interoperability of what `sentinel convert` and `sentinel encrypt` write, checked with transformers.

For each model (MiniLM = BERT WordPiece, the synthetic RoBERTa = byte-level BPE, the synthetic XLM-R = SentencePiece
unigram; the last two from the vendored fixtures), with the seed scheme and --shuffle:
  convert     `sentinel convert ORIGINAL --output ADAPTED --shuffle` succeeds
  tokenizer   AutoTokenizer.from_pretrained(ADAPTED) loads
  model       AutoModel.from_pretrained(ADAPTED, output_loading_info=True): no missing/unexpected/mismatched key
  encrypt     `sentinel encrypt ORIGINAL` gives, line by line, the keyed BLAKE2b digests (computed here with hashlib)
              of the ORIGINAL HF fast tokenizer's pieces (special tokens, and pieces the vocabulary lacks as unk)
  ids         the adapted tokenizer maps those space-separated digests to [CLS]/<s> + the adapted vocabulary file's
              ids of the digests + [SEP]/</s>
  forward     the adapted model on those ids equals the original model on the plain ids: max |Δ last_hidden_state|
              (and pooler_output) <= 1e-4
  plaintext   no plaintext vocabulary, merges, pieces or .model in ADAPTED: no merges.txt / *.model file; every entry
              of the vocabulary file and of tokenizer.json's model vocabulary is a 32-hex digest or a special token;
              no merges; no string of the tokenizer files equals an original vocabulary entry
  pytorch     `sentinel convert --format pytorch` output: torch.load(weights_only=True) loads it, same names and values
              as the safetensors conversion
Usage: check.py --sentinel BIN [--work DIR] [--key KEY] [--models minilm,roberta,xlmr] [--json]
Prints a line per check (or, with --json, one JSON report on stdout); exit 1 when a check fails.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

transformers.logging.set_verbosity_error()
torch.set_num_threads(2)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "Samples" / ".cache" / "shared" / "fixtures"
MODELS = {
    "minilm": ROOT / "Samples" / ".cache" / "all-MiniLM-L6-v2",
    "roberta": SHARED / "roberta" / "model",
    "xlmr": SHARED / "xlmr" / "model",
}
SENTENCES = [
    "Peter Blackburn lives in Berlin .",
    "EU rejects German call to boycott British lamb .",
    "the film is a charming , often funny ride",
    "Ünïcödé text, naïve café and 日本語 with numbers 12,345.67!",
    "Zürich und Köln sind Städte ; Москва и Санкт-Петербург",
    "unaffable",
]
TOLERANCE = 1e-4
HEX = re.compile(r"^[0-9a-f]{32}$")


def run(cmd, env):
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return r, time.time() - t


class Checks:
    def __init__(self, name):
        self.name, self.results = name, []

    def record(self, check, ok, detail):
        self.results.append({"check": check, "ok": bool(ok), "detail": detail})
        return ok

    def failed(self):
        return [r for r in self.results if not r["ok"]]


def digest(token, key):
    return hashlib.blake2b(token.encode("utf-8"), key=key.encode("utf-8"), digest_size=16).hexdigest()


def vocabulary_file(adapted):
    """token -> id from the adapted directory's vocabulary file (vocab.txt lines or vocab.json)."""
    if (adapted / "vocab.txt").exists():
        lines = (adapted / "vocab.txt").read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return {t: i for i, t in enumerate(lines)}, "vocab.txt"
    return json.loads((adapted / "vocab.json").read_text(encoding="utf-8")), "vocab.json"


def json_strings(value, out):
    """Every string value (not the object keys: those are the format's own field names) of a JSON value."""
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, list):
        for v in value:
            json_strings(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            json_strings(v, out)
    return out


def check_plaintext(c, original_tok, adapted, specials):
    files = sorted(p.name for p in adapted.iterdir())
    bad_files = [f for f in files if f == "merges.txt" or f.endswith(".model") or f == "spiece.model"]
    c.record("plaintext: no merges/.model file", not bad_files, {"files": files, "forbidden": bad_files})
    vocab, vocab_name = vocabulary_file(adapted)
    plain_entries = [t for t in vocab if not HEX.match(t) and t not in specials]
    c.record(f"plaintext: {vocab_name} only digests and specials", not plain_entries,
             {"entries": len(vocab), "not_digest": plain_entries[:10]})
    tj = json.loads((adapted / "tokenizer.json").read_text(encoding="utf-8"))
    model = tj.get("model", {})
    mv = model.get("vocab", {})
    pieces = [p[0] for p in mv] if isinstance(mv, list) else list(mv)
    plain_pieces = [p for p in pieces if not HEX.match(p) and p not in specials]
    merges = model.get("merges") or []
    c.record("plaintext: tokenizer.json model vocab only digests and specials, no merges",
             not plain_pieces and not merges,
             {"model_type": model.get("type"), "entries": len(pieces), "not_digest": plain_pieces[:10], "merges": len(merges)})
    original = {t for t in original_tok.get_vocab() if t not in specials and len(t) >= 4}
    strings = set()
    strings.update(vocab)  # the vocabulary's keys (vocab.json) or lines (vocab.txt)
    if isinstance(mv, dict):
        strings.update(mv)  # tokenizer.json's WordPiece/WordLevel vocabulary is an object keyed by token
    for name in files:
        if name.endswith(".json") and name not in ("config.json", "sentinel.json"):
            json_strings(json.loads((adapted / name).read_text(encoding="utf-8")), strings)
        elif name.endswith(".txt"):
            strings.update((adapted / name).read_text(encoding="utf-8").split("\n"))
    leaked = sorted(strings & original)
    c.record("plaintext: no original vocabulary entry (>= 4 characters) in the tokenizer files", not leaked,
             {"original_entries_checked": len(original), "found": leaked[:20]})


def check_model(name, original, sentinel, key, work):
    c = Checks(name)
    env = dict(os.environ, SENTINEL_KEY=key)
    adapted, pt_dir = work / f"{name}-adapted", work / f"{name}-adapted-pt"
    r, secs = run([sentinel, "convert", str(original), "--output", str(adapted), "--scheme", "seed", "--shuffle", "--force"], env)
    if not c.record("convert", r.returncode == 0, {"status": r.returncode, "seconds": round(secs, 2),
                                                   "stderr": r.stderr.strip().splitlines()[-3:]}):
        return c
    try:
        original_tok = AutoTokenizer.from_pretrained(str(original))
        tok = AutoTokenizer.from_pretrained(str(adapted))
        c.record("tokenizer", True, {"class": type(tok).__name__, "vocab_size": len(tok)})
    except Exception as e:  # noqa: BLE001 - reported, not raised
        c.record("tokenizer", False, {"error": f"{type(e).__name__}: {e}"[:500]})
        return c
    specials = set(original_tok.all_special_tokens) | set(tok.all_special_tokens)
    try:
        check_plaintext(c, original_tok, adapted, specials)
    except Exception as e:  # noqa: BLE001
        c.record("plaintext", False, {"error": f"{type(e).__name__}: {e}"[:500]})

    plain = work / f"{name}-plain.txt"
    plain.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    encrypted = work / f"{name}-encrypted.txt"
    r, secs = run([sentinel, "encrypt", str(original), "--input", str(plain), "--output", str(encrypted), "--force"], env)
    lines = encrypted.read_text(encoding="utf-8").split("\n")[:len(SENTENCES)] if r.returncode == 0 else []
    def encrypted_piece(t):  # a piece outside the vocabulary (a unigram piece of unknown characters) is the unknown token
        if t in specials:
            return t
        return original_tok.unk_token if original_tok.convert_tokens_to_ids(t) == original_tok.unk_token_id else digest(t, key)

    expected = [" ".join(encrypted_piece(t) for t in original_tok.tokenize(s)) for s in SENTENCES]
    mismatched = [i for i, (a, b) in enumerate(zip(lines, expected)) if a != b]
    c.record("encrypt = hashlib digests of the HF fast tokenizer's pieces", r.returncode == 0 and len(lines) == len(SENTENCES)
             and not mismatched, {"status": r.returncode, "lines": len(lines), "mismatched_lines": mismatched,
                                  "stderr": r.stderr.strip().splitlines()[-2:]})

    vocab, _ = vocabulary_file(adapted)
    first = tok.cls_token or tok.bos_token
    last = tok.sep_token or tok.eos_token
    id_ok, adapted_ids = True, []
    for line in lines:
        got = tok(line)["input_ids"]
        want = [vocab[first]] + [vocab.get(d, vocab.get(tok.unk_token)) for d in line.split()] + [vocab[last]]
        adapted_ids.append(got)
        id_ok &= got == want
    c.record("ids: adapted tokenizer on the digests = the vocabulary file's ids", id_ok and bool(lines),
             {"sentences": len(lines), "tokens": sum(len(i) for i in adapted_ids)})

    try:
        t = time.time()
        model, info = AutoModel.from_pretrained(str(adapted), output_loading_info=True)
        info = {k: sorted(map(str, v)) for k, v in info.items()}
        c.record("model: from_pretrained with no missing/unexpected/mismatched key", not any(info.values()),
                 {"class": type(model).__name__, "dtype": str(model.dtype), **info, "seconds": round(time.time() - t, 2)})
        reference = AutoModel.from_pretrained(str(original))
    except Exception as e:  # noqa: BLE001
        c.record("model: from_pretrained", False, {"error": f"{type(e).__name__}: {e}"[:800]})
        return c
    model.eval()
    reference.eval()
    worst = {"last_hidden_state": 0.0, "pooler_output": 0.0}
    with torch.no_grad():
        for s, ids in zip(SENTENCES, adapted_ids):
            plain_ids = original_tok(s, return_tensors="pt")
            a = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
            b = reference(**plain_ids)
            if a.last_hidden_state.shape != b.last_hidden_state.shape:
                worst["last_hidden_state"] = float("inf")
                continue
            for k in worst:
                x, y = getattr(a, k, None), getattr(b, k, None)
                if x is not None and y is not None:
                    worst[k] = max(worst[k], (x.double() - y.double()).abs().max().item())
    c.record(f"forward: adapted on encrypted = original on plain within {TOLERANCE}",
             bool(adapted_ids) and max(worst.values()) <= TOLERANCE, {"max_abs_diff": worst, "sentences": len(adapted_ids)})

    r, secs = run([sentinel, "convert", str(original), "--output", str(pt_dir), "--scheme", "seed", "--shuffle", "--format", "pytorch", "--force"], env)
    if c.record("convert --format pytorch", r.returncode == 0, {"status": r.returncode, "seconds": round(secs, 2),
                                                                "stderr": r.stderr.strip().splitlines()[-2:]}):
        try:
            state = torch.load(pt_dir / "pytorch_model.bin", weights_only=True, map_location="cpu")
            ref = load_file(adapted / "model.safetensors")
            same = set(state) == set(ref) and all(torch.equal(state[k], ref[k]) for k in ref)
            c.record("pytorch: torch.load(weights_only=True) = the safetensors conversion", same,
                     {"tensors": len(state), "names_only_in_pt": sorted(set(state) - set(ref))[:5],
                      "names_only_in_safetensors": sorted(set(ref) - set(state))[:5]})
            pt_model, pt_info = AutoModel.from_pretrained(str(pt_dir), output_loading_info=True)
            pt_info = {k: sorted(map(str, v)) for k, v in pt_info.items()}
            c.record("pytorch: from_pretrained of the pytorch_model.bin directory, no missing/unexpected key",
                     not any(pt_info.values()), pt_info)
        except Exception as e:  # noqa: BLE001
            c.record("pytorch: torch.load(weights_only=True)", False, {"error": f"{type(e).__name__}: {e}"[:500]})
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sentinel", required=True)
    ap.add_argument("--work")
    ap.add_argument("--key", default="llm123")
    ap.add_argument("--models", default="minilm,roberta,xlmr")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="sentinel-interop-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    report = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__}, "models": {}}
    failed = 0
    for name in args.models.split(","):
        t = time.time()
        c = check_model(name, MODELS[name], args.sentinel, args.key, work)
        report["models"][name] = {"seconds": round(time.time() - t, 2), "checks": c.results}
        failed += len(c.failed())
        if not args.json:
            for r in c.results:
                print(f"{'ok  ' if r['ok'] else 'FAIL'} {name}: {r['check']}: {json.dumps(r['detail'], ensure_ascii=False)}")
    report["seconds"] = round(time.time() - start, 2)
    report["failed"] = failed
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(f"{failed} failed checks, {report['seconds']} s (transformers {transformers.__version__}, torch {torch.__version__})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
