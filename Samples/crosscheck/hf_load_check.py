#!/usr/bin/env python3
"""Loads a `sentinel finetune` output directory with transformers (AutoModelFor{Token,Sequence}Classification,
from_pretrained with output_loading_info) and compares its logits with `sentinel predict --json` on the same input.

Usage: hf_load_check.py OUT_DIR ner|classification PREDICT.json INPUT.txt
INPUT.txt: one plain text per line (classification: a TAB before the pair's second text), as given to
`sentinel predict --format text`. Needs torch + transformers.
Prints missing/unexpected keys (must be none) and the largest |Δ logit| against Sentinel's.
"""
import json
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

out, task, pred_path, input_path = sys.argv[1:5]
cls = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
model, info = cls.from_pretrained(out, output_loading_info=True)
model.eval()
print("architecture", type(model).__name__, "missing", info["missing_keys"], "unexpected", info["unexpected_keys"])
tok = AutoTokenizer.from_pretrained(out)
preds = json.load(open(pred_path))["predictions"]
lines = [l.rstrip("\n") for l in open(input_path, encoding="utf-8") if l.strip()]
worst = 0.0
with torch.no_grad():
    for line, p in zip(lines, preds):
        parts = line.split("\t")
        enc = tok(parts[0], parts[1] if len(parts) > 1 and task != "ner" else None, return_tensors="pt")
        logits = model(**enc).logits[0]
        if task == "ner":
            # predict --json lists labels per token; recompute the argmax labels and compare them.
            labels = [model.config.id2label[i] for i in logits.argmax(-1).tolist()]
            assert labels == p["labels"], (line, labels, p["labels"])
        else:
            mine = torch.tensor(p["logits"])
            worst = max(worst, (logits - mine).abs().max().item())
print(f"{len(preds)} inputs; max |Δ logit| {worst:.3g}" + (" (ner: argmax labels identical)" if task == "ner" else ""))
