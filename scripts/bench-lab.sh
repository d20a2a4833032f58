#!/usr/bin/env bash
# Measures the lab's real containers (the LXC runtime) and prints the figures:
#   image build cold (a fresh cache; skip with BENCH_COLD_IMAGE=0) and warm (cached),
#   create -> running with a DHCP address, `pct exec true` round trip through sshd,
#   `apt-get install` of a small package with a cold and a warm package proxy.
# Called by `./kiln.sh bench` as root (KILN_BIN = the kiln binary). Everything it starts
# (a lab on a loopback port with its own bridge, an sshd on loopback) is stopped at the end.
set -euo pipefail

KILN_BIN="${KILN_BIN:?set KILN_BIN to the kiln binary}"
[ "$(id -u)" = 0 ] || { echo "lab benchmark: needs root (LXC); skipped"; exit 0; }
WORK="$(mktemp -d /tmp/kiln-bench-lab.XXXXXX)"
chmod 711 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
SSH_PORT=$(free_port)
LAB=""; SSHD=""
cleanup() {
  [ -n "$SSHD" ] && kill "$SSHD" 2>/dev/null
  if [ -n "$LAB" ]; then kill "$LAB" 2>/dev/null; wait "$LAB" 2>/dev/null || true; fi
  "$KILN_BIN" lab down --data-dir "$WORK/lab" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin)['data']; print($1)"; }

echo "== Kiln lab benchmark, LXC runtime ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"

if [ "${BENCH_COLD_IMAGE:-1}" = 1 ]; then
  t0=$(now_ms)
  KILN_LAB_IMAGE_DIR="$WORK/images" "$KILN_BIN" lab image build >/dev/null 2>"$WORK/image.log" \
    || { cat "$WORK/image.log" >&2; exit 1; }
  echo "image build, cold (debootstrap from the Debian archive): $(( $(now_ms) - t0 )) ms"
  rm -rf "$WORK/images"
fi
t0=$(now_ms)
"$KILN_BIN" lab image build >/dev/null 2>&1
echo "image build, warm (already in /var/cache/kiln/lab-images): $(( $(now_ms) - t0 )) ms"

# A lab whose package proxy starts with an empty cache.
KILN_LAB_PROXY_CACHE="$WORK/proxy-cache" RUST_LOG=warn "$KILN_BIN" lab --runtime lxc --speed 0 \
  --listen "127.0.0.1:$PORT" --data-dir "$WORK/lab" >"$WORK/lab.out" 2>"$WORK/lab.err" &
LAB=$!
for _ in $(seq 300); do grep -q "API token:" "$WORK/lab.out" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(awk '/API token:/ {print $3}' "$WORK/lab.out")
[ -n "$TOKEN" ] || { cat "$WORK/lab.err" >&2; echo "the lab did not start" >&2; exit 1; }
api() { local path=$1; shift; curl -sfk -H "Authorization: PVEAPIToken=$TOKEN" "https://127.0.0.1:$PORT/api2/json$path" "$@"; }
wait_task() { # upid
  local enc; enc=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")
  for _ in $(seq 1200); do
    local st; st=$(api "/nodes/pve/tasks/$enc/status" | json "d['status']+' '+d.get('exitstatus','')")
    case "$st" in "stopped OK") return 0 ;; stopped*) echo "task failed: $st" >&2; return 1 ;; esac
    sleep 0.05
  done
  echo "task timed out" >&2; return 1
}
create_running() { # vmid -> prints ms to running with an address
  local t0 upid; t0=$(now_ms)
  upid=$(api /nodes/pve/lxc -X POST --data-urlencode "vmid=$1" --data-urlencode "hostname=bench$1" \
    --data-urlencode "ostemplate=local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst" \
    --data-urlencode "rootfs=local-lvm:4" --data-urlencode "memory=512" --data-urlencode "unprivileged=1" \
    --data-urlencode "net0=name=eth0,bridge=vmbr0,ip=dhcp" --data-urlencode "start=1" | json d)
  wait_task "$upid"
  for _ in $(seq 600); do
    api "/nodes/pve/lxc/$1/interfaces" | json "[i for i in d if i['name']=='eth0' and 'inet' in i]" | grep -q inet && break
    sleep 0.05
  done
  echo $(( $(now_ms) - t0 ))
}
echo "container create -> running with a DHCP address: $(create_running 100) ms"

n=20; t0=$(now_ms)
for _ in $(seq $n); do KILN_LAB_DATA_DIR="$WORK/lab" "$KILN_BIN" lab pct exec 100 -- true; done
echo "kiln lab pct exec 100 -- true on the node itself (lxc-attach): $(( ($(now_ms) - t0) / n )) ms per call"

# pct through a private sshd, as Kiln reaches a node.
mkdir -p "$WORK/sshd/bin" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$WORK/sshd/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/sshd/client"
cp "$WORK/sshd/client.pub" "$WORK/sshd/authorized_keys"
printf '#!/bin/sh\nKILN_LAB_DATA_DIR=%s exec %s lab pct "$@"\n' "$WORK/lab" "$KILN_BIN" >"$WORK/sshd/bin/pct"
chmod 755 "$WORK/sshd/bin/pct"
cat >"$WORK/sshd/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $WORK/sshd/host_ed25519
PidFile $WORK/sshd/sshd.pid
AuthorizedKeysFile $WORK/sshd/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv PATH=$WORK/sshd/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CONF
/usr/sbin/sshd -D -e -f "$WORK/sshd/sshd_config" 2>"$WORK/sshd/log" &
SSHD=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null && break; sleep 0.05; done
SSH=(ssh -p "$SSH_PORT" -i "$WORK/sshd/client" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -o LogLevel=ERROR -o ControlMaster=auto -o "ControlPath=$WORK/sshd/mux" -o ControlPersist=60 root@127.0.0.1)
"${SSH[@]}" pct exec 100 -- true
n=20; t0=$(now_ms)
for _ in $(seq $n); do "${SSH[@]}" pct exec 100 -- true; done
echo "pct exec 100 -- true through sshd (one master connection, as Kiln): $(( ($(now_ms) - t0) / n )) ms per call"
"${SSH[@]}" -O exit 2>/dev/null || true

install() { # vmid
  local t0; t0=$(now_ms)
  # ssh joins its arguments into one line for the remote shell: quote the inner command once.
  "${SSH[@]}" "pct exec $1 -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null'" \
    || { echo "apt-get install failed in CT $1" >&2; exit 1; }
  echo $(( $(now_ms) - t0 ))
}
echo "apt-get update + install jq, cold proxy cache: $(install 100) ms"
create_running 101 >/dev/null
echo "apt-get update + install jq, warm proxy cache (another container): $(install 101) ms"
