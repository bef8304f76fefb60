#!/usr/bin/env python3
"""What HuggingFace transformers writes for the task models Sentinel fine-tunes, as ground truth for the tests of
Sentinel's fine-tuned output directory (parameter names, shapes, config.json keys).

For tiny configs of Bert/Roberta/XLMRoberta For TokenClassification / ForSequenceClassification, built with random
weights and saved with save_pretrained (safetensors), this records into task-models.json:
  * the tensors of model.safetensors as written: name, dtype, shape (and the file's __metadata__);
  * the full config.json as written (key order kept), with architectures, id2label, label2id;
  * the state_dict() names that are not in the file (non-persistent buffers, tied weights), if any;
  * from_pretrained(output_loading_info=True) of the saved directory (no missing/unexpected keys), and of the same
    directory with the head's class swapped (what a base checkpoint or the other head reports), so that a writer
    knows which names the loader insists on.
Run with the interop venv: Samples/.cache/interop-venv/bin/python Formats/hf-task-models/make.py
"""
import json
import sys
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import torch
import transformers
from safetensors import safe_open

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()

OUT = Path(__file__).with_name("task-models.json")

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
CLS_LABELS = ["negative", "positive"]

FAMILIES = {
    "bert": (transformers.BertConfig, transformers.BertModel, transformers.BertForTokenClassification,
             transformers.BertForSequenceClassification, {"pad_token_id": 0}),
    "roberta": (transformers.RobertaConfig, transformers.RobertaModel, transformers.RobertaForTokenClassification,
                transformers.RobertaForSequenceClassification, {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                                                                "type_vocab_size": 1}),
    "xlm-roberta": (transformers.XLMRobertaConfig, transformers.XLMRobertaModel,
                    transformers.XLMRobertaForTokenClassification, transformers.XLMRobertaForSequenceClassification,
                    {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}),
}

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=70)


def tensors_of(path):
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        out = []
        for name in f.keys():
            sl = f.get_slice(name)
            out.append({"name": name, "dtype": sl.get_dtype(), "shape": list(sl.get_shape())})
    return meta, out


def loading_info(cls, directory):
    _, info = cls.from_pretrained(directory, output_loading_info=True)
    return {k: sorted(v) if isinstance(v, (list, set)) else [str(x) for x in v] for k, v in info.items()}


def main():
    torch.manual_seed(0)
    result = {
        "generator": "Formats/hf-task-models/make.py",
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
                     "safetensors": version("safetensors")},
        "tiny_config": TINY,
        "models": [],
    }
    for family, (config_cls, base_cls, token_cls, seq_cls, extra) in FAMILIES.items():
        for task, cls, labels in (("ner", token_cls, NER_LABELS), ("classification", seq_cls, CLS_LABELS)):
            id2label = {i: l for i, l in enumerate(labels)}
            config = config_cls(**TINY, **extra, num_labels=len(labels), id2label=id2label,
                                label2id={l: i for i, l in enumerate(labels)})
            model = cls(config).eval()
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp)
                files = sorted(p.name for p in Path(tmp).iterdir())
                config_json = json.loads((Path(tmp) / "config.json").read_text())
                meta, tensors = tensors_of(Path(tmp) / "model.safetensors")
                written = {t["name"] for t in tensors}
                state = model.state_dict()
                other_cls = seq_cls if cls is token_cls else token_cls
                entry = {
                    "family": family,
                    "task": task,
                    "class": cls.__name__,
                    "files": files,
                    "safetensors_metadata": meta,
                    "tensors": tensors,
                    "state_dict_not_written": sorted(set(state) - written),
                    "state_dict_shapes": {k: list(v.shape) for k, v in state.items()},
                    "config_json": config_json,
                    "config_keys": list(config_json.keys()),
                    "loading_info": loading_info(cls, tmp),
                    "loading_info_as_other_head": {"class": other_cls.__name__, **loading_info(other_cls, tmp)},
                    "loading_info_as_base_model": {"class": base_cls.__name__, **loading_info(base_cls, tmp)},
                }
                assert not any(entry["loading_info"][k] for k in ("missing_keys", "unexpected_keys")), entry["loading_info"]
            result["models"].append(entry)
            print(f"{cls.__name__}: {len(tensors)} tensors, config keys {len(entry['config_keys'])}")
    # The label keys of config.json when the labels are transformers' defaults: none for two labels (LABEL_0, LABEL_1
    # are the defaults of PretrainedConfig and save_pretrained writes only what differs), LABEL_i for other counts.
    defaults = {}
    for n in (2, 3):
        with tempfile.TemporaryDirectory() as tmp:
            transformers.BertForSequenceClassification(transformers.BertConfig(**TINY, num_labels=n)).save_pretrained(tmp)
            written = json.loads((Path(tmp) / "config.json").read_text())
            defaults[str(n)] = {k: written[k] for k in ("id2label", "label2id", "num_labels") if k in written}
    result["default_label_keys_by_label_count"] = defaults
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(OUT)


if __name__ == "__main__":
    main()
