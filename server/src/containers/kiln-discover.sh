# Kiln's discovery inside a container (bash), run as `bash -c <this> kiln-discover WHAT ARGS`.
# Fixed text: the only arguments are a subcommand and, for `probe`, addresses and ports that
# Kiln parsed and checked. Each output line is TAG<TAB>FIELDS, parsed by
# `containers::discover` (a line Kiln does not know is ignored).
#
#   baseline       the service units the container has before the template's files,
#                  packages and scripts, written once to /var/lib/kiln/units.baseline
#   units          systemd's view now, the baseline, TCP listeners (ss) and their cgroups
#   probe A P ...  which ADDRESS PORT pairs answer HTTP (or HTTPS, with curl)
#   credentials    the credential files, base64 (their values never reach a log)
set -u
what=${1:-}
shift || true

baseline=/var/lib/kiln/units.baseline

has_systemd() {
    [[ -d /run/systemd/system ]] && type -P systemctl >/dev/null 2>&1
}

# Every service unit systemd knows: unit files (also disabled and static ones) and loaded
# units (also generated and transient ones).
all_units() {
    local unit rest
    systemctl list-unit-files --type=service --no-legend --no-pager 2>/dev/null |
        while read -r unit rest; do printf '%s\n' "$unit"; done
    systemctl list-units --type=service --all --no-legend --no-pager --plain 2>/dev/null |
        while read -r unit rest; do printf '%s\n' "$unit"; done
}

case $what in
baseline)
    if [[ -e $baseline ]]; then
        printf 'kept\n'
        exit 0
    fi
    mkdir -p -m 0755 /var/lib/kiln || exit 1
    if has_systemd; then
        all_units | LC_ALL=C sort -u >"$baseline.tmp" || exit 1
    else
        printf '# no systemd\n' >"$baseline.tmp" || exit 1
    fi
    mv -f "$baseline.tmp" "$baseline" || exit 1
    printf 'taken\t%s\n' "$(grep -vc '^#' "$baseline")"
    ;;
units)
    if ! has_systemd; then
        printf 'nosystemd\n'
        exit 0
    fi
    if [[ -r $baseline ]]; then
        while read -r unit; do
            [[ $unit == \#* || -z $unit ]] || printf 'base\t%s\n' "$unit"
        done <"$baseline"
    else
        printf 'nobaseline\n'
    fi
    systemctl list-unit-files --type=service --state=enabled --no-legend --no-pager 2>/dev/null |
        while read -r unit rest; do printf 'enabled\t%s\n' "$unit"; done
    systemctl list-units --type=service --all --no-legend --no-pager --plain 2>/dev/null |
        while read -r unit load active sub rest; do
            printf 'unit\t%s\t%s\t%s\t%s\n' "$unit" "$load" "$active" "$sub"
        done
    if type -P ss >/dev/null 2>&1; then
        declare -A seen=()
        while IFS= read -r line; do
            printf 'listen\t%s\n' "$line"
            rest=$line
            while [[ $rest =~ pid=([0-9]+) ]]; do
                pid=${BASH_REMATCH[1]}
                rest=${rest#*pid="$pid"}
                [[ -z ${seen[$pid]:-} ]] || continue
                seen[$pid]=1
                while IFS= read -r cg; do
                    printf 'cgroup\t%s\t%s\n' "$pid" "$cg"
                done 2>/dev/null <"/proc/$pid/cgroup"
            done
        done < <(ss -Hltnp 2>/dev/null)
    else
        printf 'noss\n'
    fi
    ;;
probe)
    has_curl=""
    type -P curl >/dev/null 2>&1 && has_curl=1
    while (($# >= 2)); do
        address=$1 port=$2
        shift 2
        [[ $port =~ ^[0-9]+$ && $address =~ ^[0-9a-fA-F.:]+$ ]] || continue
        # A plain HTTP request over bash's /dev/tcp: the first line of an HTTP answer starts
        # with "HTTP/". `timeout` bounds a connect or a read that never ends.
        first=$(timeout 4 bash -c '
            exec 3<>"/dev/tcp/$1/$2" || exit 1
            printf "HEAD / HTTP/1.0\r\nHost: %s\r\nUser-Agent: kiln-discover\r\nConnection: close\r\n\r\n" "$1" >&3
            IFS= read -r -t 3 line <&3
            printf "%s" "$line"' kiln-probe "$address" "$port" 2>/dev/null)
        if [[ $first == HTTP/* ]]; then
            printf 'http\t%s\t%s\n' "$address" "$port"
            continue
        fi
        host=$address
        [[ $host != *:* ]] || host="[$host]"
        if [[ -n $has_curl ]] &&
            curl -ksS -o /dev/null --max-time 4 "https://$host:$port/" >/dev/null 2>&1; then
            printf 'https\t%s\t%s\n' "$address" "$port"
        fi
    done
    ;;
credentials)
    count=0
    for dir in /etc/kiln/credentials /etc/infrahaus/credentials; do
        [[ -d $dir && ! -L $dir ]] || continue
        for file in "$dir"/*; do
            [[ -f $file && ! -L $file ]] || continue
            count=$((count + 1))
            if ((count > 64)); then
                printf 'toomany\n'
                exit 0
            fi
            name=$(printf '%s' "${file##*/}" | base64 | tr -d '\n')
            size=$(stat -c %s -- "$file" 2>/dev/null) || continue
            if ((size > 65536)); then
                printf 'toolarge\t%s\t%s\n' "$dir" "$name"
                continue
            fi
            printf 'file\t%s\t%s\t%s\n' "$dir" "$name" "$(base64 <"$file" | tr -d '\n')"
        done
    done
    ;;
*)
    printf 'unknown subcommand\n' >&2
    exit 2
    ;;
esac
