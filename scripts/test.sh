#!/usr/bin/env bash
# Every test: native (`cargo test`) and in headless Chromium on WebGPU (`cargo test --target
# wasm32-unknown-unknown` through wasm-bindgen-test-runner, .cargo/config.toml).
# Runs setup first (idempotent; skips what is installed), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Each part's minutes, printed at the end: a cold machine builds everything (CI's budget is 45 min).
timings=()
part=""
part_start=$SECONDS
step() {
  local took=$((SECONDS - part_start))
  [ -z "$part" ] || timings+=("$(printf '%3d min %2d s  %s' $((took / 60)) $((took % 60)) "$part")")
  part=$1
  part_start=$SECONDS
  [ -z "$part" ] || echo "== $part"
}

step "setup (scripts/setup.sh)"
bash scripts/setup.sh

# Mesa (lavapipe, for native wgpu tests) wants a private runtime dir.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/undivided-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

step "formatting and lints (cargo fmt --check; cargo clippy -D warnings)"
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings

step "native tests (cargo test)"
cargo test --workspace --all-targets

step "the library builds for wasm32 (what trunk builds for the page)"
cargo build --lib --target wasm32-unknown-unknown --no-default-features --profile web

step "browser tests (cargo test --target wasm32-unknown-unknown: headless Chromium, WebGPU via --enable-unsafe-webgpu in webdriver.json)"
log=$(mktemp)
run_browser_tests() {
  CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_ONLY_WEB=1 WASM_BINDGEN_TEST_TIMEOUT=600 \
    cargo test --target wasm32-unknown-unknown --profile web --test web 2>&1 | tee "$log"
}
# chromedriver gives up on a renderer that is busy compiling the test module for 30 s; on a
# loaded 2-core machine that happens now and then before any test runs: try once more then.
if ! run_browser_tests && grep -q "Timed out receiving message from renderer" "$log" && ! grep -q "^test .* FAIL" "$log"; then
  echo "chromedriver timed out while the test module loaded; running the browser tests once more"
  run_browser_tests
fi
# The runner exits 0 when a suite is silently skipped (e.g. configured for node): insist on passes.
if ! grep -Eq 'test result: ok\. [1-9][0-9]* passed' "$log" || grep -q 'skipping' "$log"; then
  echo "browser tests did not run (see above)" >&2
  exit 1
fi
step "the page end to end (trunk build, headless Chromium on WebGPU)"
trunk build --offline
# A tiny random BERT beside the page: the test trains it in the browser (SwiftShader runs WebGPU
# on the CPU, where MiniLM takes about a minute per step).
mkdir -p dist/test-models/tiny
cp tests/fixtures/tiny/config.json tests/fixtures/tiny/model.safetensors dist/test-models/tiny/
python3 -c 'w=["[PAD]","[UNK]","[CLS]","[SEP]","[MASK]","the","a","movie","good","bad","is","was","not","very","film"]; print("\n".join(w+[f"tok{i}" for i in range(1000-len(w))]))' > dist/test-models/tiny/vocab.txt
# A native run published beside the page, as `undivided publish` does for users' runs.
e2e_runs=$(mktemp -d)
cargo run -q -- finetune dist/test-models/tiny --steps 2 --batch-size 8 --max-len 32 --out "$e2e_runs/tiny-sst2" >/dev/null
cargo run -q -- publish "$e2e_runs/tiny-sst2" --into dist/runs
# And a pre-trained reduced model, published as f16, as the study's largest budget is for the page.
cargo run -q -- pretrain dist/test-models/tiny --keep-ffn 0+norm --corpus ../shared/corpus --tokens 8k --batch-size 8 --max-len 32 --out "$e2e_runs/tiny-pretrained" >/dev/null
cargo run -q -- publish "$e2e_runs/tiny-pretrained" --f16 --into dist/runs >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Cross-origin isolated (COOP + COEP), as `trunk serve` serves it: the CPU workers share a sentence.
python3 scripts/serve.py "$port" dist >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
mkdir -p target/artifacts
NODE_PATH=tools/node_modules node tests/e2e/page.js "http://127.0.0.1:$port/index.html" target/artifacts/page.png
echo "screenshot: target/artifacts/page.png"

step "the hosted page as GitHub Pages serves a project site: pages.yml's build under /undivided/, no runs published"
hosted=$(mktemp -d)
# The exact build step of .github/workflows/pages.yml (relative URLs; the page test's build, so
# cargo has nothing left to compile).
build_cmd=$(sed -n 's/^ *run: \(trunk build --release.*\)$/\1/p' .github/workflows/pages.yml)
[ -n "$build_cmd" ] || { echo "no trunk build step found in .github/workflows/pages.yml" >&2; exit 1; }
UNDIVIDED_NO_RUNS=1 $build_cmd --offline --dist "$hosted/undivided"
[ ! -e "$hosted/undivided/runs" ] || { echo "the hosted build must not carry published runs" >&2; exit 1; }
hosted_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$hosted_port" --bind 127.0.0.1 --directory "$hosted" >/dev/null 2>&1 &
hosted_server=$!
trap 'kill $server $hosted_server 2>/dev/null || true' EXIT
NODE_PATH=tools/node_modules node tests/e2e/page.js "http://127.0.0.1:$hosted_port/undivided/" target/artifacts/hosted.png --hosted
echo "screenshot: target/artifacts/hosted.png"
step ""
printf '%s\n' "${timings[@]}"
echo "all tests passed"
