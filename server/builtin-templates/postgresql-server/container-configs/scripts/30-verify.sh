#!/usr/bin/env bash
# Apply settings that need a restart (listen_addresses), then check the app login.
set -euo pipefail
cd /  # runuser -u postgres: a working directory it may enter

pending="$(runuser -u postgres -- psql -X -tA -c 'SELECT count(*) FROM pg_settings WHERE pending_restart;')"
if [[ "$pending" != "0" ]]; then
    log_info "restarting PostgreSQL to apply $pending setting(s)"
    if command -v systemctl >/dev/null 2>&1; then
        systemctl restart postgresql@15-main
    else
        pg_ctlcluster 15 main restart
    fi
    for _ in $(seq 1 30); do
        runuser -u postgres -- pg_isready -q && break
        sleep 1
    done
fi

listen="$(runuser -u postgres -- psql -X -tA -c 'SHOW listen_addresses;')"
log_info "listen_addresses = $listen"

password="$(sed -n 's/^DB_PASSWORD=//p' /etc/kiln/credentials/postgresql.env 2>/dev/null | tail -n 1 || true)"
if [[ -n "$password" ]]; then
    if PGPASSWORD="$password" psql -X -q -h 127.0.0.1 -U app -d app -c 'SELECT 1;' >/dev/null 2>&1; then
        log_info "app login works on 127.0.0.1:5432"
    else
        log_warn "app login on 127.0.0.1:5432 failed; check pg_hba.conf"
    fi
fi
