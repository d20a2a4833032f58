#!/usr/bin/env bash
# The Debian 12 PostgreSQL 15 cluster must exist.
set -euo pipefail

if [[ ! -d /etc/postgresql/15/main ]]; then
    log_warn "cluster 15/main not found; installing postgresql"
    wait_for_apt_lock
    ensure_installed postgresql postgresql-contrib
fi

if [[ ! -d /etc/postgresql/15/main ]]; then
    log_error "no PostgreSQL 15 cluster (15/main) after installing postgresql"
    exit 1
fi

install -d -o postgres -g postgres -m 0755 /etc/postgresql/15/main/conf.d
log_info "PostgreSQL 15 cluster found"
