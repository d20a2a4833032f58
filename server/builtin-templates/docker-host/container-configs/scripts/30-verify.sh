#!/usr/bin/env bash
# Docker answers and uses the configured logging; Compose is there.
set -euo pipefail

if ! info="$(docker info --format '{{.ServerVersion}} {{.Driver}} {{.LoggingDriver}}' 2>&1)"; then
    log_error "docker info failed: $info"
    exit 1
fi
read -r version driver logging <<<"$info"
log_info "docker ${version}: storage driver ${driver}, logging driver ${logging}"

if is_installed docker-compose; then
    log_info "$(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"
else
    log_warn "docker-compose is not installed"
fi

log_info "docker-host ready on ${CONTAINER_HOSTNAME:-$(hostname)}"
