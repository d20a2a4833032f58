#!/usr/bin/env bash
# Measures the foundation's performance budgets (DESIGN.md) and prints the figures:
#   cold start to the first /readyz 200, idle RSS, hydrate bundle size (raw and gzip),
#   SSR requests/s of the login page at 50 connections.
# Called by `./kiln.sh bench` (which builds the release binary and provides TEST_DATABASE_URL
# and TEST_REDIS_URL). Everything it starts listens on loopback and is stopped at the end.
set -euo pipefail

KILN_BIN="${KILN_BIN:?set KILN_BIN to the release kiln binary}"
PG="${TEST_DATABASE_URL:?}"
REDIS="${TEST_REDIS_URL:?}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/kiln-bench.XXXXXX)"
chmod 711 "$WORK" # the private PostgreSQL runs as `postgres` and must enter it
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PID=""
cleanup() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT

now_ms() { date +%s%3N; }
wait_ready() {
  for _ in $(seq 3000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && return 0
    sleep 0.005
  done
  echo "kiln did not become ready" >&2; return 1
}
start() { # env... ; sets PID and MS (milliseconds to the first /readyz 200)
  local t0; t0=$(now_ms)
  env "$@" RUST_LOG=warn "$KILN_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/kiln.log" 2>&1 &
  PID=$!
  wait_ready && kill -0 "$PID" 2>/dev/null || { echo "kiln did not start:" >&2; cat "$WORK/kiln.log" >&2; exit 1; }
  MS=$(( $(now_ms) - t0 ))
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# A fresh schema so the numbers include applying the migrations once.
SCHEMA="kiln_bench_$$"
psql -qX "$PG" -c "CREATE SCHEMA $SCHEMA" >/dev/null
trap 'cleanup; psql -qX "$PG" -c "DROP SCHEMA IF EXISTS '"$SCHEMA"' CASCADE" >/dev/null' EXIT
DB_URL="${PG}?options=-c%20search_path%3D${SCHEMA}"
EXT=(DATABASE_URL="$DB_URL" REDIS_URL="$REDIS" KILN_REDIS_PREFIX="kiln-bench-$$:")

echo "== Kiln benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
start "${EXT[@]}"; first=$MS; stop
start "${EXT[@]}"; warm=$MS
echo "cold start to /readyz 200, external PostgreSQL+Redis: first run (migrations) ${first} ms, next ${warm} ms  (budget < 1000 ms)"

sleep 2
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
echo "idle RSS: $((rss_kb / 1024)) MiB (${rss_kb} KiB)  (budget < 60 MiB)"

# The login page needs a user to exist (before that, every page leads to /setup).
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/api/fn/setup_admin" \
  -H 'Accept: application/json' --data 'username=bench&password=bench-password-1&confirm=bench-password-1'
if command -v wrk >/dev/null; then
  wrk -t2 -c50 -d10s --latency "http://127.0.0.1:$PORT/login" >"$WORK/wrk.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
  echo "SSR /login at 50 connections: ${rps} requests/s, p99 ${p99}"
else
  echo "SSR throughput: skipped (install wrk)"
fi
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
echo "RSS after load: $((rss_kb / 1024)) MiB"
stop

# A burst of 200 parallel sign-ins (wrong passwords, from one address, with the limit raised
# so that every one is verified): argon2 holds 19 MiB per hash, so the peak RSS shows whether
# hashing is bounded (a semaphore of one permit per core) or grows with the burst.
start "${EXT[@]}" KILN_LOGIN_MAX_FAILURES=100000
hwm_before=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
t0=$(now_ms)
seq 200 | xargs -P 200 -I{} curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/api/fn/login" \
  -H 'Accept: application/json' --data 'username=bench&password=wrong-password-{}'
burst_ms=$(( $(now_ms) - t0 ))
hwm_after=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
echo "200 parallel sign-ins: ${burst_ms} ms, peak RSS $((hwm_before / 1024)) MiB before, $((hwm_after / 1024)) MiB after"
stop

pkg="$ROOT/target/site/pkg"
wasm=$(ls "$pkg"/*_bg.wasm); js=$(ls "$pkg"/kiln*.js); css=$(ls "$pkg"/*.css)
for f in "$wasm" "$js" "$css"; do
  printf 'bundle %-44s raw %7d KiB  gzip %6d KiB\n' "$(basename "$f")" \
    $(( $(stat -c %s "$f") / 1024 )) $(( $(gzip -9 -c "$f" | wc -c) / 1024 ))
done
echo "(hydrate bundle budget: wasm <= 250 KiB gzip for the whole app, see DESIGN.md)"

# Private databases: what a newcomer's first `kiln serve` costs (initdb once), then a restart.
rm -rf "$WORK/data"
start env; first=$MS; stop
start env; again=$MS; stop
echo "cold start to /readyz 200, private PostgreSQL+Redis: first run (initdb) ${first} ms, restart ${again} ms"
