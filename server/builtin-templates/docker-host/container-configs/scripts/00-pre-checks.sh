#!/usr/bin/env bash
# Docker must be installed, and the container needs nesting for it to run.
set -euo pipefail

if ! is_installed docker; then
    log_warn "docker is missing; installing docker.io"
    wait_for_apt_lock
    ensure_installed docker.io docker-compose
fi

# Without nesting, /proc/sys is read-only for the container and Docker cannot start.
if ! [[ -w /proc/sys/net/ipv4/ip_forward ]] && grep -qs ' /proc/sys .*\bro\b' /proc/mounts; then
    log_warn "/proc/sys is read-only: enable the nesting and keyctl features of this container"
fi

log_info "docker present: $(docker --version)"
