#!/usr/bin/env python3
"""PyTorch baseline for `undivided bench`: the same model, plans, batches and timing.

    /tmp/refenv/bin/python scripts/bench_pytorch.py [--plans "all;0,5;none"] [--iters 5]
    python3 scripts/bench_pytorch.py --device cuda --iters 20   # beside `bench --device wgpu`

Fixed shape: batch 32 x 128 real tokens (after `warmup` untimed batches, 3 as `bench`). Dataset: SST-2 dev in file
order, batches of 32, padded to the longest in each batch, truncated at 128. Each batch's pooled
output is copied to the host, as `undivided bench` reads it back, so a GPU's batches are timed
to their end.
"""
import argparse
import os
import time

import torch
from transformers import AutoTokenizer, BertModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def remove_blocks(model, kept):
    for i, layer in enumerate(model.encoder.layer):
        if i not in kept:
            layer.feed_forward_chunk = lambda attention_output: attention_output


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=os.path.join(ROOT, "models/all-MiniLM-L6-v2"))
    p.add_argument("--plans", default="all;none")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3, help="untimed batches first (as `undivided bench --warmup`)")
    p.add_argument("--data", default=os.path.join(ROOT, "../shared/glue/SST-2/dev.tsv"))
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", default="f32", choices=["f32", "f16"], help="f16: the model in half precision (as `undivided bench --precision f16`)")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.set_grad_enabled(False)
    tok = AutoTokenizer.from_pretrained(a.model)
    sentences = [l.split("\t")[0] for l in open(a.data, encoding="utf-8").read().splitlines()[1:]]
    batches = [tok(sentences[i:i + a.batch], padding="longest", truncation=True, max_length=128, return_tensors="pt").to(dev)
               for i in range(0, len(sentences), a.batch)]
    print(f"torch {torch.__version__}, {a.device}, {a.precision}, {torch.get_num_threads()} threads")
    print(f"{'plan':<10}{'fixed sent/s':>14}{'dataset sent/s':>16}")
    for plan in a.plans.split(";"):
        model = BertModel.from_pretrained(a.model).eval().to(dev)
        if a.precision == "f16":
            model = model.half()
        n = model.config.num_hidden_layers
        kept = set(range(n)) if plan == "all" else set() if plan == "none" else {int(x) for x in plan.split(",")}
        remove_blocks(model, kept)
        ids = torch.randint(1000, 20000, (a.batch, a.seq_len))
        ids[:, 0], ids[:, -1] = 101, 102
        ids = ids.to(dev)
        fixed = dict(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))
        run = lambda inputs: model(**inputs).pooler_output.cpu()
        for _ in range(a.warmup):
            run(fixed)
        t = time.perf_counter()
        for _ in range(a.iters):
            run(fixed)
        fixed_rate = a.iters * a.batch / (time.perf_counter() - t)
        t = time.perf_counter()
        for b in batches:
            run(b)
        data_rate = len(sentences) / (time.perf_counter() - t)
        print(f"{plan:<10}{fixed_rate:>14.1f}{data_rate:>16.1f}")


if __name__ == "__main__":
    main()
