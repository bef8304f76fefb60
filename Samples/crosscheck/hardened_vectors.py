#!/usr/bin/env python3
"""Known answers for the `hardened` scheme's primitives, from implementations independent of libsodium:

- Argon2id: argon2-cffi 25.1.0 (the reference phc-winner-argon2 C code), type ID, version 0x13, one lane,
  memory_cost = memlimit / 1024 KiB, as libsodium's crypto_pwhash(ALG_ARGON2ID13) defines it;
- subkeys: hashlib.blake2b(b"", key=master, digest_size=32, salt=LE64(1) + 0^8, person=context + 0^8), which is
  libsodium's crypto_kdf_derive_from_key;
- ChaCha20: the `cryptography` package 48.0 (OpenSSL), 16-byte nonce = LE32(counter) + 12-byte nonce;
- token digests: hashlib.blake2b(token, key=token subkey, digest_size=16);
- the permutation, re-initialised rows, per-dimension scales and Box-Muller noise re-implemented here from the
  specification in Sources/SentinelScheme/HardenedScheme.swift and ChaCha20Stream.swift.

Run: pip install argon2-cffi cryptography; python3 Samples/crosscheck/hardened_vectors.py
Tests/SentinelSchemeTests/HardenedPrimitivesTests.swift holds its output (2026-12-03).
"""
import hashlib, json, math, struct
from argon2.low_level import hash_secret_raw, Type
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

def argon2id(passkey, salt, ops, mem):
    return hash_secret_raw(passkey.encode(), salt, time_cost=ops, memory_cost=mem // 1024, parallelism=1,
                           hash_len=32, type=Type.ID, version=19)

def subkey(master, context):
    return hashlib.blake2b(b"", key=master, digest_size=32, salt=struct.pack("<Q", 1) + bytes(8),
                           person=context.encode() + bytes(8)).digest()

def nonce(domain, index):
    return struct.pack("<I", domain) + struct.pack("<Q", index)

class Stream:
    def __init__(self, key, n):
        self.enc = Cipher(algorithms.ChaCha20(key, struct.pack("<I", 0) + n), None).encryptor()
    def next64(self):
        return struct.unpack("<Q", self.enc.update(bytes(8)))[0]
    def uniform(self, n):  # Lemire
        m = self.next64() * n
        if m & (2**64 - 1) < n:
            t = (2**64 - n) % n
            while m & (2**64 - 1) < t:
                m = self.next64() * n
        return m >> 64
    def unit(self):
        return (self.next64() >> 11) * 2.0**-53

def mapping(size, specials, key):
    ids = [i for i in range(size) if i not in specials]
    s = list(ids)
    st = Stream(key, nonce(0, 0))
    for i in range(len(s) - 1, 0, -1):
        j = st.uniform(i + 1)
        s[i], s[j] = s[j], s[i]
    m = list(range(size))
    for k, i in enumerate(ids):
        m[i] = s[k]
    return m

def reinit_rows(size, specials, fraction, key):
    ids = [i for i in range(size) if i not in specials]
    k = min(len(ids), round(fraction * len(ids)))
    st = Stream(key, nonce(4, 0))
    sel = [False] * size
    for i in range(k):
        j = i + st.uniform(len(ids) - i)
        ids[i], ids[j] = ids[j], ids[i]
        sel[ids[i]] = True
    return [i for i in range(size) if sel[i]]

def gaussians(key, n, count):
    st = Stream(key, n)
    out = []
    while len(out) < count:
        u1, u2 = st.unit(), st.unit()
        r = math.sqrt(-2 * math.log(1 - u1))
        out += [r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)]
    return out[:count]

def dim_scales(hidden, spread, key):
    st = Stream(key, nonce(3, 0))
    return [math.exp(math.log(spread) * (2 * st.unit() - 1)) for _ in range(hidden)]

out = {}
m1 = argon2id("llm123", bytes(range(16)), 2, 8 << 20)
m2 = argon2id("Corr3ct-Horse-Ω-battery", bytes([0xA5] * 16), 1, 64 << 10)
out["argon2id"] = [
    {"passkey": "llm123", "salt": bytes(range(16)).hex(), "opslimit": 2, "memlimit": 8 << 20, "master": m1.hex()},
    {"passkey": "Corr3ct-Horse-Ω-battery", "salt": (bytes([0xA5] * 16)).hex(), "opslimit": 1, "memlimit": 64 << 10, "master": m2.hex()},
]
keys = {c: subkey(m1, c) for c in ["SNTLtokn", "SNTLperm", "SNTLembd"]}
out["subkeys_of_first"] = {c: k.hex() for c, k in keys.items()}
out["digests"] = {t: hashlib.blake2b(t.encode(), key=keys["SNTLtokn"], digest_size=16).hexdigest() for t in ["hello", "##ing", "Ω"]}
out["mapping_20_specials_0_3_19"] = mapping(20, {0, 3, 19}, keys["SNTLperm"])
out["reinit_rows_20_half"] = reinit_rows(20, {0, 3, 19}, 0.5, keys["SNTLembd"])
out["noise_domain1_row7"] = gaussians(keys["SNTLembd"], nonce(1, 7), 7)
out["dim_scales_5_spread2"] = dim_scales(5, 2.0, keys["SNTLembd"])
print(json.dumps(out, indent=1, ensure_ascii=False))
