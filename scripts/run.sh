#!/usr/bin/env bash
# The main job: set up (idempotent) and serve the demo page on the embedded default model
# (all-MiniLM-L6-v2) at http://127.0.0.1:8080 — open it in a browser with WebGPU.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
# trunk refuses to start when a folder its watcher ignores (Trunk.toml) is missing, as build
# outputs and runs are in a fresh clone.
mkdir -p target runs
exec trunk serve --offline "$@"
