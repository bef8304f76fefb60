#!/usr/bin/env python3
"""Known answers for Sentinel's metrics (Sources/SentinelEncoder/Metrics.swift), made by the libraries themselves.

* Sequence labelling: seqeval's default mode (mode=None, suffix=False): get_entities per sentence, and
  classification_report(output_dict=True), precision/recall/f1_score (micro), accuracy_score on whole data sets.
* Classification: scikit-learn's accuracy_score, f1_score (binary, pos_label=1), f1_score(average='macro') and
  precision_recall_fscore_support(labels=range(n)).

Cases: hand-written adversarial ones (I- without B-, type changes inside a chunk, E-/S- tags, IOBES, tags without a
prefix or a type, '.', empty sentences, all O, nothing predicted) and random ones (seeded). Run with the interop venv:
  Samples/interop/setup.sh && Samples/.cache/interop-venv/bin/python Formats/metrics/make-vectors.py
writes Formats/metrics/vectors.json (floats as Python's repr: exact round trip).
"""
import json
import random
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities
from sklearn import metrics as skm

warnings.filterwarnings("ignore")  # seqeval's "not NE tag" and the zero-division warnings

OUT = Path(__file__).with_name("vectors.json")

ENTITY_SENTENCES = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["I-PER", "I-PER", "O"],  # IOB1: I- without B- starts a chunk
    ["B-PER", "I-LOC", "I-LOC"],  # type change inside a chunk
    ["B-PER", "B-PER", "I-PER"],
    ["I-MISC", "B-MISC", "I-MISC", "I-ORG", "B-ORG"],
    ["B-LOC", "E-LOC", "S-PER", "O", "S-ORG", "S-ORG"],  # IOBES
    ["B-LOC", "I-LOC", "E-LOC", "E-LOC", "I-LOC"],
    ["E-PER", "E-PER", "I-PER", "S-PER", "I-PER"],
    ["S-LOC", "E-LOC", "O", "E-LOC", "I-LOC", "E-LOC"],
    ["O", "O", "O"],
    [],
    ["B", "I", "O", "B-", "I-"],  # no type: '_'
    ["PER", "PER", "O", "LOC"],  # no prefix
    ["B-PER", ".PER", "O", "B-LOC", ".", "I-LOC"],  # '.' ends nothing
    ["B-PER-X", "I-PER-X", "I-PER"],  # the type is everything after the first '-'
    ["BPER", "IPER", "O"],
    ["U-PER", "L-PER", "B-PER", "L-PER"],  # BILOU letters seqeval does not know
    ["B-PER", "O", "I-PER", "I-LOC", "E-LOC", "B-ORG", "S-ORG", "I-ORG"],
    ["I-ÄÖ", "I-ÄÖ", "B-Ω", "Ω-PER"],  # non-ASCII types and roles
    ["B-PER"],
    ["I-PER"],
    ["E-PER"],
    ["S-PER"],
    ["O", "I-PER", "O", "E-LOC", "O"],
]

TYPES = ["PER", "LOC", "ORG", "MISC"]


def tag_random(rng, scheme):
    if scheme == "iob2":
        roles = ["B", "I"]
    elif scheme == "iobes":
        roles = ["B", "I", "E", "S"]
    else:
        roles = ["B", "I", "E", "S", "O", "X", "."]
    if rng.random() < 0.45:
        return "O"
    role = rng.choice(roles)
    if role == "O":
        return "O"
    return f"{role}-{rng.choice(TYPES)}"


def random_dataset(rng, scheme, sentences, max_len, noise):
    gold, pred = [], []
    for _ in range(sentences):
        n = rng.randint(0, max_len)
        g = [tag_random(rng, scheme) for _ in range(n)]
        p = [t if rng.random() > noise else tag_random(rng, scheme) for t in g]
        gold.append(g)
        pred.append(p)
    return gold, pred


def entity_case(name, gold, pred):
    report = classification_report(gold, pred, output_dict=True, zero_division=0) if any(
        get_entities(s) for s in gold + pred) else {}
    per_type = {k: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"], "support": int(v["support"])}
                for k, v in report.items() if k not in ("micro avg", "macro avg", "weighted avg")}
    support = sum(len(get_entities(s)) for s in gold)  # per sentence = seqeval's count (sentences joined by O)
    tokens = sum(len(s) for s in gold)
    case = {
        "name": name,
        "gold": gold,
        "predicted": pred,
        "precision": float(precision_score(gold, pred)),
        "recall": float(recall_score(gold, pred)),
        "f1": float(f1_score(gold, pred)),
        "support": int(report["micro avg"]["support"]) if report else 0,
        "per_type": per_type,
        "token_accuracy": float(accuracy_score(gold, pred)) if tokens else None,
    }
    if report:
        assert report["micro avg"]["f1-score"] == case["f1"], name
        assert case["support"] == support, name
    return case


