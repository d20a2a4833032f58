#!/usr/bin/env bash
# Kiln's one entry point for people and CI.
#
#   ./kiln.sh up      install what is missing, build the release binary, start Kiln on
#                     http://127.0.0.1:8080 with its data in one directory
#   ./kiln.sh test    the whole suite: fmt, clippy (ssr + hydrate), unit, integration and
#                     browser tests against real PostgreSQL, Redis and Chromium
#   ./kiln.sh build   the release binary only (target/release/kiln, assets embedded)
#   ./kiln.sh package the release binary as a Debian package (target/release/kiln_<v>_<arch>.deb:
#                     kiln.service, /etc/kiln/kiln.toml, the `kiln` system user)
#   ./kiln.sh bench   build, then measure start-up, memory, bundle size, SSR throughput,
#                     100 container creations at once against the lab, the dashboard
#                     with 1,000 containers on 10 lab nodes and the resource history
#                     (1,000 guests polled every 10 s, 30 days of rollups)
#   ./kiln.sh setup   only install the tools (Debian packages, wasm32 target, trunk, ...)
#
# Everything comes from Debian's packages and crates.io; nothing else is downloaded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export PATH="$HOME/.cargo/bin:$PATH"

TRUNK_VERSION=0.21.14
WASM_OPT_VERSION=0.116.1

