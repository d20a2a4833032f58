#!/usr/bin/env bash
# Measures container creation at scale against the lab and prints the figures:
#   100 creations submitted at once (server function `create_container`, one signed-in user,
#   one lab node with the scratch runtime at --speed 0): all finished?, VMID collisions,
#   Kiln's own overhead per container beyond the node's work, Kiln's CPU per container,
#   idle and peak RSS of `kiln serve`.
# "The node's work" is measured first by a minimal client (no Kiln) doing the same Proxmox
# calls for the same number of containers at the same concurrency as Kiln's per-node limit
# (2): create + wait, start + wait, wait for eth0's address — polling every 5 ms. Kiln's
# overhead per container = (Kiln's time per container − that baseline's), per node slot:
# wall time × 2 / N for both. The per-job durations Kiln logs (claim → end) are shown too.
# Called by `./kiln.sh bench` (KILN_BIN = the release kiln binary, TEST_DATABASE_URL and
# TEST_REDIS_URL). Everything it starts listens on loopback and is stopped at the end; the
# schema and Redis keys it made are removed. BENCH_CREATE_N changes the count.
set -euo pipefail

KILN_BIN="${KILN_BIN:?set KILN_BIN to the release kiln binary}"
PG="${TEST_DATABASE_URL:?}"
REDIS="${TEST_REDIS_URL:?}"
N="${BENCH_CREATE_N:-100}"
SLOTS=2 # Kiln's per-node limit of running jobs (jobs::Options::default().per_node)
WORK="$(mktemp -d /tmp/kiln-bench-create.XXXXXX)"
chmod 711 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
LAB_PORT=$(free_port)
PORT=$(free_port)
SCHEMA="kiln_bench_create_$$"
PREFIX="kiln-bench-create-$$:"
LAB=""; KILN=""
cleanup() {
  [ -n "$KILN" ] && { kill "$KILN" 2>/dev/null; wait "$KILN" 2>/dev/null || true; }
  [ -n "$LAB" ] && { kill "$LAB" 2>/dev/null; wait "$LAB" 2>/dev/null || true; }
  psql -qX "$PG" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" 2>/dev/null \
    | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }

echo "== Kiln creation benchmark: $N creations at once, lab scratch runtime at speed 0 ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"

# The lab node.
TOKEN="root@pam!kiln=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
RUST_LOG=warn "$KILN_BIN" lab --runtime scratch --speed 0 --listen "127.0.0.1:$LAB_PORT" \
  --data-dir "$WORK/lab" --token "$TOKEN" >"$WORK/lab.out" 2>"$WORK/lab.err" &
LAB=$!
FINGERPRINT=""
for _ in $(seq 300); do
  FINGERPRINT="$(awk '/fingerprint:/ {print $2; exit}' "$WORK/lab.out" 2>/dev/null)"
  [ -n "$FINGERPRINT" ] && break
  sleep 0.1
done
[ -n "$FINGERPRINT" ] || { cat "$WORK/lab.err" >&2; echo "the lab did not start" >&2; exit 1; }

# The baseline: the node's work without Kiln (VMIDs 5000.., left on the node, so Kiln's run
# sees a node with N more guests than the baseline did).
BASE_MS=$(python3 - "$LAB_PORT" "$TOKEN" "$N" "$SLOTS" <<'PY'
import http.client, json, ssl, sys, threading, time, urllib.parse
port, token, n, slots = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # our own lab on loopback; only the baseline's client
head = {"Authorization": "PVEAPIToken=" + token}
def call(conn, method, path, params=None):
    body = urllib.parse.urlencode(params or {})
    h = dict(head)
    if method == "POST":
        h["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, "/api2/json" + path, body=body if method == "POST" else None, headers=h)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{method} {path}: {r.status} {r.reason}")
    return json.loads(data)["data"]
def wait(conn, upid):
    path = "/nodes/pve/tasks/" + urllib.parse.quote(upid, safe="") + "/status"
    while True:
        st = call(conn, "GET", path)
        if st["status"] == "stopped":
            if st.get("exitstatus") != "OK":
                raise RuntimeError(st)
            return
        time.sleep(0.005)
def one(conn, vmid):
    wait(conn, call(conn, "POST", "/nodes/pve/lxc", {
        "vmid": vmid, "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "hostname": f"base{vmid}", "cores": 1, "memory": 256, "swap": 0, "rootfs": "local-lvm:4",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "unprivileged": 1, "tags": "kiln;web",
        "password": "bench-password-1", "start": 0, "onboot": 0, "description": "baseline"}))
    wait(conn, call(conn, "POST", f"/nodes/pve/lxc/{vmid}/status/start"))
    while not any(i.get("name") == "eth0" and i.get("inet") for i in call(conn, "GET", f"/nodes/pve/lxc/{vmid}/interfaces")):
        time.sleep(0.005)
queue = list(range(5000, 5000 + n))
lock = threading.Lock()
errors = []
def worker():
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    while True:
        with lock:
            if not queue:
                return
            vmid = queue.pop(0)
        try:
            one(conn, vmid)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{vmid}: {e}")
t0 = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(slots)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    print("baseline errors:", errors[:3], file=sys.stderr)
    sys.exit(1)
print(round((time.monotonic() - t0) * 1000))
PY
)

# Kiln, on a fresh schema, with the lab registered for the first administrator.
psql -qX "$PG" -c "CREATE SCHEMA $SCHEMA" >/dev/null
DB_URL="${PG}?options=-c%20search_path%3D${SCHEMA}"
env DATABASE_URL="$DB_URL" REDIS_URL="$REDIS" KILN_REDIS_PREFIX="$PREFIX" \
  KILN_LAB_NODE="127.0.0.1:$LAB_PORT" KILN_LAB_TOKEN="$TOKEN" KILN_LAB_FINGERPRINT="$FINGERPRINT" \
  KILN_LOG_FORMAT=json RUST_LOG="warn,kiln_server::jobs::worker=info" \
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
q() { psql -qtAX "$DB_URL" -c "$1"; }
NODE_ID=""
for _ in $(seq 100); do NODE_ID=$(q "SELECT id FROM nodes LIMIT 1"); [ -n "$NODE_ID" ] && break; sleep 0.1; done
[ -n "$NODE_ID" ] || { echo "the lab node was not registered" >&2; exit 1; }

sleep 1
stat_cpu() { awk '{print $14 + $15}' "/proc/$KILN/stat"; }
TICK=$(getconf CLK_TCK)
RSS_IDLE=$(awk '/^VmRSS/ {print $2}' "/proc/$KILN/status")
CPU0=$(stat_cpu)
T0=$(now_ms)
python3 - "$PORT" "$COOKIE" "$NODE_ID" "$N" <<'PY'
import http.client, json, sys, threading
port, cookie, node, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def request(i):
    return {"request": {
        "template": None, "node_id": node, "hostname": f"bench-{i}", "vmid": None,
        "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "storage": "local-lvm", "disk_gib": 4, "cores": 1, "memory_mib": 256, "swap_mib": 0,
        "bridge": "vmbr0", "ipv4": {"mode": "dhcp"}, "nameserver": None, "unprivileged": True,
        "nesting": False, "keyctl": False, "fuse": False, "onboot": False, "tags": ["web"],
        "root_password": "bench-password-1", "ssh_public_keys": None, "buckets_off": [],
        "packages_added": [], "packages_removed": [], "scripts_skipped": []}}
bad = []
def submit(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/fn/create_container", body=json.dumps(request(i)), headers={
        "Content-Type": "application/json", "Accept": "application/json",
        "Sec-Fetch-Site": "same-origin", "Cookie": "kiln_session=" + cookie})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        bad.append(f"{r.status} {body[:200]!r}")
threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
if bad:
    print("refused:", len(bad), bad[:3], file=sys.stderr)
    sys.exit(1)
PY
SUBMIT_MS=$(( $(now_ms) - T0 ))
DONE=0
for _ in $(seq 12000); do
  DONE=$(q "SELECT count(*) FROM containers WHERE status IN ('ready', 'failed')")
  [ "$DONE" -ge "$N" ] && break
  sleep 0.05
done
WALL_MS=$(( $(now_ms) - T0 ))
CPU1=$(stat_cpu)
RSS_PEAK=$(awk '/^VmHWM/ {print $2}' "/proc/$KILN/status")

READY=$(q "SELECT count(*) FROM containers WHERE status = 'ready'")
FAILED=$(q "SELECT count(*) FROM containers WHERE status = 'failed'")
SHARED_VMIDS=$(q "SELECT count(vmid) - count(DISTINCT vmid) FROM containers")
RETRIES=$(q "SELECT count(*) FROM container_events WHERE text LIKE '%is taken on the node%' OR text LIKE '%taken on the node meanwhile%'")
KILN_VMIDS=$(q "SELECT string_agg(vmid::text, ',' ORDER BY vmid) FROM containers")
ERRORS=$(q "SELECT string_agg(DISTINCT error, ' | ') FROM containers WHERE status = 'failed'")
# On the node: every Kiln VMID once, nothing else of Kiln's.
NODE_CHECK=$(python3 - "$LAB_PORT" "$TOKEN" "$KILN_VMIDS" <<'PY'
import http.client, json, ssl, sys
port, token, kiln = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
c.request("GET", "/api2/json/nodes/pve/lxc", headers={"Authorization": "PVEAPIToken=" + token})
ids = [int(ct["vmid"]) for ct in json.loads(c.getresponse().read())["data"]]
ours = sorted(i for i in ids if not 5000 <= i < 10000)
want = sorted(int(v) for v in kiln.split(",") if v)
print("ok" if ours == want and len(set(ids)) == len(ids) else f"MISMATCH node={ours} kiln={want}")
PY
)
JOBS=$(python3 - "$WORK/kiln.log" <<'PY'
import json, statistics, sys
d = []
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("message") == "job run ended" and "duration_ms" in e:
        d.append(int(e["duration_ms"]))
if d:
    d.sort()
    p = lambda q: d[min(len(d) - 1, int(q * len(d)))]
    print(f"{len(d)} runs: median {p(0.5)} ms, p95 {p(0.95)} ms, max {d[-1]} ms")
else:
    print("no job durations logged")
PY
)

