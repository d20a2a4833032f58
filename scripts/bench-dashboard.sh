#!/usr/bin/env bash
# Measures the dashboard with 1,000 containers on 10 lab nodes (issue 11) and prints:
#   for each page (`/containers`, `/`): the server render time at 50 connections (wrk
#   --latency: p50/p90/p99 and requests/s, after a warm-up), at 1 connection (p50/p99: the
#   render without queueing), and the Proxmox API calls per page render — the labs' request
#   counters (`GET /lab/requests`) before and after a known number of sequential renders,
#   divided, with the calls by path — and per request under load; the calls the labs get
#   while nobody asks (Kiln's background work); the RSS of `kiln serve`.
# The nodes: 10 `kiln lab` processes (scratch runtime, `--preload 100`, seeds 1..10, no SSH,
# loopback), added as 10 nodes of one signed-in user through the `add_node` server function.
# By default none of their containers is Kiln's own; BENCH_DASHBOARD_MANAGED=K records the
# first K of each node as Kiln's rows (status ready), so a page listing Kiln's rows has
# something to show.
# Only an HTTP 200 (no redirect to /login) is required of a page, nothing of its HTML.
# Called by `./kiln.sh bench` (KILN_BIN = the release kiln binary, TEST_DATABASE_URL and
# TEST_REDIS_URL). Everything listens on loopback and is stopped at the end; the schema,
# the Redis keys and the temporary directory it made are removed.
# Knobs: BENCH_DASHBOARD_NODES (10), BENCH_DASHBOARD_PER_NODE (100),
# BENCH_DASHBOARD_CONNECTIONS (50), BENCH_DASHBOARD_SECONDS (15), BENCH_DASHBOARD_PAGES
# ("/containers /"), BENCH_DASHBOARD_MANAGED (0), BENCH_DASHBOARD_RENDERS (20: the sequential
# renders the calls are counted over), BENCH_DASHBOARD_API (REST API paths to measure the same
# way with a bearer token, e.g. "/api/v1/containers /api/v1/containers?limit=1000"; the token
# comes from POST /api/v1/auth/token and Kiln runs with KILN_API_RATE_LIMIT high enough not
# to answer 429 under the load).
set -euo pipefail

KILN_BIN="${KILN_BIN:?set KILN_BIN to the release kiln binary}"
PG="${TEST_DATABASE_URL:?}"
REDIS="${TEST_REDIS_URL:?}"
NODES="${BENCH_DASHBOARD_NODES:-10}"
PER_NODE="${BENCH_DASHBOARD_PER_NODE:-100}"
CONNS="${BENCH_DASHBOARD_CONNECTIONS:-50}"
SECONDS_LOAD="${BENCH_DASHBOARD_SECONDS:-15}"
PAGES="${BENCH_DASHBOARD_PAGES:-/containers /}"
MANAGED="${BENCH_DASHBOARD_MANAGED:-0}"
RENDERS="${BENCH_DASHBOARD_RENDERS:-20}"
API_PATHS="${BENCH_DASHBOARD_API:-}"
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/kiln-bench-dashboard.XXXXXX)"
chmod 711 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
SCHEMA="kiln_bench_dashboard_$$"
PREFIX="kiln-bench-dashboard-$$:"
LAB_PIDS=(); LAB_PORTS=(); KILN=""
cleanup() {
  [ -n "$KILN" ] && { kill "$KILN" 2>/dev/null; wait "$KILN" 2>/dev/null || true; }
  local pid
  for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -qX "$PG" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" 2>/dev/null \
    | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== Kiln dashboard benchmark: $NODES lab nodes x $PER_NODE containers, $CONNS connections ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"

# The lab nodes (one API token for all of them).
TOKEN="root@pam!kiln=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
for i in $(seq "$NODES"); do
  LAB_PORTS+=("$(free_port)")
  RUST_LOG=warn "$KILN_BIN" lab --runtime scratch --no-ssh --speed 0 --seed "$i" \
    --preload "$PER_NODE" --listen "127.0.0.1:${LAB_PORTS[-1]}" --data-dir "$WORK/lab$i" \
    --token "$TOKEN" >"$WORK/lab$i.out" 2>"$WORK/lab$i.err" &
  LAB_PIDS+=("$!")
done
FINGERPRINTS=()
for i in $(seq "$NODES"); do
  fp=""
  for _ in $(seq 300); do
    fp="$(awk '/fingerprint:/ {print $2; exit}' "$WORK/lab$i.out" 2>/dev/null)"
    [ -n "$fp" ] && break
    sleep 0.1
  done
  [ -n "$fp" ] || { cat "$WORK/lab$i.err" >&2; echo "lab $i did not start" >&2; exit 1; }
  FINGERPRINTS+=("$fp")
done

# The labs' request counters, summed: {"total": N, "paths": {...}}.
lab_counts() {
  python3 - "${LAB_PORTS[@]}" <<'PY'
import collections, json, ssl, sys, urllib.request
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # our own labs on loopback, only for their counters
total, paths = 0, collections.Counter()
for port in sys.argv[1:]:
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/lab/requests", context=ctx, timeout=10) as r:
        data = json.load(r)["data"]
    total += data["total"]
    paths.update(data["paths"])
print(json.dumps({"total": total, "paths": paths}))
PY
}
# Calls between two counter snapshots, divided by $3: "X.XX per render (path: n, ...)".
calls_between() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
a, b, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
diff = {p: c - a["paths"].get(p, 0) for p, c in b["paths"].items() if c - a["paths"].get(p, 0)}
by_path = ", ".join(f"{p}: {c / n:.2f}" for p, c in sorted(diff.items(), key=lambda x: -x[1]))
print(f"{(b['total'] - a['total']) / n:.2f}" + (f" ({by_path})" if by_path else ""))
PY
}

