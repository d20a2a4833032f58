# Kiln's helper library for template scripts (bash).
#
# Kiln pushes this file into every container it provisions, as
# /usr/local/lib/kiln/helpers.sh (mode 644), and runs each template script with it sourced
# first (BASH_ENV), so the functions below are there without a `source` line. A script may
# also source it itself. Sourcing only defines functions: it prints nothing, changes no
# shell option, and every function works under `set -euo pipefail`.
#
#   log_info / log_warn / log_error MESSAGE...   "[HH:MM:SS] LEVEL: message" (UTC) on stderr
#   is_installed CMD                              CMD is a program on PATH
#   ensure_installed PKG...                       installs the missing ones (apt, apk or dnf)
#   wait_for_apt_lock [SECONDS]                   waits until no apt/dpkg holds its locks
#   generate_password [LENGTH]                    random letters and digits (default 16)
#   save_credential SERVICE KEY VALUE             KEY=VALUE in /etc/kiln/credentials/SERVICE.env
#
# Usage errors return 2, failures 1. Kiln merges a script's stderr into its output, so log
# lines reach the progress stream in order; they go to stderr so that `x="$(f)"` never
# captures them.

# ---- logging -------------------------------------------------------------------------------

_kiln_log() {
    local level=$1 now
    shift
    TZ=UTC0 printf -v now '%(%H:%M:%S)T' -1
    printf '[%s] %s: %s\n' "$now" "$level" "$*" >&2
}

log_info() { _kiln_log INFO "$@"; }
log_warn() { _kiln_log WARN "$@"; }
log_error() { _kiln_log ERROR "$@"; }

# ---- programs and packages -----------------------------------------------------------------

