#!/usr/bin/env python3
"""PyTorch reference for `undivided study`'s full-model row: the same recipe with HF transformers.

    /tmp/torchenv/bin/python scripts/glue_pytorch.py --task mrpc [--seed 42] [--epochs 3] [--lr 5e-5] \
        [--json runs/glue4/mrpc/reference.jsonl]

HF run_glue's recipe as the study runs it: BertForSequenceClassification on the model folder (a
new head), AdamW (weight decay 0.01, none on biases and LayerNorm), linear warm-up over 10% of
the steps then linear decay, gradient-norm clipping at 1.0, batch 32, length 128, dynamic padding,
dropout as configured, dev every --eval-every steps and at the end. Prints the best and the final
dev metric (F1 for MRPC, Matthews correlation for CoLA, accuracy otherwise) and one JSON line;
--json appends that line to a file. `undivided study` reads `OUT/<task>/reference.jsonl` and puts
its runs in the full model's row, so the study shows how the Rust trainer compares.
"""
import argparse
import json
import math
import os
import random
import time

import torch
from transformers import AutoTokenizer, BertForSequenceClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = {  # folder, text columns (by header name or index), label column, header
    "sst2": ("SST-2", ["sentence"], "label"),
    "mrpc": ("MRPC", ["#1 String", "#2 String"], "Quality"),
    "rte": ("RTE", ["sentence1", "sentence2"], "label"),
    "cola": ("CoLA", [3], 1),
}


def read(task, split, glue):
    folder, cols, label = TASKS[task]
    lines = open(os.path.join(glue, folder, f"{split}.tsv"), encoding="utf-8-sig").read().splitlines()
    if task == "cola":  # no header: id, label, mark, sentence
        rows = [l.split("\t") for l in lines if l]
        return [([r[3]], int(r[1])) for r in rows]
    head = lines[0].split("\t")
    idx = [head.index(c) for c in cols]
    names = {"entailment": 0, "not_entailment": 1}
    out = []
    for l in lines[1:]:
        r = l.split("\t")
        if len(r) < len(head):
            continue
        y = r[head.index(label)]
        out.append(([r[i] for i in idx], names[y] if y in names else int(y)))
    return out


def metric(task, preds, labels):
    tp = sum(p == 1 and y == 1 for p, y in zip(preds, labels))
    fp = sum(p == 1 and y == 0 for p, y in zip(preds, labels))
    fn = sum(p == 0 and y == 1 for p, y in zip(preds, labels))
    tn = sum(p == 0 and y == 0 for p, y in zip(preds, labels))
    acc = (tp + tn) / max(1, len(labels))
    if task == "mrpc":
        return "f1", 2 * tp / max(1, 2 * tp + fp + fn), acc
    if task == "cola":
        d = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return "matthews", (tp * tn - fp * fn) / d if d else 0.0, acc
    return "accuracy", acc, acc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--model", default=os.path.join(ROOT, "models/all-MiniLM-L6-v2"))
    p.add_argument("--glue", default=os.path.join(ROOT, "../shared/glue"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--eval-every", type=int, default=40)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", help="append the result line to this file (a study's OUT/<task>/reference.jsonl)")
    a = p.parse_args()
    random.seed(a.seed)
    torch.manual_seed(a.seed)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2)
    train, dev = read(a.task, "train", a.glue), read(a.task, "dev", a.glue)
    def enc(rows):
        texts = [list(t) for t in zip(*[r[0] for r in rows])]  # one list per text column
        return tok(*texts, padding="longest", truncation=True, max_length=a.max_len, return_tensors="pt")
    steps_per_epoch = math.ceil(len(train) / a.batch)
    total = steps_per_epoch * a.epochs
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=a.lr)
    warm = int(0.1 * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))

    def evaluate():
        model.eval()
        preds = []
        with torch.no_grad():
            for i in range(0, len(dev), 64):
                preds += model(**enc(dev[i:i + 64])).logits.argmax(-1).tolist()
        model.train()
        return metric(a.task, preds, [y for _, y in dev])

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {a.task}: {len(train)} train, {len(dev)} dev, {total} steps")
    model.train()
    best, step, started = None, 0, time.time()
    for epoch in range(a.epochs):
        order = list(range(len(train)))
        random.shuffle(order)
        for i in range(0, len(order), a.batch):
            rows = [train[j] for j in order[i:i + a.batch]]
            out = model(**enc(rows), labels=torch.tensor([y for _, y in rows]))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad()
            step += 1
            if step % a.eval_every == 0 or step == total:
                name, value, acc = evaluate()
                best = value if best is None else max(best, value)
                print(f"step {step}/{total}: loss {out.loss.item():.4f}, dev {name} {value:.4f} (accuracy {acc:.4f})", flush=True)
    name, final, acc = evaluate()
    seconds = time.time() - started
    line = json.dumps({"task": a.task, "seed": a.seed, "metric": name, "best": best, "final": final, "final_accuracy": acc, "steps": total, "train_seconds": round(seconds, 1), "torch": torch.__version__})
    print(line)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