# Kiln, on a fresh schema; the first administrator adds the labs as nodes.
psql -qX "$PG" -c "CREATE SCHEMA $SCHEMA" >/dev/null
DB_URL="${PG}?options=-c%20search_path%3D${SCHEMA}"
env DATABASE_URL="$DB_URL" REDIS_URL="$REDIS" KILN_REDIS_PREFIX="$PREFIX" RUST_LOG=warn \
  KILN_API_RATE_LIMIT=1000000 \
  "$KILN_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/kiln.out" 2>"$WORK/kiln.log" &
KILN=$!
for _ in $(seq 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && break
  kill -0 "$KILN" 2>/dev/null || { cat "$WORK/kiln.log" >&2; exit 1; }
  sleep 0.05
done
COOKIE=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$PORT/api/fn/setup_admin" \
  -H 'Accept: application/json' -H 'Sec-Fetch-Site: same-origin' \
  --data 'username=bench&password=bench-password-1&confirm=bench-password-1' \
  | awk -F'[=;]' 'tolower($0) ~ /^set-cookie: kiln_session=/ {print $2; exit}')
[ -n "$COOKIE" ] || { echo "no session" >&2; exit 1; }
NODE_IDS=()
for i in $(seq "$NODES"); do
  body=$(python3 -c 'import json, sys; id, secret = sys.argv[3].split("=", 1); print(json.dumps({"input": {
    "name": "lab" + sys.argv[1], "host": "127.0.0.1", "port": int(sys.argv[2]), "is_cluster": False,
    "fingerprint": sys.argv[4], "token_id": id, "token_secret": secret}}))' \
    "$i" "${LAB_PORTS[$((i - 1))]}" "$TOKEN" "${FINGERPRINTS[$((i - 1))]}")
  reply=$(curl -s -w '\n%{http_code}' -X POST "http://127.0.0.1:$PORT/api/fn/add_node" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' \
    -H 'Sec-Fetch-Site: same-origin' -H "Cookie: kiln_session=$COOKIE" --data "$body")
  [ "${reply##*$'\n'}" = 200 ] || { echo "adding lab $i as a node failed: $reply" >&2; exit 1; }
  NODE_IDS+=("$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["id"])' "${reply%$'\n'*}")")
done

if [ "$MANAGED" -gt 0 ]; then
  # The first K containers of each node as Kiln's own, ready (ids and names from the node).
  OWNER=$(psql -qtAX "$DB_URL" -c "SELECT id FROM users WHERE username = 'bench'")
  python3 - "$MANAGED" "$TOKEN" "$OWNER" "${LAB_PORTS[*]}" "${NODE_IDS[*]}" >"$WORK/managed.sql" <<'PY'
import json, ssl, sys, urllib.request
k, token, owner = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ports, ids = sys.argv[4].split(), sys.argv[5].split()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # our own labs on loopback
rows = []
for port, node_id in zip(ports, ids):
    req = urllib.request.Request(f"https://127.0.0.1:{port}/api2/json/cluster/resources?type=vm",
                                 headers={"Authorization": "PVEAPIToken=" + token})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        cts = sorted(json.load(r)["data"], key=lambda c: c["vmid"])[:k]
    for c in cts:
        name = str(c["name"]).replace("'", "''")
        rows.append(f"({int(node_id)}, {int(c['vmid'])}, '{name}', {owner}, 'ready')")
print("INSERT INTO containers (node_id, vmid, hostname, owner_id, status) VALUES")
print(",\n".join(rows) + ";")
PY
  psql -qX -v ON_ERROR_STOP=1 "$DB_URL" -f "$WORK/managed.sql" >/dev/null
  echo "Kiln's own rows: $(psql -qtAX "$DB_URL" -c "SELECT count(*) FROM containers") (the first $MANAGED of each node)"
fi

# The REST API's token (only when API paths are measured).
AUTH="Cookie: kiln_session=$COOKIE"
if [ -n "$API_PATHS" ]; then
  API_TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/token" -H 'Content-Type: application/json' \
    --data '{"username": "bench", "password": "bench-password-1", "name": "bench"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
  [ -n "$API_TOKEN" ] || { echo "no API token" >&2; exit 1; }
fi
auth_for() { case "$1" in /api/v1/*) echo "Authorization: Bearer $API_TOKEN" ;; *) echo "$AUTH" ;; esac; }

# A page must answer 200 to the signed-in user (no redirect to /login).
status_of() { curl -s -o /dev/null -w '%{http_code}' -H "$(auth_for "$1")" "http://127.0.0.1:$PORT$1"; }
for page in $PAGES $API_PATHS; do
  code=$(status_of "$page")
  [ "$code" = 200 ] || { echo "GET $page answered $code, not 200" >&2; tail -5 "$WORK/kiln.log" >&2; exit 1; }
done

before=$(lab_counts); sleep 5; after=$(lab_counts)
echo "Proxmox calls while idle (Kiln's background work, all nodes): $(calls_between "$before" "$after" 5) per second"

wrk_run() { # connections seconds url -> $WORK/wrk.txt
  local threads=2; [ "$1" -ge 2 ] || threads=1
  wrk -t"$threads" -c"$1" -d"$2"s --latency -H "$(auth_for "${3#http://127.0.0.1:$PORT}")" "$3" >"$WORK/wrk.txt"
}
pct() { awk -v q="$1" '$1 == q {print $2}' "$WORK/wrk.txt"; }
for page in $PAGES $API_PATHS; do
  url="http://127.0.0.1:$PORT$page"
  bytes=$(curl -s -H "$(auth_for "$page")" "$url" | wc -c)
  before=$(lab_counts)
  for _ in $(seq "$RENDERS"); do
    [ "$(status_of "$page")" = 200 ] || { echo "GET $page stopped answering 200" >&2; exit 1; }
  done
  after=$(lab_counts)
  per_render=$(calls_between "$before" "$after" "$RENDERS")
  wrk_run 1 5 "$url"
  single="p50 $(pct 50%), p99 $(pct 99%)"
  wrk_run "$CONNS" 3 "$url" # warm-up
  before=$(lab_counts)
  wrk_run "$CONNS" "$SECONDS_LOAD" "$url"
  after=$(lab_counts)
  requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
  bad=$(awk '/Non-2xx or 3xx/ {print $NF}' "$WORK/wrk.txt")
  errors=$(awk '/Socket errors/ {sub(/^ *Socket errors: */, ""); print}' "$WORK/wrk.txt")
  [ "$(status_of "$page")" = 200 ] || { echo "GET $page no longer answers 200 after the load" >&2; exit 1; }
  echo "-- GET $page ($((bytes / 1024)) KiB)"
  echo "   server render at $CONNS connections, ${SECONDS_LOAD} s: p50 $(pct 50%), p90 $(pct 90%), p99 $(pct 99%), $(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt") requests/s${bad:+, $bad non-2xx/3xx}${errors:+, socket errors: $errors}  (budget: p99 < 50 ms)"
  echo "   server render at 1 connection: $single"
  echo "   Proxmox calls per render (sequential, $RENDERS renders): $per_render"
  echo "   Proxmox calls per request under load ($requests requests): $(calls_between "$before" "$after" "${requests:-1}")"
done
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$KILN/status")
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$KILN/status")
echo "kiln serve RSS with $NODES nodes: $((rss_kb / 1024)) MiB now, $((hwm_kb / 1024)) MiB peak (budget < 60 MiB)"
