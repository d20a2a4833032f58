#!/usr/bin/env bash
# One-time cleanup and a summary in the progress stream.
set -euo pipefail

if [[ "${KILN_FIRST_RUN:-0}" == "1" ]]; then
    wait_for_apt_lock
    apt-get clean
    log_info "apt cache cleaned"
fi

log_info "debian-base ready on ${CONTAINER_HOSTNAME:-$(hostname)} (vmid ${CONTAINER_VMID:-?})"
