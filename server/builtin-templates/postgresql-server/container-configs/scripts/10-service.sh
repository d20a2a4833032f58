#!/usr/bin/env bash
# Start PostgreSQL and wait until it accepts connections.
set -euo pipefail
cd /  # runuser -u postgres: a working directory it may enter

if command -v systemctl >/dev/null 2>&1; then
    systemctl enable postgresql >/dev/null 2>&1 || log_warn "could not enable postgresql.service"
    systemctl start postgresql@15-main
else
    pg_ctlcluster 15 main start || true
fi

for _ in $(seq 1 30); do
    if runuser -u postgres -- pg_isready -q; then
        log_info "PostgreSQL accepts connections"
        exit 0
    fi
    sleep 1
done
log_error "PostgreSQL did not accept connections within 30 seconds"
exit 1