is_installed() {
    if (($# != 1)) || [[ -z $1 ]]; then
        log_error "is_installed: give one command name"
        return 2
    fi
    type -P -- "$1" >/dev/null 2>&1
}

# The files apt and dpkg lock (fcntl locks, listed in /proc/locks). Tests may point it
# elsewhere after sourcing.
_KILN_APT_LOCK_FILES=(
    /var/lib/dpkg/lock-frontend
    /var/lib/dpkg/lock
    /var/lib/apt/lists/lock
    /var/cache/apt/archives/lock
)

# True when a process holds a lock on one of the apt/dpkg lock files: /proc/locks names each
# locked file as MAJOR:MINOR:INODE of its file system (no fuser or lsof needed).
_kiln_apt_locked() {
    local file dev inode major minor id
    for file in "${_KILN_APT_LOCK_FILES[@]}"; do
        [[ -e $file ]] || continue
        read -r dev inode < <(stat -c '%d %i' -- "$file" 2>/dev/null) || continue
        major=$(((dev >> 8) & 0xfff | ((dev >> 32) & ~0xfff)))
        minor=$(((dev & 0xff) | ((dev >> 12) & ~0xff)))
        printf -v id '%02x:%02x:%s' "$major" "$minor" "$inode"
        if grep -q -- " $id " /proc/locks 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

wait_for_apt_lock() {
    local timeout=${1:-600} waited=0
    if [[ ! $timeout =~ ^[0-9]+$ ]]; then
        log_error "wait_for_apt_lock: the timeout is a number of seconds"
        return 2
    fi
    while _kiln_apt_locked; do
        if ((waited >= timeout)); then
            log_error "apt/dpkg is still locked by another process after ${timeout} s"
            return 1
        fi
        if ((waited % 30 == 0)); then
            log_info "waiting for another apt/dpkg run to finish"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    return 0
}

# apt, apk or dnf (yum counts as dnf); nothing when none is there.
_kiln_package_manager() {
    if type -P apt-get >/dev/null 2>&1; then
        printf 'apt\n'
    elif type -P apk >/dev/null 2>&1; then
        printf 'apk\n'
    elif type -P dnf >/dev/null 2>&1 || type -P yum >/dev/null 2>&1; then
        printf 'dnf\n'
    fi
}

_kiln_apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

ensure_installed() {
    local pkg manager
    local -a missing=()
    if (($# == 0)); then
        log_error "ensure_installed: name at least one package"
        return 2
    fi
    for pkg in "$@"; do
        # A name, optionally pinned (nginx, nodejs=24.*, libfoo1:amd64): never an option.
        if [[ ! $pkg =~ ^[A-Za-z0-9][A-Za-z0-9.+_:=~*-]*$ ]]; then
            log_error "ensure_installed: '$pkg' is not a package name"
            return 2
        fi
    done
    manager=$(_kiln_package_manager)
    case $manager in
    apt)
        for pkg in "$@"; do
            dpkg-query -W -f='${Status}' -- "${pkg%%=*}" 2>/dev/null | grep -q 'ok installed' ||
                missing+=("$pkg")
        done
        ((${#missing[@]})) || return 0
        wait_for_apt_lock || return 1
        log_info "installing ${missing[*]} (apt)"
        if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
            _kiln_apt_get update || return 1
        fi
        if ! _kiln_apt_get install --no-install-recommends -- "${missing[@]}"; then
            # Stale package lists are the usual cause: read them again, then try once more.
            log_warn "apt-get install failed; updating the package lists and trying again"
            wait_for_apt_lock || return 1
            _kiln_apt_get update || return 1
            _kiln_apt_get install --no-install-recommends -- "${missing[@]}" || return 1
        fi
        ;;
    apk)
        for pkg in "$@"; do
            apk info -e -- "${pkg%%=*}" >/dev/null 2>&1 || missing+=("$pkg")
        done
        ((${#missing[@]})) || return 0
        log_info "installing ${missing[*]} (apk)"
        apk add --no-cache -- "${missing[@]}" || return 1
        ;;
    dnf)
        for pkg in "$@"; do
            rpm -q -- "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
        done
        ((${#missing[@]})) || return 0
        log_info "installing ${missing[*]} (dnf)"
        if type -P dnf >/dev/null 2>&1; then
            dnf install -y -- "${missing[@]}" || return 1
        else
            yum install -y -- "${missing[@]}" || return 1
        fi
        ;;
    *)
        log_error "ensure_installed: no package manager found (apt-get, apk or dnf)"
        return 1
        ;;
    esac
    return 0
}

# ---- secrets -------------------------------------------------------------------------------

generate_password() {
    local length=${1:-16} out="" chunk
    if [[ ! $length =~ ^[0-9]+$ ]] || ((length < 8 || length > 1024)); then
        log_error "generate_password: the length is a number from 8 to 1024"
        return 2
    fi
    # Finite reads (no SIGPIPE under pipefail), filtered to letters and digits.
    while ((${#out} < length)); do
        chunk=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9') || return 1
        out+=$chunk
    done
    printf '%s\n' "${out:0:length}"
}

# The folder Kiln's service discovery reads (root only).
_KILN_CREDENTIALS_DIR=/etc/kiln/credentials

save_credential() {
    local service key value dir file tmp line found=""
    if (($# != 3)); then
        log_error "save_credential: usage: save_credential SERVICE KEY VALUE"
        return 2
    fi
    service=$1 key=$2 value=$3
    # The same rules as Kiln's discovery: a file name of its own, an environment-style key.
    if [[ ! $service =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]]; then
        log_error "save_credential: the service name may hold letters, digits, '.', '_' and '-' (at most 64, a letter or digit first)"
        return 2
    fi
    if [[ ! $key =~ ^[A-Za-z_][A-Za-z0-9_]{0,63}$ ]]; then
        log_error "save_credential: the key may hold letters, digits and '_' (at most 64, not a digit first)"
        return 2
    fi
    if [[ $value == *$'\n'* || $value == *$'\r'* ]]; then
        log_error "save_credential: the value of $service/$key is one line"
        return 2
    fi
    if ((${#value} > 4096)); then
        log_error "save_credential: the value of $service/$key is longer than 4096 characters"
        return 2
    fi
    dir=$_KILN_CREDENTIALS_DIR
    file="$dir/$service.env"
    if [[ -L $dir || -L $file ]]; then
        log_error "save_credential: $dir or $file is a symbolic link; not written"
        return 1
    fi
    (umask 077 && mkdir -p -- "$dir") || return 1
    chmod 700 -- "$dir" || return 1
    tmp=$(umask 077 && mktemp -- "$dir/.$service.env.XXXXXX") || return 1
    # The key's line is replaced where it is (later duplicates dropped); a new key is appended.
    if [[ -f $file ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            if [[ $line == "$key="* ]]; then
                [[ -n $found ]] || printf '%s=%s\n' "$key" "$value"
                found=1
            else
                printf '%s\n' "$line"
            fi
        done <"$file" >"$tmp" || {
            rm -f -- "$tmp"
            return 1
        }
    fi
    if [[ -z $found ]]; then
        printf '%s=%s\n' "$key" "$value" >>"$tmp" || {
            rm -f -- "$tmp"
            return 1
        }
    fi
    chmod 600 -- "$tmp" && mv -f -- "$tmp" "$file" || {
        rm -f -- "$tmp"
        return 1
    }
}
