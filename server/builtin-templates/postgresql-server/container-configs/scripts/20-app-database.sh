#!/usr/bin/env bash
# The application role and database, with a generated password saved for Kiln.
# Idempotent: only what is missing is created; an existing, saved password is kept.
set -euo pipefail
cd /  # runuser -u postgres: a working directory it may enter

DB_NAME="app"
DB_USER="app"
DB_PORT="5432"
credentials=/etc/kiln/credentials/postgresql.env
hba=/etc/postgresql/15/main/pg_hba.conf

psql_as_postgres() {
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"
}

role_exists="$(psql_as_postgres -tA -v user="$DB_USER" <<'SQL'
SELECT count(*) FROM pg_roles WHERE rolname = :'user';
SQL
)"

saved_password=""
if [[ -r "$credentials" ]]; then
    saved_password="$(sed -n 's/^DB_PASSWORD=//p' "$credentials" | tail -n 1)"
fi

if [[ "$role_exists" == "1" && -n "$saved_password" ]]; then
    log_info "role $DB_USER exists; keeping its saved password"
    DB_PASSWORD="$saved_password"
else
    DB_PASSWORD="$(generate_password 24)"
    if [[ "$role_exists" == "1" ]]; then
        log_warn "role $DB_USER exists without a saved password; setting a new one"
    fi
    psql_as_postgres -v user="$DB_USER" -v password="$DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';
SQL
    log_info "role $DB_USER ready"
fi

psql_as_postgres -v user="$DB_USER" -v db="$DB_NAME" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
log_info "database $DB_NAME ready (owner $DB_USER)"

# Password logins for the app role from the container's own subnets.
hba_line="host    ${DB_NAME}    ${DB_USER}    samenet    scram-sha-256"
if ! grep -qF "$hba_line" "$hba"; then
    printf '# Added by Kiln (template postgresql-server)\n%s\n' "$hba_line" >> "$hba"
    runuser -u postgres -- psql -X -q -c 'SELECT pg_reload_conf();' >/dev/null
    log_info "pg_hba.conf: $DB_USER may log in to $DB_NAME from the local subnets"
fi

save_credential postgresql DB_HOST "${CONTAINER_HOSTNAME:-$(hostname)}"
save_credential postgresql DB_PORT "$DB_PORT"
save_credential postgresql DB_NAME "$DB_NAME"
save_credential postgresql DB_USER "$DB_USER"
save_credential postgresql DB_PASSWORD "$DB_PASSWORD"
log_info "credentials saved (service postgresql)"
