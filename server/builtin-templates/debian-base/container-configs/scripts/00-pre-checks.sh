#!/usr/bin/env bash
# Refuse to set up anything but Debian; warn on a release other than 12.
set -euo pipefail

if [[ "$(id -u)" -ne 0 ]]; then
    log_error "setup scripts must run as root"
    exit 1
fi

if [[ ! -r /etc/os-release ]]; then
    log_error "/etc/os-release is missing: cannot tell which OS this is"
    exit 1
fi

os_id="$(. /etc/os-release && printf '%s' "${ID:-}")"
os_version="$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")"

if [[ "$os_id" != "debian" ]]; then
    log_error "this template needs Debian, found '${os_id:-unknown}'"
    exit 1
fi
if [[ "$os_version" != "12" ]]; then
    log_warn "this template is made for Debian 12, found Debian '${os_version:-unknown}'"
fi

log_info "pre-checks passed on ${CONTAINER_HOSTNAME:-$(hostname)} (Debian ${os_version})"
