#!/usr/bin/env python3
"""Attacker's baseline against an adapted model: match every adapted embedding row to its nearest original row
after centring each row (removes the seed scheme's glide transform exactly), and count the tokens recovered.

Ground truth (which adapted id each original token went to) comes from `sentinel vocab ... --all --json`, which needs
the key; the attack itself uses only the two embedding matrices. This is a quick cross-check for the hardened
scheme's settings; the project's audit (`sentinel audit`) is the reference measurement.

Usage:
  sentinel vocab ADAPTED --original ORIGINAL --all --json > mapping.json
  python3 Samples/crosscheck/row_matching.py ORIGINAL ADAPTED mapping.json [SAMPLE]
SAMPLE: match only that many hashed rows, drawn with numpy seed 0 (default: all).
Needs numpy and safetensors (pip).
"""
import json, sys
import numpy as np
from safetensors.numpy import load_file

name = "embeddings.word_embeddings.weight"
original, adapted, mapping = sys.argv[1:4]
sample = int(sys.argv[4]) if len(sys.argv) > 4 else None
E = load_file(original + "/model.safetensors")[name].astype(np.float32)
A = load_file(adapted + "/model.safetensors")[name].astype(np.float32)
entries = json.load(open(mapping))["entries"]
truth = {e["adapted_id"]: e["original_id"] for e in entries if e["digest"] is not None and e["adapted_id"] is not None}

def centre(X):
    return X - X.mean(1, keepdims=True)

Ec, Ac = centre(E), centre(A)
Eu = Ec / np.linalg.norm(Ec, axis=1, keepdims=True)
e2 = (Ec ** 2).sum(1)
ids = np.array(sorted(truth))
if sample is not None and sample < len(ids):
    ids = np.sort(np.random.default_rng(0).choice(ids, sample, replace=False))
hits_l2 = hits_cos = 0
for lo in range(0, len(ids), 2048):
    q = ids[lo:lo + 2048]
    Q = Ac[q]
    d = e2[None, :] - 2 * Q @ Ec.T          # |q|^2 is the same for every candidate
    t = np.array([truth[i] for i in q])
    hits_l2 += int((d.argmin(1) == t).sum())
    Qu = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-30)
    hits_cos += int(((Qu @ Eu.T).argmax(1) == t).sum())
n = len(ids)
print(json.dumps({"hashed_rows": n, "recovered_l2": hits_l2, "recovered_cosine": hits_cos,
                  "fraction_l2": hits_l2 / n, "fraction_cosine": hits_cos / n}))
