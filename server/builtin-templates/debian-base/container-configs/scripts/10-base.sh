#!/usr/bin/env bash
# Time zone, locale and automatic security updates. Keeps choices already made.
set -euo pipefail

# Time zone: UTC unless one is already configured.
if [[ ! -e /etc/localtime ]]; then
    ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime
    printf 'Etc/UTC\n' > /etc/timezone
    log_info "time zone set to UTC"
else
    log_info "time zone kept: $(readlink -f /etc/localtime)"
fi

# Locale: C.UTF-8 ships with libc, so it never needs generating.
if ! grep -qs '^LANG=' /etc/default/locale; then
    printf 'LANG=C.UTF-8\n' >> /etc/default/locale
    log_info "default locale set to C.UTF-8"
else
    log_info "default locale kept: $(grep '^LANG=' /etc/default/locale)"
fi

# Unattended upgrades: make sure the package is there, then switch the daily run on.
if ! dpkg-query -W -f='${Status}' unattended-upgrades 2>/dev/null | grep -q 'ok installed'; then
    wait_for_apt_lock
    ensure_installed unattended-upgrades
fi

auto_upgrades=/etc/apt/apt.conf.d/20auto-upgrades
wanted='APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";'
if [[ "$(cat "$auto_upgrades" 2>/dev/null || true)" != "$wanted" ]]; then
    printf '%s\n' "$wanted" > "$auto_upgrades"
    log_info "unattended-upgrades enabled ($auto_upgrades)"
else
    log_info "unattended-upgrades already enabled"
fi

if command -v systemctl >/dev/null 2>&1; then
    systemctl enable --now unattended-upgrades.service >/dev/null 2>&1 \
        || log_warn "could not enable unattended-upgrades.service"
fi
