#!/usr/bin/env bash
# The page's engine against ONNX Runtime Web in the same headless Chromium (scripts/bench_browser.js):
# installs what it needs into the ignored tools/ (onnxruntime-web from npm; numpy, safetensors,
# onnx and onnxruntime from PyPI for the export), exports the default model to ONNX, builds the
# page, and runs the benchmark. Idempotent; arguments go to bench_browser.js, e.g.
#   bash scripts/bench_browser.sh --paths cpu1,cpu2 --shapes 1x16,8x64 --rounds 3
# Not part of the test suite: a run on SwiftShader takes minutes per WebGPU shape.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
ORT_WEB_VERSION=1.31.1

bash scripts/setup.sh >/dev/null
if ! grep -qs "\"version\": \"$ORT_WEB_VERSION\"" tools/ort/node_modules/onnxruntime-web/package.json; then
  echo "installing onnxruntime-web $ORT_WEB_VERSION into tools/ort"
  npm install --prefix tools/ort --no-save --silent --no-audit --no-fund "onnxruntime-web@$ORT_WEB_VERSION"
fi
if [ ! -x tools/onnx-venv/bin/python ] || ! tools/onnx-venv/bin/python -c 'import numpy, safetensors, onnx, onnxruntime' 2>/dev/null; then
  echo "installing the ONNX export's Python packages into tools/onnx-venv"
  python3 -m venv tools/onnx-venv
  tools/onnx-venv/bin/pip install -q numpy safetensors onnx==1.23.2 onnxruntime==1.32.0
fi
onnx=tools/onnx/all-MiniLM-L6-v2.onnx
if [ ! -f "$onnx" ] || [ models/all-MiniLM-L6-v2/model.safetensors -nt "$onnx" ]; then
  tools/onnx-venv/bin/python scripts/export_onnx.py models/all-MiniLM-L6-v2 "$onnx"
fi
trunk build --offline >/dev/null
NODE_PATH=tools/node_modules node scripts/bench_browser.js --onnx "$onnx" "$@"
