#!/usr/bin/env bash
# Replace the redis-vip module of a running redis-server without restarting it, keeping every
# setting in force. One node at a time; the order that keeps the VIP on one node is in
# docs/operations.md#rolling-upgrade (replicas first, then SENTINEL FAILOVER, then the old
# master).
#
#   deploy/vip-module-reload.sh /usr/lib/redis/modules/libredis_vip-0.2.1.so
#   REDIS_CLI="redis-cli -h 127.0.0.1 -p 6380" REDISCLI_AUTH=... deploy/vip-module-reload.sh NEW.so
#
# What it does:
#   1. reads every vip.* setting in force with CONFIG GET vip.* (loadmodule arguments, vip.*
#      lines and CONFIG SETs alike: MODULE UNLOAD forgets them all);
#   2. MODULE UNLOAD vip: the node releases the VIP if it holds it (vip.release-on-shutdown);
#   3. MODULE LOADEX NEW.so CONFIG vip.<name> <value> ... with those settings; if that fails,
#      it loads the previous file back the same way and exits 1;
#   4. CONFIG REWRITE, so that the configuration file's loadmodule line names NEW.so (skipped
#      with a notice when the server runs without a configuration file).
#
# NEW.so must be a NEW PATH (e.g. a versioned file name). After MODULE UNLOAD the old file
# stays mapped in the process (the module's threads pin it), and loading the same path again
# gives back the OLD code even when a new file was installed there. The script refuses a path
# equal to the loaded one.
#
# Needs enable-module-command yes (or local, from this host). The settings, the Sentinel
# password included, are passed on redis-cli's command line for that moment.
set -euo pipefail

new=${1:?usage: $0 /path/to/new/libredis_vip.so}
read -r -a cli <<< "${REDIS_CLI:-redis-cli}"

say() { printf 'vip-module-reload: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
run() { "${cli[@]}" "$@"; }

[ -f "$new" ] || die "$new: no such file"
[ -x "$new" ] || die "$new has no execute bit: Redis 7 refuses to load it (chmod 0755)"

# MODULE LIST (raw): name, vip, ver, N, path, /the/file, args, ... one per line
old=$(run --raw MODULE LIST | awk 'prev == "path" && found { print; exit } $0 == "vip" { found = 1 } { prev = $0 }')
[ -n "$old" ] || die "the vip module is not loaded here (MODULE LIST)"
[ "$(readlink -f "$old")" != "$(readlink -f "$new")" ] ||
    die "$new is the file already loaded: install the new module under another name (the old one stays mapped after MODULE UNLOAD, and the same path would load the old code again)"
before=$(run --raw VIP.STATUS | awk 'prev == "version" { print; exit } { prev = $0 }')

# CONFIG GET vip.* (raw): name and value on alternate lines; an empty value is an empty line
settings=()
while IFS= read -r name; do
    IFS= read -r value || value=
    settings+=(CONFIG "$name" "$value")
done < <(run --raw CONFIG GET 'vip.*')
[ ${#settings[@]} -gt 0 ] || die "CONFIG GET vip.* returned nothing"

load() {
    local out
    out=$(run MODULE LOADEX "$1" "${settings[@]}" 2>&1) || true
    [ "$out" = OK ] || { say "MODULE LOADEX $1: $out (the reason is in the Redis log)"; return 1; }
}

out=$(run MODULE UNLOAD vip 2>&1) || true
[ "$out" = OK ] || die "MODULE UNLOAD vip: $out"
if ! load "$new"; then
    say "loading $old back"
    load "$old" || die "could not load $old back either: load it by hand (MODULE LOADEX)"
    exit 1
fi
after=$(run --raw VIP.STATUS | awk 'prev == "version" { print; exit } { prev = $0 }')
say "reloaded: $old ($before) -> $new ($after)"

out=$(run CONFIG REWRITE 2>&1) || true
if [ "$out" = OK ]; then
    say "CONFIG REWRITE: the configuration file now loads $new"
else
    say "CONFIG REWRITE: $out: change the loadmodule line of the configuration file to $new yourself"
fi
