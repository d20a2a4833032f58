#!/usr/bin/env bash
# The docker group exists (its members may use the Docker socket).
set -euo pipefail

if getent group docker >/dev/null; then
    log_info "group docker exists"
else
    groupadd --system docker
    log_info "created group docker"
    systemctl restart docker.socket docker.service 2>/dev/null \
        || log_warn "could not restart docker after creating the group"
fi

members="$(getent group docker | cut -d: -f4)"
if [[ -n "$members" ]]; then
    log_info "docker group members: $members"
else
    log_info "docker group has no members; add users with: usermod -aG docker USER"
fi
