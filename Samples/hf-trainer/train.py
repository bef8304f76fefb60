#!/usr/bin/env python3
"""Fine-tune an adapted model (`sentinel convert`) on encrypted data (`sentinel encrypt`) with the HuggingFace Trainer.

The files are used as Sentinel writes them: `datasets.load_dataset("json", ...)` on the JSON lines of
`sentinel encrypt --format conll` ({"tokens": [digests], "ner_tags": [...], "word_ids": [...]}) or `--format tsv`
({"sentence": "<digest> <digest> ...", "label": 1}), and `from_pretrained` on the adapted directory. The output
directory is an ordinary transformers model directory (plus the adapted model's sentinel.json), for
`sentinel evaluate` / `sentinel predict --encrypted` and transformers alike.

  python train.py --model ADAPTED_DIR --task ner --train train.jsonl --validation valid.jsonl --output OUT_DIR
         [--epochs 1] [--batch-size 16] [--learning-rate 5e-5] [--max-length 128] [--seed 42] [--label-all-tokens] [--cpu]

NER labels only the first digest of each word (its `word_ids`), as Sentinel's own readers and HF's
run_ner.py recipe do; `--label-all-tokens` labels every digest with its word's tag instead (the `ner_tags` as written).
Metrics: seqeval (default mode) entity precision/recall/F1 and token accuracy for ner; accuracy, F1 (label 1) and macro
F1 (scikit-learn) for classification: the definitions of Sentinel's `evaluate` (Formats/metrics.md).
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from datasets import load_dataset
from seqeval.metrics import accuracy_score as tag_accuracy
from seqeval.metrics import f1_score as entity_f1
from seqeval.metrics import precision_score, recall_score
from sklearn.metrics import accuracy_score, f1_score
from transformers import (AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer,
                          DataCollatorForTokenClassification, DataCollatorWithPadding, Trainer, TrainingArguments,
                          set_seed)

CONLL_ORDER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def ner_labels(dataset):
    seen = sorted({t for split in dataset.values() for tags in split["ner_tags"] for t in map(str, tags)})
    if set(seen) <= set(CONLL_ORDER):
        return [t for t in CONLL_ORDER if t in seen or t == "O"]  # CoNLL-2003's class order (as `datasets` gives it)
    return (["O"] if "O" in seen else []) + [t for t in seen if t != "O"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="the adapted model directory (sentinel convert)")
    ap.add_argument("--task", choices=["ner", "classification"], required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--validation", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--label-all-tokens", action="store_true")
    ap.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is there")
    args = ap.parse_args()
    set_seed(args.seed)

    raw = load_dataset("json", data_files={"train": args.train, "validation": args.validation})
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    if args.task == "ner":
        labels = ner_labels(raw)
        label2id = {l: i for i, l in enumerate(labels)}

        def encode(batch):
            # Each digest is one vocabulary entry of the adapted tokenizer: one id per digest.
            enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=args.max_length)
            all_labels = []
            for i, tags in enumerate(batch["ner_tags"]):
                words = batch["word_ids"][i] if "word_ids" in batch and batch["word_ids"][i] is not None else list(range(len(tags)))
                row, previous = [], None
                for d in enc.word_ids(batch_index=i):  # index of the digest (None for [CLS]/[SEP])
                    if d is None:
                        row.append(-100)
                    elif words[d] != previous or args.label_all_tokens:
                        row.append(label2id[str(tags[d])])
                    else:
                        row.append(-100)
                    previous = None if d is None else words[d]
                all_labels.append(row)
            enc["labels"] = all_labels
            return enc

        model = AutoModelForTokenClassification.from_pretrained(
            args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
        collator = DataCollatorForTokenClassification(tokenizer)

        def compute_metrics(p):
            predictions = np.argmax(p.predictions, axis=-1)
            gold, pred = [], []
            for prow, lrow in zip(predictions, p.label_ids):
                gold.append([labels[l] for l in lrow if l != -100])
                pred.append([labels[q] for q, l in zip(prow, lrow) if l != -100])
            return {"precision": precision_score(gold, pred), "recall": recall_score(gold, pred),
                    "f1": entity_f1(gold, pred), "accuracy": tag_accuracy(gold, pred)}
    else:
        pair = "sentence1" in raw["train"].column_names
        label_values = sorted({int(l) for split in raw.values() for l in split["label"]})
        labels = [str(l) for l in range(max(label_values) + 1)]

        def encode(batch):
            texts = (batch["sentence1"], batch["sentence2"]) if pair else (batch["sentence"],)
            enc = tokenizer(*texts, truncation=True, max_length=args.max_length)
            enc["labels"] = [int(l) for l in batch["label"]]
            return enc

        # Explicit names: with the default LABEL_0/LABEL_1 of two labels, transformers 5 writes no id2label at all.
        model = AutoModelForSequenceClassification.from_pretrained(
            args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        collator = DataCollatorWithPadding(tokenizer)

        def compute_metrics(p):
            predictions = np.argmax(p.predictions, axis=-1)
            out = {"accuracy": accuracy_score(p.label_ids, predictions),
                   "macro_f1": f1_score(p.label_ids, predictions, average="macro")}
            if len(labels) == 2:
                out["f1"] = f1_score(p.label_ids, predictions)
            return out

    data = raw.map(encode, batched=True, remove_columns=raw["train"].column_names)
    training_args = TrainingArguments(
        output_dir=str(Path(args.output) / "checkpoints"), num_train_epochs=args.epochs, learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64, weight_decay=0.01,
        warmup_steps=0, lr_scheduler_type="linear", max_grad_norm=1.0, seed=args.seed, eval_strategy="epoch",
        save_strategy="no", logging_steps=10, report_to=[], use_cpu=args.cpu, disable_tqdm=True)
    trainer = Trainer(model=model, args=training_args, train_dataset=data["train"], eval_dataset=data["validation"],
                      data_collator=collator, processing_class=tokenizer, compute_metrics=compute_metrics)
    start = time.time()
    train_result = trainer.train()
    train_seconds = time.time() - start
    # The evaluation of the last epoch (eval_strategy="epoch"); no second pass over the validation set.
    evaluations = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    metrics = evaluations[-1] if evaluations else trainer.evaluate()
    trainer.save_model(args.output)  # model.safetensors + config.json (architectures, id2label, label2id) + tokenizer
    shutil.rmtree(Path(args.output) / "checkpoints", ignore_errors=True)
    sentinel = Path(args.model) / "sentinel.json"
    if sentinel.exists():
        shutil.copy(sentinel, Path(args.output) / "sentinel.json")  # scheme and source hashes, never the key
    summary = {"task": args.task, "train_rows": len(data["train"]), "validation_rows": len(data["validation"]),
               "steps": train_result.global_step, "train_loss": train_result.training_loss,
               "train_seconds": round(train_seconds, 1), **{k: v for k, v in metrics.items()}}
    (Path(args.output) / "hf_metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