def classification_case(name, gold, pred, n):
    labels = list(range(n))
    p, r, f, s = skm.precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    return {
        "name": name,
        "label_count": n,
        "gold": gold,
        "predicted": pred,
        "accuracy": float(skm.accuracy_score(gold, pred)),
        "binary_f1": float(skm.f1_score(gold, pred)) if n == 2 else None,
        "macro_f1": float(skm.f1_score(gold, pred, average="macro")),
        "per_label": [{"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])} for i in labels],
    }


def main():
    rng = random.Random(20241203)
    sentences = []
    for i, tags in enumerate(ENTITY_SENTENCES):
        sentences.append({"tags": tags, "entities": [list(e) for e in get_entities(tags)]})
    for i in range(60):
        tags = [tag_random(rng, rng.choice(["iob2", "iobes", "any"])) for _ in range(rng.randint(1, 14))]
        sentences.append({"tags": tags, "entities": [list(e) for e in get_entities(tags)]})

    entity = []
    hand = ENTITY_SENTENCES
    # Each hand-written sentence against every other of the same length (and itself).
    for i, g in enumerate(hand):
        for j, p in enumerate(hand):
            if len(g) == len(p):
                entity.append(entity_case(f"hand {i} vs {j}", [g], [p]))
    entity.append(entity_case("all hand sentences, perfect", hand, [list(s) for s in hand]))
    entity.append(entity_case("all hand sentences vs all O", hand, [["O"] * len(s) for s in hand]))
    entity.append(entity_case("all O vs all hand sentences", [["O"] * len(s) for s in hand], hand))
    entity.append(entity_case("empty sentences", [[], []], [[], []]))
    # A chunk that would cross the sentence boundary if the sentences were not joined with O.
    entity.append(entity_case("boundary", [["O", "B-PER"], ["I-PER", "O"]], [["O", "B-PER"], ["I-PER", "O"]]))
    entity.append(entity_case("boundary E", [["B-PER", "I-PER"], ["E-PER"]], [["B-PER", "E-PER"], ["S-PER"]]))
    entity.append(entity_case("boundary dot", [["B-PER", ".PER"], ["I-PER", "O"]], [["B-PER", "I-PER"], [".PER", "O"]]))
    for k in range(30):
        scheme = ["iob2", "iobes", "any"][k % 3]
        g, p = random_dataset(rng, scheme, rng.randint(1, 40), rng.randint(1, 30), rng.choice([0.0, 0.1, 0.3, 0.7, 1.0]))
        entity.append(entity_case(f"random {k} ({scheme})", g, p))

    classification = []
    classification.append(classification_case("perfect", [0, 1, 1, 0], [0, 1, 1, 0], 2))
    classification.append(classification_case("all wrong", [0, 1, 1, 0], [1, 0, 0, 1], 2))
    classification.append(classification_case("all gold 0, all predicted 0", [0, 0, 0], [0, 0, 0], 2))
    classification.append(classification_case("all gold 0, some predicted 1", [0, 0, 0], [0, 1, 0], 2))
    classification.append(classification_case("all gold 1, none predicted 1", [1, 1], [0, 0], 2))
    classification.append(classification_case("one row", [1], [1], 2))
    classification.append(classification_case("three labels, one absent", [0, 2, 2, 0], [0, 2, 0, 0], 3))
    classification.append(classification_case("three labels", [0, 1, 2, 1, 2, 0, 1], [0, 2, 2, 1, 0, 0, 1], 3))
    for k in range(20):
        n = [2, 2, 2, 3, 5][k % 5]
        rows = rng.randint(1, 400)
        gold = [rng.randrange(n) for _ in range(rows)]
        acc = rng.random()
        pred = [g if rng.random() < acc else rng.randrange(n) for g in gold]
        classification.append(classification_case(f"random {k} ({n} labels, {rows} rows)", gold, pred, n))

    out = {
        "generator": "Formats/metrics/make-vectors.py",
        "versions": {"python": sys.version.split()[0], "seqeval": version("seqeval"), "scikit-learn": version("scikit-learn"),
                     "numpy": np.__version__},
        "seqeval_mode": "default (mode=None, suffix=False)",
        "sentences": sentences,
        "entity_cases": entity,
        "classification_cases": classification,
    }
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print(f"{OUT}: {len(sentences)} sentences, {len(entity)} entity cases, {len(classification)} classification cases")


if __name__ == "__main__":
    main()
