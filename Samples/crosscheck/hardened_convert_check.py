#!/usr/bin/env python3
"""Re-derives a `hardened` conversion from the passkey, the original model and the adapted model's sentinel.json,
with implementations independent of Sentinel (argon2-cffi, hashlib, cryptography/OpenSSL ChaCha20, numpy), and
compares vocab.txt and embeddings.word_embeddings.weight with what `sentinel convert --scheme hardened` wrote.

Usage: SENTINEL_KEY=... python3 Samples/crosscheck/hardened_convert_check.py ORIGINAL_DIR ADAPTED_DIR
Needs argon2-cffi, cryptography, numpy, safetensors (pip). Prints a JSON summary; exit 1 on a mismatch.
"""
import hashlib, json, os, struct, sys
import numpy as np
from argon2.low_level import hash_secret_raw, Type
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from safetensors.numpy import load_file

original, adapted = sys.argv[1:3]
key = os.environ["SENTINEL_KEY"]
m = json.load(open(adapted + "/sentinel.json"))
kdf, tr = m["kdf"], m["embedding_transform"]
master = hash_secret_raw(key.encode(), bytes.fromhex(kdf["salt"]), time_cost=kdf["opslimit"], memory_cost=kdf["memlimit"] // 1024,
                         parallelism=1, hash_len=32, type=Type.ID, version=19)
sub = lambda c: hashlib.blake2b(b"", key=master, digest_size=32, salt=struct.pack("<Q", 1) + bytes(8), person=c.encode() + bytes(8)).digest()
k_tok, k_perm, k_emb = sub("SNTLtokn"), sub("SNTLperm"), sub("SNTLembd")

def stream_bytes(k, domain, index, n):
    enc = Cipher(algorithms.ChaCha20(k, struct.pack("<I", 0) + struct.pack("<I", domain) + struct.pack("<Q", index)), None).encryptor()
    return enc.update(bytes(n))

class Stream:
    def __init__(self, k, domain, index):
        self.enc = Cipher(algorithms.ChaCha20(k, struct.pack("<I", 0) + struct.pack("<I", domain) + struct.pack("<Q", index)), None).encryptor()
    def next64(self): return struct.unpack("<Q", self.enc.update(bytes(8)))[0]
    def uniform(self, n):
        x = self.next64() * n
        if x & (2**64 - 1) < n:
            t = (2**64 - n) % n
            while x & (2**64 - 1) < t: x = self.next64() * n
        return x >> 64
    def unit(self): return (self.next64() >> 11) * 2.0**-53

def gaussians(k, domain, index, count):
    pairs = (count + 1) // 2
    w = np.frombuffer(stream_bytes(k, domain, index, pairs * 16), dtype="<u8").reshape(pairs, 2)
    u1 = (w[:, 0] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    u2 = (w[:, 1] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    r = np.sqrt(-2 * np.log(1 - u1)); a = 2 * np.pi * u2
    return np.stack([r * np.cos(a), r * np.sin(a)], 1).reshape(-1)[:count]

tokens = open(original + "/vocab.txt", encoding="utf-8").read().split("\n")
if tokens and tokens[-1] == "": tokens.pop()
stm = json.load(open(original + "/special_tokens_map.json"))
special_tokens = {v if isinstance(v, str) else v["content"] for v in stm.values() if isinstance(v, (str, dict))}
specials = {i for i, t in enumerate(tokens) if t in special_tokens}
ids = [i for i in range(len(tokens)) if i not in specials]
s = list(ids); st = Stream(k_perm, 0, 0)
for i in range(len(s) - 1, 0, -1):
    j = st.uniform(i + 1); s[i], s[j] = s[j], s[i]
mapping = list(range(len(tokens)))
for k, i in enumerate(ids): mapping[i] = s[k]
digest = lambda t: hashlib.blake2b(t.encode(), key=k_tok, digest_size=16).hexdigest()
expected_vocab = [""] * len(tokens)
for i, t in enumerate(tokens): expected_vocab[mapping[i]] = t if i in specials else digest(t)
vocab_ok = open(adapted + "/vocab.txt", encoding="utf-8").read() == "\n".join(expected_vocab)

name = "embeddings.word_embeddings.weight"
E = load_file(original + "/model.safetensors")[name].astype(np.float64)
A = load_file(adapted + "/model.safetensors")[name]
n, h = E.shape
reinit = np.zeros(n, bool)
if tr["reinit_fraction"] > 0:
    pool = list(ids); kk = min(len(pool), round(tr["reinit_fraction"] * len(pool))); st = Stream(k_emb, 4, 0)
    for i in range(kk):
        j = i + st.uniform(len(pool) - i); pool[i], pool[j] = pool[j], pool[i]; reinit[pool[i]] = True
d = np.ones(h)
if tr["dim_scale"] != 1:
    st = Stream(k_emb, 3, 0); d = np.array([np.exp(np.log(tr["dim_scale"]) * (2 * st.unit() - 1)) for _ in range(h)])
out = np.empty_like(E)
for i in range(n):
    if reinit[i]:
        row = tr["reinit_std"] * gaussians(k_emb, 2, i, h)
    else:
        row = tr["scale"] * (d * E[i]) if tr["dim_scale"] != 1 else (E[i] * tr["scale"] if tr["scale"] != 1 else E[i].copy())
        if tr["noise_std"] > 0: row = row + tr["noise_std"] * gaussians(k_emb, 1, i, h)
    out[mapping[i]] = row
diff = float(np.abs(out.astype(A.dtype).astype(np.float64) - A.astype(np.float64)).max())
exact = int((out.astype(A.dtype) == A).all(1).sum())
print(json.dumps({"vocab_matches": vocab_ok, "rows": n, "rows_bit_identical": exact, "max_abs_diff": diff}))
sys.exit(0 if vocab_ok and diff <= 1e-6 else 1)
