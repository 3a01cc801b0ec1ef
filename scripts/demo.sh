#!/usr/bin/env bash
# The demo: builds the bridge, starts it on SQLite with demo data under ./data/demo, and prints
# the dashboard URL and a login. Stop it with Ctrl-C. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*"; }

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
rustup toolchain list | grep -q "^$toolchain" || rustup toolchain install "$toolchain" --profile minimal
rustup target list --installed --toolchain "$toolchain" | grep -q '^wasm32-unknown-unknown$' \
  || rustup target add --toolchain "$toolchain" wasm32-unknown-unknown

say "building attendance-bridge"
cargo build --quiet -p attendance-bridge
# Ask cargo where it put the binary (CARGO_TARGET_DIR, a config's build.target-dir or ./target), as an
# absolute path: the script changes folder below, so a relative one would point nowhere.
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug/attendance-bridge"
[ -x "$bin" ] || { echo "error: the build did not produce $bin" >&2; exit 1; }

port="${DEMO_PORT:-8000}"
device_port="${DEMO_DEVICE_PORT:-14371}"
export BRIDGE_DATA_DIR="${DEMO_DATA_DIR:-$PWD/data/demo}"
unset DATABASE_URL
mkdir -p "$BRIDGE_DATA_DIR"
cd "$BRIDGE_DATA_DIR"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

"$bin" migrate
if [ ! -f admin-password.txt ]; then
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
  printf '%s\n' "$password" | "$bin" create-user --username admin --password-stdin --superuser
  (umask 077 && printf '%s\n' "$password" > admin-password.txt)  # readable by its owner only
fi

# Three simulated pulled devices (ZK protocol) adding a live punch every 20 s (the main entrance in
# live mode: its punches are stored within seconds), and one push terminal.
"$bin" simulate-device --listen "127.0.0.1:$device_port" --listen "127.0.0.1:$((device_port + 1))" \
  --listen "127.0.0.1:$((device_port + 2))" \
  --users 25 --punches 400 --seed 7 --live-every 20 > simulator.log 2>&1 &
pids+=($!)
if ! "$bin" devices list | grep -q "Main entrance"; then
  "$bin" devices add --name "Main entrance" --ip 127.0.0.1 --port "$device_port" --live >/dev/null
  "$bin" devices add --name "Warehouse" --ip 127.0.0.1 --port "$((device_port + 1))" >/dev/null
  "$bin" devices add --name "Back office" --ip 127.0.0.1 --port "$((device_port + 2))" >/dev/null
  "$bin" devices add --name "Lobby (push)" --serial DEMOPUSH1 --push >/dev/null
fi

# A local CRM (the mock CRM: deduplicates by idempotency key; counts at /_stats).
crm_port="${DEMO_CRM_PORT:-8099}"
"$bin" mock-crm --listen "127.0.0.1:$crm_port" --token demo-token > mock-crm.log 2>&1 &
pids+=($!)
export CRM_API_URL="http://127.0.0.1:$crm_port/api/attendance/" CRM_API_TOKEN=demo-token
"$bin" jobs set-interval process_attendance 60 >/dev/null
"$bin" jobs set-interval sync_to_crm 60 >/dev/null
POLLING_INTERVAL_MINUTES=1 "$bin" serve --listen "127.0.0.1:$port" &
pids+=($!)
sleep 1
"$bin" simulate-device --push "http://127.0.0.1:$port" --serial DEMOPUSH1 --users 10 --punches 150 --seed 11 \
  --live-every 30 > push-terminal.log 2>&1 &
pids+=($!)
ready=no
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=yes; break; fi
  sleep 0.2
done
[ "$ready" = yes ] || { echo "error: the bridge did not become ready on 127.0.0.1:$port (see the output above)" >&2; exit 1; }
cat <<MSG

  Attendance Bridge demo is running (SQLite at $BRIDGE_DATA_DIR/bridge.db)
  Devices:    three simulated ZK devices on 127.0.0.1:$device_port-$((device_port + 2)) (polled every minute)
              and one push terminal (DEMOPUSH1); each adds live punches.
              Punches become attendance days every minute (standard-shifts plugin),
              and the days go to a local mock CRM every minute (crm-json plugin).
  CRM:        http://127.0.0.1:$crm_port/_stats   (what the CRM received, duplicates = 0)
  Counts:     BRIDGE_DATA_DIR=$BRIDGE_DATA_DIR $bin stats
  Dashboard:  http://127.0.0.1:$port/
  Health:     http://127.0.0.1:$port/readyz
  Account:    admin / $(cat admin-password.txt)  (API tokens: attendance-bridge create-token --username admin)

  Press Ctrl-C to stop.
MSG
wait "${pids[2]}"