say() { printf '\033[1;33m[kiln]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[kiln] error:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

# --- tools -------------------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The wasm-bindgen version the lockfile pins (the CLI must match it exactly).
locked_wasm_bindgen() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

cargo_install() { # name version [--locked]
  local name=$1 version=$2; shift 2
  say "installing $name $version from crates.io (a few minutes, once)"
  cargo install "$name" --version "$version" "$@" --quiet
}

setup_tools() {
  apt_install ca-certificates gcc g++ libc6-dev pkg-config postgresql redis-server procps openssh-client sshpass
  command -v rustup >/dev/null || die "rustup is required (the Rust toolchain)"
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
  rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

  local wb; wb="$(locked_wasm_bindgen)"
  [ -n "$wb" ] || die "no wasm-bindgen in Cargo.lock"
  grep -q "^wasm_bindgen = \"$wb\"" Trunk.toml || die "Trunk.toml pins a different wasm-bindgen than Cargo.lock ($wb)"
  [ "$(trunk --version 2>/dev/null)" = "trunk $TRUNK_VERSION" ] || cargo_install trunk "$TRUNK_VERSION" --locked
  # wasm-bindgen-cli's own lockfile names a yanked crate: install without --locked.
  [ "$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $wb" ] || cargo_install wasm-bindgen-cli "$wb"
  # Debian's binaryen is too old (the optimised module fails to hydrate): use crates.io's.
  wasm-opt --version 2>/dev/null | grep -q "version ${WASM_OPT_VERSION#0.}" || \
    wasm-opt --version 2>/dev/null | grep -q "version 116" || cargo_install wasm-opt "$WASM_OPT_VERSION" --locked
}

# The lab's real containers: LXC, the image builder, its DHCP server and package proxy, and
# the id range PVE maps unprivileged containers to.
setup_lab_tools() {
  local had_acng=1 had_sshd=1
  dpkg-query -W -f='${Status}' apt-cacher-ng 2>/dev/null | grep -q "install ok installed" || had_acng=0
  dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q "install ok installed" || had_sshd=0
  # openssh-server: the lab node's own sshd (pct over SSH, as on Proxmox VE).
  apt_install lxc debootstrap dnsmasq-base apt-cacher-ng uidmap zstd iproute2 util-linux openssh-server openssh-client
  # Debian starts apt-cacher-ng as a service on 0.0.0.0:3142 where it can; the lab runs its own
  # on each lab's bridge address and needs the port.
  if [ "$had_acng" = 0 ] && command -v systemctl >/dev/null && systemctl is-active --quiet apt-cacher-ng 2>/dev/null; then
    say "disabling the apt-cacher-ng service the package started (the lab runs its own)"
    as_root systemctl disable --now apt-cacher-ng >/dev/null 2>&1 || true
  fi
  # Likewise the machine's sshd on port 22, which this machine did not run before: the lab
  # runs a private one on loopback.
  if [ "$had_sshd" = 0 ] && command -v systemctl >/dev/null && systemctl is-active --quiet ssh 2>/dev/null; then
    say "disabling the ssh service the openssh-server package started (the lab runs its own sshd on loopback)"
    as_root systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  fi
  local f
  for f in /etc/subuid /etc/subgid; do
    if ! awk -F: '$1 == "root" && $2 <= 100000 && $2 + $3 >= 165536 { found = 1 } END { exit !found }' "$f" 2>/dev/null; then
      say "giving root the ids 100000-165535 in $f (unprivileged lab containers, as on Proxmox VE)"
      echo 'root:100000:65536' | as_root tee -a "$f" >/dev/null
    fi
  done
}

# The lab's Debian image (built once per machine, kept in /var/cache/kiln/lab-images).
lab_image() { # kiln binary
  [ "$(id -u)" = 0 ] || return 0
  "$1" lab image build >/dev/null || die "could not build the lab's Debian image"
}

setup_test_tools() {
  apt_install chromium chromium-driver
  # The SSH tests: a private sshd, Kiln's ssh client side, and the lab's container sandbox.
  apt_install openssh-server openssh-client sshpass bubblewrap
  # The lab network's tests: a DHCP client (busybox udhcpc) and curl through the proxy.
  apt_install busybox curl
  setup_lab_tools
}

# --- building ----------------------------------------------------------------------------

# Cargo names a workspace crate's build without the checkout's path, so a build directory
# shared by two checkouts (CI's clean clones and `CARGO_TARGET_DIR`) would take the crates
# built from the other checkout for fresh while that one's files are unchanged. When the
# build directory was last used by another checkout, forget its Kiln crates (dependencies
# stay built).
claim_target_dir() {
  mkdir -p "$TARGET_DIR"
  local stamp="$TARGET_DIR/.kiln-checkout"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$ROOT" ]; then
    find "$TARGET_DIR" -maxdepth 4 -type d -path '*/.fingerprint/kiln-*' -exec rm -rf {} +
    printf '%s\n' "$ROOT" >"$stamp"
  fi
}

build_frontend() { # [--release]
  say "building the browser bundle (trunk ${1:-})"
  cargo fetch --quiet
  claim_target_dir
  rm -rf target/site/pkg
  trunk build ${1:-} >/dev/null 2>"$TARGET_DIR/trunk.log" || { cat "$TARGET_DIR/trunk.log" >&2; die "trunk build failed"; }
}

build_release() {
  build_frontend --release
  say "building the release server (assets embedded)"
  cargo build --release --locked -p kiln-server
}

# --- the Debian package ------------------------------------------------------------------

# The workspace's version (Cargo.toml, [workspace.package]).
workspace_version() {
  awk '/^\[workspace.package\]/ { p = 1; next } /^\[/ { p = 0 } p && /^version *=/ { gsub(/.*= *"|".*/, ""); print; exit }' Cargo.toml
}

# `libc6 (>= <newest GLIBC symbol version>), libgcc-s1` for the libraries the binary links;
# anything else it links is refused (the package would not say it needs it).
shlib_depends() { # binary
  local lib
  for lib in $(objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }'); do
    case "$lib" in
      libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|librt.so.1|ld-linux-*) ;;
      libgcc_s.so.1) ;;
      *) die "$1 links $lib, which the package does not depend on (packaging/debian/control.in)" ;;
    esac
  done
  local glibc; glibc="$(objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)"
  [ -n "$glibc" ] || die "cannot tell which glibc $1 needs"
  printf 'libc6 (>= %s), libgcc-s1' "$glibc"
}