base_per=$(( BASE_MS * SLOTS / N ))
kiln_per=$(( WALL_MS * SLOTS / N ))
cpu_ms=$(( (CPU1 - CPU0) * 1000 / TICK ))
echo "baseline (no Kiln, $SLOTS at a time, 5 ms polling): $N containers in $BASE_MS ms = ${base_per} ms per container per slot"
echo "Kiln: $N submitted in $SUBMIT_MS ms; all finished after $WALL_MS ms: $READY ready, $FAILED failed${ERRORS:+ ($ERRORS)}"
echo "Kiln time per container per slot: ${kiln_per} ms; job runs (claim -> end): $JOBS"
echo "Kiln's own overhead per container beyond the node's work: $(( kiln_per - base_per )) ms  (budget < 50 ms)"
echo "Kiln CPU: ${cpu_ms} ms in all, $(( cpu_ms / N )) ms per container"
echo "VMID collisions: $SHARED_VMIDS shared among Kiln's rows; node vs Kiln: $NODE_CHECK; VMIDs retried after the node said taken: $RETRIES  (must be 0 collisions)"
echo "kiln serve RSS: idle $((RSS_IDLE / 1024)) MiB, peak $((RSS_PEAK / 1024)) MiB (VmHWM)"
if [ -n "${BENCH_CREATE_TRACE:-}" ]; then
  echo "-- one creation's events (ms since the previous one):"
  q "SELECT lpad(seq::text, 3) || '  +' || lpad(round(extract(epoch FROM at - lag(at) OVER (ORDER BY seq)) * 1000)::text, 4)
            || ' ms  ' || phase || '/' || kind || '  ' || left(text, 70)
     FROM container_events WHERE container_id = (SELECT min(id) FROM containers) ORDER BY seq"
fi
