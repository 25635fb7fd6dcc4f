#!/usr/bin/env python3
"""PyTorch baseline for `undivided bench --train`: the same fixed batches and optimizer.

    /tmp/refenv/bin/python scripts/bench_train_pytorch.py --seq-len 64 --iters 5 --plans "all;0,5;none"
    python3 scripts/bench_train_pytorch.py --device cuda --iters 20   # beside `bench --device wgpu` on a GPU

BertForSequenceClassification on all-MiniLM-L6-v2, batch 32 x seq-len real tokens, AdamW
(lr 5e-5, weight decay 0.01), dropout on, `warmup` untimed steps (3, as `bench`) then `iters`
timed steps.
"""
import argparse
import os
import time

import torch
from transformers import BertForSequenceClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=os.path.join(ROOT, "models/all-MiniLM-L6-v2"))
    p.add_argument("--plans", default="all;0,5;none")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (as `undivided bench --warmup`)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (timed with a synchronise after the steps)")
    a = p.parse_args()
    dev = torch.device(a.device)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}")
    print(f"{'plan':<10}{'examples/s':>14}{'ms/step':>12}")
    for plan in a.plans.split(";"):
        model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2, dtype=torch.float32).to(dev).train()
        n = model.config.num_hidden_layers
        kept = set(range(n)) if plan == "all" else set() if plan == "none" else {int(x) for x in plan.split(",")}
        for i, layer in enumerate(model.bert.encoder.layer):
            if i not in kept:
                layer.feed_forward_chunk = lambda attention_output: attention_output
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
        ids = torch.randint(1000, 20000, (a.batch, a.seq_len))
        ids[:, 0], ids[:, -1] = 101, 102
        ids, labels = ids.to(dev), (torch.arange(a.batch) % 2).to(dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

        def step():
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids), labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
        for _ in range(a.warmup):
            step()
        sync()
        t = time.perf_counter()
        for _ in range(a.iters):
            step()
        sync()
        dt = time.perf_counter() - t
        print(f"{plan:<10}{a.iters * a.batch / dt:>14.1f}{1e3 * dt / a.iters:>12.0f}")


if __name__ == "__main__":
    main()
