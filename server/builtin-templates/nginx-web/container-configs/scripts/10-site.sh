#!/usr/bin/env bash
# Document root, placeholder page, and the Kiln site as the only enabled default server.
set -euo pipefail

web_root=/var/www/kiln
site=/etc/nginx/sites-available/default.conf
enabled=/etc/nginx/sites-enabled/default.conf

if [[ ! -d "$web_root" ]]; then
    install -d -m 0755 "$web_root"
    log_info "created $web_root"
fi

# A placeholder only when the site has no index page yet: never overwrite content.
if [[ ! -e "$web_root/index.html" && ! -e "$web_root/index.htm" ]]; then
    host="${CONTAINER_HOSTNAME:-$(hostname)}"
    cat > "$web_root/index.html" <<HTML
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${host}</title></head>
<body>
<h1>${host}</h1>
<p>nginx is running. Put your site into <code>${web_root}</code>.</p>
</body>
</html>
HTML
    chmod 0644 "$web_root/index.html"
    log_info "wrote a placeholder $web_root/index.html"
fi

# Kiln pushes default.conf from files/; write the same site when it is not there (yet), so
# the scripts work whichever comes first. A pushed file replaces this one (policy backup).
if [[ ! -f "$site" ]]; then
    log_warn "$site not pushed yet; writing the built-in site"
    cat > "$site" <<'CONF'
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_name _;

    root /var/www/kiln;
    index index.html index.htm;

    location = /healthz {
        access_log off;
        default_type text/plain;
        return 200 "ok\n";
    }

    location / {
        try_files $uri $uri/ =404;
    }
}
CONF
fi

if [[ "$(readlink "$enabled" 2>/dev/null || true)" != "$site" ]]; then
    ln -sfn "$site" "$enabled"
    log_info "enabled $site"
fi

# Debian's own default site also claims default_server on port 80.
if [[ -L /etc/nginx/sites-enabled/default ]]; then
    rm -f /etc/nginx/sites-enabled/default
    log_info "disabled Debian's default site"
fi
