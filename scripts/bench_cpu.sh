#!/usr/bin/env bash
# CPU inference, side by side: `undivided bench` and PyTorch's eager baseline
# (scripts/bench_pytorch.py) on the same plans and batches, alternating for ROUNDS rounds so
# that both see the same machine. PYTHON must have torch and transformers installed, e.g.
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch transformers
#   PYTHON=/tmp/torchenv/bin/python scripts/bench_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
PLANS="${PLANS:-all;0,5;none}"
ROUNDS="${ROUNDS:-2}"
"$PYTHON" -c "import torch, transformers" 2>/dev/null || { echo "$PYTHON has no torch/transformers (see the comment at the top)" >&2; exit 1; }
cargo build -q
bin="${CARGO_TARGET_DIR:-target}/debug/undivided"
for round in $(seq "$ROUNDS"); do
  echo "== round $round: undivided bench (burn-flex)"
  "$bin" bench default --plans "$PLANS"
  echo "== round $round: PyTorch eager"
  "$PYTHON" scripts/bench_pytorch.py --plans "$PLANS" 2>&1 | grep -v '^Loading weights'
done
