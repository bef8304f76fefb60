#!/usr/bin/env python3
"""Scores `sentinel predict --task ner --format conll|jsonl --json` output with seqeval (pip install seqeval),
independently of Sentinel's own metrics, and compares two prediction files token for token.

Usage:
  seqeval_predictions.py GOLD.conll PRED.json [PRED2.json]
GOLD.conll is the plain CoNLL file (word ... label columns); the predictions list, per sentence, the words that
survived truncation and their labels (`word_labels`). Prints seqeval's default-mode micro P/R/F1 (and, with a second
file, whether the predictions are identical for every word and every wordpiece).
"""
import json
import sys

from seqeval.metrics import f1_score, precision_score, recall_score


def gold_sentences(path):
    out, cur = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                out.append(cur)
            cur = []
            continue
        cols = line.split()
        if cols[0] == "-DOCSTART-":
            continue
        cur.append(cols[-1])
    if cur:
        out.append(cur)
    return out


def score(gold, preds):
    g, p = [], []
    for labels, pred in zip(gold, preds):
        wl = pred.get("word_labels", [])
        g.append(labels[: len(wl)])
        p.append(wl)
    return precision_score(g, p), recall_score(g, p), f1_score(g, p)


def main():
    gold = gold_sentences(sys.argv[1])
    files = sys.argv[2:]
    runs = [json.load(open(f))["predictions"] for f in files]
    for f, preds in zip(files, runs):
        assert len(preds) == len(gold), f"{f}: {len(preds)} predictions for {len(gold)} sentences"
        pr, rc, f1 = score(gold, preds)
        print(f"{f}: seqeval precision {pr*100:.2f} recall {rc*100:.2f} f1 {f1*100:.2f} ({len(gold)} sentences)")
    if len(runs) == 2:
        words = sum(len(p["word_labels"]) for p in runs[0])
        same_words = sum(a == b for x, y in zip(*runs) for a, b in zip(x["word_labels"], y["word_labels"]))
        pieces = sum(len(p["labels"]) for p in runs[0])
        same_pieces = sum(a == b for x, y in zip(*runs) for a, b in zip(x["labels"], y["labels"]))
        print(f"identical word labels: {same_words}/{words}; identical wordpiece labels: {same_pieces}/{pieces}")


if __name__ == "__main__":
    main()