# Stages packaging/debian/ around BINARY and builds OUT_DIR/kiln_<version>_<arch>.deb with
# Debian's own dpkg-deb; sets PACKAGE_DEB to the package's path. `--fast`: no compression (the test suite's
# debug package).
package_deb() { # binary out_dir [--fast]
  local bin=$1 out=$2 compress=(-Zxz)
  [ "${3:-}" = --fast ] && compress=(-Znone)
  [ -x "$bin" ] || die "no binary at $bin to package"
  local version arch src="$ROOT/packaging/debian"
  version="$(workspace_version)"; arch="$(dpkg --print-architecture)"
  [ -n "$version" ] || die "no version in Cargo.toml's [workspace.package]"
  local stage="$TARGET_DIR/deb-stage" deb="$out/kiln_${version}_${arch}.deb"
  rm -rf "$stage"
  install -D -m 0755 "$bin" "$stage/usr/bin/kiln"
  install -D -m 0644 "$src/kiln.service" "$stage/lib/systemd/system/kiln.service"
  install -D -m 0644 "$src/kiln.toml" "$stage/etc/kiln/kiln.toml"
  install -D -m 0644 "$ROOT/README.md" "$stage/usr/share/doc/kiln/README.md"
  install -D -m 0644 "$src/copyright" "$stage/usr/share/doc/kiln/copyright"
  install -d -m 0755 "$stage/DEBIAN"
  install -m 0644 "$src/conffiles" "$stage/DEBIAN/conffiles"
  install -m 0755 "$src/postinst" "$src/prerm" "$src/postrm" "$stage/DEBIAN/"
  local size depends
  size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
  depends="$(shlib_depends "$bin")"
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" \
    -e "s/@SHLIB_DEPENDS@/$depends/" "$src/control.in" >"$stage/DEBIAN/control"
  (cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
  mkdir -p "$out"
  dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
  rm -rf "$stage"
  PACKAGE_DEB="$deb"
}

cmd_package() { # [--debug]
  if [ "${1:-}" = --debug ]; then
    # For the tests only: a debug build reads its browser assets from target/site/pkg at run
    # time (rust-embed embeds them in release builds only).
    build_frontend --release
    cargo build --locked -p kiln-server
    package_deb "$TARGET_DIR/debug/kiln" "$TARGET_DIR/debug" --fast
  else
    setup_tools
    build_release
    package_deb "$TARGET_DIR/release/kiln" "$TARGET_DIR/release"
  fi
  say "built $PACKAGE_DEB (install: apt install $PACKAGE_DEB)"
}

# --- services for tests ------------------------------------------------------------------

# Uses the machine's PostgreSQL and Redis (trust auth, database `test`), starting them when
# they are not running; where that is not possible (a machine without trust auth), starts
# throwaway private servers and points the tests at them.
ensure_test_services() {
  mkdir -p "$TARGET_DIR"
  if ! pg_ok "postgres://postgres@127.0.0.1:5432/test"; then
    if ls /etc/postgresql/*/main >/dev/null 2>&1; then
      say "starting the machine's PostgreSQL"
      as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start 2>/dev/null || true
      for _ in $(seq 50); do pg_ok "postgres://postgres@127.0.0.1:5432/postgres" && break; sleep 0.2; done
      pg_ok "postgres://postgres@127.0.0.1:5432/postgres" && ! pg_ok "postgres://postgres@127.0.0.1:5432/test" && \
        psql -qX "postgres://postgres@127.0.0.1:5432/postgres" -c 'CREATE DATABASE test' >/dev/null 2>&1 || true
    fi
  fi
  if pg_ok "postgres://postgres@127.0.0.1:5432/test"; then
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
  else
    start_private_test_postgres
  fi
  if redis_ok 6379; then
    export TEST_REDIS_URL="redis://127.0.0.1:6379"
  else
    say "starting the machine's Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
    for _ in $(seq 50); do redis_ok 6379 && break; sleep 0.1; done
    if redis_ok 6379; then export TEST_REDIS_URL="redis://127.0.0.1:6379"; else
      redis-server --daemonize yes --bind 127.0.0.1 --port 56379 --save "" --appendonly no \
        --dir /tmp --logfile "$TARGET_DIR/test-redis.log"
      for _ in $(seq 50); do redis_ok 56379 && break; sleep 0.1; done
      redis_ok 56379 || die "could not start a Redis for the tests"
      export TEST_REDIS_URL="redis://127.0.0.1:56379"
    fi
  fi
  say "tests use PostgreSQL ${TEST_DATABASE_URL%%\?*} and Redis $TEST_REDIS_URL"
}

pg_ok() { psql -qtAX "$1" -c 'select 1' >/dev/null 2>&1; }
redis_ok() { [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }

start_private_test_postgres() {
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  local dir=/tmp/kiln-test-pg
  say "starting a throwaway PostgreSQL on 127.0.0.1:55432 for the tests"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_root mkdir -p "$dir" && as_root chown postgres: "$dir"
    as_root runuser -u postgres -- "$bin/initdb" -D "$dir" -U postgres --auth=trust --no-sync >/dev/null
  fi
  as_root runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -o "-p 55432 -k /tmp -c listen_addresses=127.0.0.1" \
    -l "$dir/log" start >/dev/null 2>&1 || true
  for _ in $(seq 50); do pg_ok "postgres://postgres@127.0.0.1:55432/postgres" && break; sleep 0.2; done
  pg_ok "postgres://postgres@127.0.0.1:55432/test" || \
    psql -qX "postgres://postgres@127.0.0.1:55432/postgres" -c 'CREATE DATABASE test' >/dev/null
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:55432/test"
}

# --- commands ----------------------------------------------------------------------------

# The value the lab printed on its line `  LABEL value` (the first such line), or nothing.
lab_value() { # label log
  awk -v label="$1" '{ sub(/^[ \t]+/, "") } index($0, label) == 1 { sub(label "[ \t]*", ""); print; exit }' "$2" 2>/dev/null
}

cmd_up() {
  setup_tools
  setup_lab_tools
  build_release
  local data="${KILN_DATA_DIR:-}"
  if [ -z "$data" ]; then
    # The private PostgreSQL runs as `postgres` when we are root and cannot enter /root.
    if [ "$(id -u)" = 0 ]; then data=/var/lib/kiln; else data="$ROOT/.kiln"; fi
  fi
  mkdir -p "$data" && chmod 711 "$data"
  local bin="$TARGET_DIR/release/kiln"
  lab_image "$bin"

  # The lab node: a Proxmox VE API beside Kiln whose containers are real LXC containers (or
  # simulated ones where this machine cannot run LXC; the lab says why), with its own sshd for
  # `pct` as a PVE node has (root only). Its token is kept (mode 600), and its host key in its
  # data directory, so the node stays registered and its SSH pinned across restarts.
  local lab_port="${KILN_LAB_PORT:-8006}" lab_ssh_port="${KILN_LAB_SSH_PORT:-8022}" token_file="$data/lab-token"
  if [ ! -s "$token_file" ]; then
    (umask 077; printf 'root@pam!kiln=%s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" >"$token_file")
  fi
  local token; token="$(cat "$token_file")"
  local ssh_args=()
  [ "$(id -u)" = 0 ] && ssh_args=(--ssh-listen "127.0.0.1:$lab_ssh_port")
  "$bin" lab --listen "127.0.0.1:$lab_port" "${ssh_args[@]}" --data-dir "$data/lab" --token "$token" >"$data/lab.log" 2>&1 &
  local lab_pid=$!
  trap 'kill "$lab_pid" 2>/dev/null; wait "$lab_pid" 2>/dev/null' EXIT
  local fingerprint=""
  for _ in $(seq 300); do
    fingerprint="$(lab_value 'fingerprint:' "$data/lab.log")"
    [ -n "$fingerprint" ] && break
    kill -0 "$lab_pid" 2>/dev/null || { cat "$data/lab.log" >&2; die "the lab node did not start"; }
    sleep 0.1
  done
  [ -n "$fingerprint" ] || die "the lab node did not report its certificate"
  # Its SSH (printed before the fingerprint): Kiln authorizes the node's key in the lab's
  # authorized_keys and pins this host key when it registers the node.
  local lab_ssh lab_host_key lab_keys
  lab_ssh="$(lab_value 'SSH:' "$data/lab.log" | awk '{print $1}')"
  lab_host_key="$(lab_value 'SSH host key:' "$data/lab.log")"
  lab_keys="$(lab_value 'authorized_keys:' "$data/lab.log")"
  local lab_env=(KILN_LAB_NODE="127.0.0.1:$lab_port" KILN_LAB_TOKEN="$token" KILN_LAB_FINGERPRINT="$fingerprint")
  if [ -n "$lab_ssh" ] && [ "$lab_ssh" != off ] && [ -n "$lab_host_key" ] && [ -n "$lab_keys" ]; then
    lab_env+=(KILN_LAB_SSH="$lab_ssh" KILN_LAB_SSH_HOST_KEY="$lab_host_key" KILN_LAB_AUTHORIZED_KEYS="$lab_keys")
    say "lab node (Proxmox VE API, real LXC containers where this machine can) on https://127.0.0.1:$lab_port, SSH for pct on $lab_ssh — registered for the first administrator, SSH included"
  else
    say "lab node (Proxmox VE API) on https://127.0.0.1:$lab_port — registered for the first administrator, WITHOUT SSH: $(grep -m1 'no SSH' "$data/lab.log" || echo 'see '"$data/lab.log") (containers cannot be provisioned on it)"
  fi
  say "starting Kiln on http://${KILN_LISTEN:-127.0.0.1:8080} (data in $data; Ctrl-C stops it)"
  env "${lab_env[@]}" "$bin" serve --data-dir "$data" &
  local kiln_pid=$!
  trap 'kill "$kiln_pid" "$lab_pid" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
  wait "$kiln_pid"
}

cmd_test() {
  local started=$SECONDS
  setup_tools
  setup_test_tools
  ensure_test_services
  claim_target_dir
  say "cargo fmt --check"
  cargo fmt --all -- --check
  say "clippy (ssr, native)"
  cargo clippy --locked --workspace --all-targets -- -D warnings
  say "clippy (hydrate, wasm32)"
  cargo clippy --locked -p kiln-frontend -p kiln-app --features kiln-app/hydrate --target wasm32-unknown-unknown -- -D warnings
  build_frontend --release
  say "building the server used by the browser tests"
  cargo build --locked -p kiln-server
  lab_image "$TARGET_DIR/debug/kiln"
  say "packaging the debug build (for the package test)"
  package_deb "$TARGET_DIR/debug/kiln" "$TARGET_DIR/debug" --fast
  export KILN_DEB="$PACKAGE_DEB"
  say "unit, integration and browser tests"
  cargo test --locked --workspace --no-fail-fast
  say "all checks passed in $((SECONDS - started)) s"
}

cmd_bench() {
  setup_tools
  apt_install wrk curl
  build_release
  ensure_test_services
  KILN_BIN="$TARGET_DIR/release/kiln" bash "$ROOT/scripts/bench.sh"
  KILN_BIN="$TARGET_DIR/release/kiln" bash "$ROOT/scripts/bench-create.sh"
  KILN_BIN="$TARGET_DIR/release/kiln" bash "$ROOT/scripts/bench-dashboard.sh"
  say "the REST API's container list: 1,000 of Kiln's containers on 10 lab nodes"
  BENCH_DASHBOARD_MANAGED=100 BENCH_DASHBOARD_PAGES="" \
    BENCH_DASHBOARD_API="/api/v1/containers /api/v1/containers?limit=1000" \
    KILN_BIN="$TARGET_DIR/release/kiln" bash "$ROOT/scripts/bench-dashboard.sh"
  say "the resource history (BENCH_METRICS_GUESTS=1000 for 30 days of all 1,000 guests)"
  cargo bench --locked -p kiln-server --bench metrics
  setup_lab_tools
  KILN_BIN="$TARGET_DIR/release/kiln" bash "$ROOT/scripts/bench-lab.sh"
}

case "${1:-}" in
  up) cmd_up ;;
  test) cmd_test ;;
  build) setup_tools; build_release; say "built $TARGET_DIR/release/kiln" ;;
  package) shift; cmd_package "$@" ;;
  bench) cmd_bench ;;
  setup) setup_tools; setup_test_tools ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
