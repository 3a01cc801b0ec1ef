#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine. It installs what the suite needs first:
# the pinned toolchain and wasm target, cargo-nextest, a running PostgreSQL on 127.0.0.1:5432,
# and the Python test client (pyzk) in .venv-test. PostgreSQL is required: without it the run fails.
# Headless Chromium, chromedriver and pdftotext for the page suites come from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*"; }

# --- Rust: the toolchain rust-toolchain.toml pins, with the wasm target plugins build for.
toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$toolchain"; then
  say "installing Rust $toolchain"
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! rustup target list --installed --toolchain "$toolchain" | grep -q '^wasm32-unknown-unknown$'; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add --toolchain "$toolchain" wasm32-unknown-unknown
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# --- PostgreSQL on 127.0.0.1:5432 (trust auth). Start the cluster if it is down.
pg_up() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432)); sys.exit(0)
except OSError:
    sys.exit(1)
PY
}
if [ -z "${BRIDGE_TEST_PG_URL:-}" ] && ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    say "installing PostgreSQL"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
  fi
  say "starting PostgreSQL"
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "error: PostgreSQL is not reachable on 127.0.0.1:5432; the suite needs it" >&2; exit 1; }
fi
export BRIDGE_TEST_PG_URL="${BRIDGE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# --- Python test client (pinned pyzk), used to prove the device simulator speaks real bytes.
if [ -f tests/python/requirements.txt ]; then
  if [ ! -x .venv-test/bin/python ] || ! cmp -s tests/python/requirements.txt .venv-test/requirements.txt; then
    say "preparing .venv-test with $(tr '\n' ' ' < tests/python/requirements.txt)"
    python3 -m venv .venv-test
    .venv-test/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt .venv-test/requirements.txt
  fi
  export BRIDGE_TEST_PYTHON="$PWD/.venv-test/bin/python"
fi

# --- Headless Chromium for the page suites, pdftotext to read the PDFs they print, and
# systemd-analyze to verify the unit files in deploy/.
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "error: the page suites need ${missing[*]} (Debian packages); install them" >&2; exit 1; }
  say "installing ${missing[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
fi

# The suites run the binary exactly as `bridge_e2e::bridge_binary()` and scripts/demo.sh build it
# (`-p attendance-bridge`: its own feature resolution, not the workspace's). Building it here, before
# nextest starts, keeps that build (minutes on two cores from a fresh clone) out of any test's timeout.
say "building attendance-bridge"
cargo build -p attendance-bridge --bin attendance-bridge
say "running the test suite"
exec cargo nextest run --workspace "$@"
