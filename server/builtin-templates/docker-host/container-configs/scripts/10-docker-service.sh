#!/usr/bin/env bash
# Enable and start Docker; on the first run restart it so that it reads daemon.json.
set -euo pipefail

install -d -m 0755 /etc/docker

if ! command -v systemctl >/dev/null 2>&1; then
    log_error "systemd is needed to run Docker"
    exit 1
fi

systemctl enable docker.service >/dev/null 2>&1 || log_warn "could not enable docker.service"

if [[ "${KILN_FIRST_RUN:-0}" == "1" ]] && systemctl is-active --quiet docker; then
    systemctl restart docker
    log_info "docker restarted to read /etc/docker/daemon.json"
elif ! systemctl is-active --quiet docker; then
    systemctl start docker
    log_info "docker started"
else
    log_info "docker already running"
fi

for _ in $(seq 1 30); do
    if docker info >/dev/null 2>&1; then
        exit 0
    fi
    sleep 1
done
log_error "docker did not answer within 30 seconds (are nesting and keyctl enabled?)"
exit 1
