#!/usr/bin/env bash
# The demo: makes sure the Rust toolchain and the WebAssembly target are installed, then builds and runs
# `attendance-bridge demo` (simulated devices, a mock CRM and a few weeks of history on SQLite under
# ./data/demo; everything on 127.0.0.1). It prints the dashboard URL and two logins; Ctrl-C stops it.
# Options go to the demo command: --listen 127.0.0.1:PORT, --data-dir DIR, --fresh.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
rustup toolchain list | grep -q "^$toolchain" || rustup toolchain install "$toolchain" --profile minimal
rustup target list --installed --toolchain "$toolchain" | grep -q '^wasm32-unknown-unknown$' \
  || rustup target add --toolchain "$toolchain" wasm32-unknown-unknown

# A debug build: on a two-core machine it is ready in far less time than a release build (the
# release build of wasmtime's compiler alone takes minutes), and the demo's few thousand punches need
# no optimised binary. `cargo build --release` is for running it for real (see the README).
printf '==> building attendance-bridge (the first build takes a few minutes)\n'
exec cargo run --quiet -p attendance-bridge -- demo "$@"
