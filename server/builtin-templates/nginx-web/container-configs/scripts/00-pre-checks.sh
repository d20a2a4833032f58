#!/usr/bin/env bash
# nginx must be installed before the site is set up.
set -euo pipefail

if ! is_installed nginx && [[ ! -x /usr/sbin/nginx ]]; then
    log_warn "nginx is missing; installing it"
    wait_for_apt_lock
    ensure_installed nginx
fi

log_info "nginx present: $(/usr/sbin/nginx -v 2>&1)"
