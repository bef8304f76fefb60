#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses, made from the vendored fixtures (Samples/unpack-fixtures.sh) and the
sample model (Samples/fetch-minilm.sh). Standard library only. Usage: make-seeds.py SHARED MINILM OUT_DIR
writes OUT_DIR/NAME/ for every harness (small files: libFuzzer mutates small inputs best)."""
import io, json, os, struct, sys, zipfile, hashlib

shared, minilm, out = sys.argv[1], sys.argv[2], sys.argv[3]
fx = os.path.join(shared, "fixtures")


def put(harness, data, name=None):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def small_safetensors(entries, metadata=None):
    """A valid safetensors file: entries [(name, dtype, shape, bytes)]."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


# safetensors: every fixture file under 64 KiB, and small ones cut from the real models' headers.
for name in sorted(os.listdir(os.path.join(fx, "safetensors"))):
    p = os.path.join(fx, "safetensors", name)
    if name.endswith(".safetensors") and os.path.getsize(p) <= 65536:
        put("FuzzSafeTensors", read(p), name)
put("FuzzSafeTensors", small_safetensors([("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "BF16", [0, 3], b""),
                                          ("c", "I64", [], struct.pack("<q", -5)), ("d", "F16", [1], b"\x00\x3c")], {"format": "pt"}), "small")
for model in ["roberta/model/model.safetensors", "xlmr/model/model.safetensors"]:
    b = read(os.path.join(fx, model))
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    # Keep the first three tensors, shrink them to at most 4 elements (same names and dtypes).
    entries = []
    for k, v in header.items():
        if k == "__metadata__":
            continue
        width = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "F64": 8}.get(v["dtype"], 4)
        entries.append((k, v["dtype"], [2, 2], bytes(range(4 * width))))
        if len(entries) == 3:
            break
    put("FuzzSafeTensors", small_safetensors(entries, header.get("__metadata__")), os.path.basename(os.path.dirname(os.path.dirname(model))))

# torch: zip checkpoints and the legacy one; the bare pickles inside them for the pickle machine.
for name in sorted(os.listdir(os.path.join(fx, "torch"))):
    p = os.path.join(fx, "torch", name)
    if not (name.endswith(".pt") or name.endswith(".bin")) or os.path.getsize(p) > 65536:
        continue
    b = read(p)
    if b[:2] == b"PK":
        put("FuzzTorchZip", b, name)
        try:
            with zipfile.ZipFile(io.BytesIO(b)) as z:
                for info in z.infolist():
                    if info.filename.endswith("data.pkl"):
                        put("FuzzPickle", z.read(info), name + ".data.pkl")
        except Exception:
            pass
    else:
        put("FuzzTorchLegacy", b, name)
        if b[:1] == b"\x80":
            put("FuzzPickle", b, name)

# JSON: configs, tokenizer configs, the fixtures' expected values (small ones), a shard index.
for root, _, files in os.walk(fx):
    for name in sorted(files):
        p = os.path.join(root, name)
        if name.endswith(".json") and os.path.getsize(p) <= 16384:
            put("FuzzJSON", read(p), os.path.relpath(p, fx).replace("/", "_"))
for p in [os.path.join(minilm, "config.json"), os.path.join(minilm, "tokenizer_config.json")]:
    if os.path.exists(p):
        put("FuzzJSON", read(p), "minilm_" + os.path.basename(p))
put("FuzzJSON", json.dumps({"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                                         "b": "model-00002-of-00002.safetensors"}}), "index")
put("FuzzJSON", '{"a": [1, -2, 3.5e300, 18446744073709551615, -9223372036854775808, "\\u00e9\\ud83d\\ude00", null, true]}', "numbers")


def shrink_tokenizer(t, keep=300):
    """tokenizer.json with its vocabulary (and merges) cut to the first `keep` entries, special tokens kept."""
    m = t["model"]
    specials = {a["content"] for a in t.get("added_tokens", [])}
    if isinstance(m.get("vocab"), dict):
        items = sorted(m["vocab"].items(), key=lambda kv: kv[1])
        kept = [k for k, _ in items[:keep]] + [k for k, _ in items if k in specials or k == m.get("unk_token")]
        m["vocab"] = {k: i for i, k in enumerate(dict.fromkeys(kept))}
        for a in t.get("added_tokens", []):
            a["id"] = m["vocab"].get(a["content"], a["id"])
    elif isinstance(m.get("vocab"), list):
        m["vocab"] = m["vocab"][:keep]
        if m.get("unk_id") is not None and m["unk_id"] >= keep:
            m["unk_id"] = 0
        for a in t.get("added_tokens", []):
            a["id"] = min(a["id"], keep - 1)
    if "merges" in m:
        vocab = m["vocab"]
        def ok(mg):
            a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
            return a in vocab and b in vocab and (a + b) in vocab
        m["merges"] = [mg for mg in m["merges"] if ok(mg)][:keep]
    n = t.get("normalizer") or {}
    if n.get("type") == "Precompiled":
        t["normalizer"] = None
    elif n.get("type") == "Sequence":
        n["normalizers"] = [s for s in n["normalizers"] if s.get("type") != "Precompiled"]  # 300 KB: too big a seed
    return json.dumps(t, ensure_ascii=False)


for path, name in [(os.path.join(minilm, "tokenizer.json"), "wordpiece"), (os.path.join(fx, "roberta/model/tokenizer.json"), "bpe"),
                   (os.path.join(fx, "xlmr/model/tokenizer.json"), "unigram")]:
    if os.path.exists(path):
        put("FuzzTokenizerJSON", shrink_tokenizer(json.loads(read(path))), name)
put("FuzzTokenizerJSON", json.dumps({"version": "1.0", "added_tokens": [{"id": 0, "content": "<s>", "special": True}],
                                     "model": {"type": "WordLevel", "vocab": {"<s>": 0, "</s>": 1, "<unk>": 2, "<pad>": 3, "<mask>": 4,
                                                                              "0123456789abcdef0123456789abcdef": 5}, "unk_token": "<unk>"}}), "wordlevel")

# Text for the tokenizers: the fixtures' test strings.
def texts(path, key):
    for line in read(path).decode("utf-8").split("\n"):
        if line.strip():
            v = json.loads(line)
            for k in (key if isinstance(key, list) else [key]):
                if isinstance(v.get(k), str):
                    yield v[k]

for harness, path, key in [("FuzzWordPiece", "tokenizer/wordpiece_cases.jsonl", ["text", "pair"]),
                           ("FuzzByteLevelBPE", "roberta/strings.jsonl", ["text", "pair"]),
                           ("FuzzByteLevelBPE", "roberta/tokenizer_cases.jsonl", ["text", "pair"]),
                           ("FuzzUnigram", "xlmr/real_spm_strings.jsonl", ["text", "pair"]),
                           ("FuzzUnigram", "xlmr/tokenizer_cases.jsonl", ["text", "pair"])]:
    seen = 0
    for s in texts(os.path.join(fx, path), key):
        put(harness, s)
        seen += 1
        if seen >= 300:
            break
for h in ["FuzzWordPiece", "FuzzByteLevelBPE", "FuzzUnigram"]:
    put(h, "Hello, world!\tA second sentence, ça va? 東京 [MASK] <mask> \u200b\u0301", "pair")

for h in sorted(os.listdir(out)):
    print(h, len(os.listdir(os.path.join(out, h))))
