#!/usr/bin/env bash
# End to end through the command line client only: against a running Kiln with its lab node
# (what `./kiln.sh up` starts: the lab is registered for the first administrator), sign in,
# create a container from a built-in template and follow it until it is ready, list its
# services, stop it, delete it, sign out — checking every exit code. Prints PASS or FAIL
# (exit 0 or 1).
#
#   KILN_E2E_PASSWORD=… scripts/e2e-cli.sh
#
# Environment:
#   KILN_E2E_PASSWORD  the user's password (required)
#   KILN_E2E_URL       the Kiln [http://127.0.0.1:8080]
#   KILN_E2E_USER      the user with the lab node [admin]
#   KILN_E2E_TEMPLATE  a built-in template that provisions quickly on the lab [nginx-web];
#                      empty: a plain OS container (a lab without real containers or SSH)
#   KILN_E2E_NODE      the node [lab]
#   KILN               the kiln binary [target/release/kiln, else target/debug/kiln, else PATH]
#
# The token and the configuration file live in a private directory that is removed at the
# end (the user's own ~/.config/kiln is not touched); KILN_URL / KILN_TOKEN are ignored.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac

if [ -n "${KILN:-}" ]; then BIN="$KILN"
elif [ -x "$TARGET_DIR/release/kiln" ]; then BIN="$TARGET_DIR/release/kiln"
elif [ -x "$TARGET_DIR/debug/kiln" ]; then BIN="$TARGET_DIR/debug/kiln"
else BIN="$(command -v kiln || true)"; fi

URL="${KILN_E2E_URL:-http://127.0.0.1:8080}"
USER_NAME="${KILN_E2E_USER:-admin}"
TEMPLATE="${KILN_E2E_TEMPLATE-nginx-web}"
NODE="${KILN_E2E_NODE:-lab}"
HOSTNAME_="e2e-cli-$(date +%s)-$$"

fail() { printf 'FAIL: %s\n' "$*"; exit 1; }
[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no kiln binary (build it, or set KILN)"
[ -n "${KILN_E2E_PASSWORD:-}" ] || fail "set KILN_E2E_PASSWORD (the password of $USER_NAME)"

WORK="$(mktemp -d)"
export XDG_CONFIG_HOME="$WORK/config" HOME="$WORK"
unset KILN_URL KILN_TOKEN
ID=""
SIGNED_IN=0

cleanup() {
  # A failure half-way: take the container and the token back (best effort, quietly).
  if [ -n "$ID" ]; then "$BIN" ct delete "$ID" --yes >/dev/null 2>&1 || true; fi
  if [ "$SIGNED_IN" = 1 ]; then "$BIN" api logout >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

STEP=0
OUT="$WORK/out"
# step WANTED_EXIT DESCRIPTION -- COMMAND...: runs it, shows its output, checks its exit code.
step() {
  local want=$1 what=$2; shift 3
  STEP=$((STEP + 1))
  printf '[e2e-cli] %2d. %s: %s\n' "$STEP" "$what" "$*"
  "$@" >"$OUT" 2>&1
  local got=$?
  sed 's/^/      /' "$OUT"
  [ "$got" = "$want" ] || fail "step $STEP ($what): exit $got, expected $want"
}

step 0 "sign in" -- sh -c 'printf "%s\n" "$KILN_E2E_PASSWORD" | "$0" api login "$1" --user "$2" --token-name "$3"' \
  "$BIN" "$URL" "$USER_NAME" "e2e-cli-$$"
SIGNED_IN=1
[ "$(stat -c %a "$XDG_CONFIG_HOME/kiln/cli.toml")" = 600 ] || fail "the configuration file is not mode 600"
step 0 "who am I" -- "$BIN" api whoami
step 0 "list containers" -- "$BIN" ct list
FROM=()
[ -n "$TEMPLATE" ] && FROM=(--template "$TEMPLATE")
step 0 "create ${TEMPLATE:-a plain container} on $NODE and wait" -- \
  "$BIN" ct create "${FROM[@]}" --node "$NODE" --hostname "$HOSTNAME_" --wait
ID="$(sed -n 's/^container \([0-9][0-9]*\) .*/\1/p' "$OUT" | head -n 1)"
[ -n "$ID" ] || fail "the creation did not say the container's id"
[ "$(tail -n 1 "$OUT")" = ready ] || fail "the creation did not end with 'ready'"
step 0 "show it" -- "$BIN" ct show "$ID"
grep -Eq '^status: +ready$' "$OUT" || fail "container $ID is not ready"
step 0 "its services" -- "$BIN" ct services "$ID"
step 0 "stop it" -- "$BIN" ct stop "$ID" --wait
step 0 "delete it" -- "$BIN" ct delete "$ID" --yes --wait
step 4 "it is gone" -- "$BIN" ct show "$ID"
ID=""
step 0 "sign out (revokes the token)" -- "$BIN" api logout
SIGNED_IN=0
[ ! -e "$XDG_CONFIG_HOME/kiln/cli.toml" ] || fail "the configuration file is still there"
step 3 "signed out" -- "$BIN" api whoami
printf 'PASS: %d steps against %s\n' "$STEP" "$URL"
