#!/usr/bin/env bash
# Check the configuration, then run nginx with it.
set -euo pipefail

if ! output="$(/usr/sbin/nginx -t 2>&1)"; then
    log_error "nginx -t failed:"
    printf '%s\n' "$output" >&2
    exit 1
fi
log_info "nginx -t: configuration is valid"

if command -v systemctl >/dev/null 2>&1; then
    systemctl enable nginx >/dev/null 2>&1 || log_warn "could not enable nginx.service"
    if systemctl is-active --quiet nginx; then
        systemctl reload nginx
        log_info "nginx reloaded"
    else
        systemctl start nginx
        log_info "nginx started"
    fi
fi

for _ in 1 2 3 4 5; do
    if curl -fsS --max-time 2 http://127.0.0.1/healthz >/dev/null 2>&1; then
        log_info "site answers on http://${CONTAINER_HOSTNAME:-localhost}/"
        exit 0
    fi
    sleep 1
done
log_warn "http://127.0.0.1/healthz did not answer yet"
