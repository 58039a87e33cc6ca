#!/bin/sh
# Run a command every time this Redis node claims the VIP (redis-vip publishes its transitions
# on __vip__:events; README "Events"). Needs only redis-cli.
#
#   examples/on-claim.sh [-h host] [-p port] [-a password] -- COMMAND [ARGS...]
#
# The command runs with the event's fields in its environment: VIP_EVENT, VIP_ADDRESSES,
# VIP_EPOCH, VIP_TIME_MS, VIP_REASON. Example: move a cloud provider's secondary address, page
# someone, or just log it:
#
#   examples/on-claim.sh -p 6379 -- logger -t redis-vip "claimed"
#
# Sentinel disconnects every client of the replica it promotes just as that node claims the
# VIP: after every (re)connection this script subscribes again and, once subscribed, handles
# from VIP.EVENTS the claims newer than the last one it handled; so no claim falls between the
# replay and the subscription.
set -u
cli_args=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    cli_args="$cli_args $1"
    shift
done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [redis-cli options] -- COMMAND [ARGS...]" >&2; exit 2; }

# The time of the last claim handled survives the subshells of the pipelines below.
state=$(mktemp) || exit 1
trap 'rm -f "$state"' EXIT
trap 'exit 130' INT TERM
echo 0 > "$state"

handle() { # one event line, then the command and its arguments
    line=$1
    shift
    IFS=' ' read -r event addresses epoch time_ms reason <<EOF_LINE
$line
EOF_LINE
    case ${time_ms:-} in *[!0-9]*|"") return 0 ;; esac
    [ "$event" = claim ] && [ "$time_ms" -gt "$(cat "$state")" ] || return 0
    echo "$time_ms" > "$state"
    VIP_EVENT=$event VIP_ADDRESSES=$addresses VIP_EPOCH=$epoch VIP_TIME_MS=$time_ms \
        VIP_REASON=$reason "$@" </dev/null || echo "on-claim: command failed" >&2
}

replay() { # the claims VIP.EVENTS still holds, newer than the last one handled
    # shellcheck disable=SC2086  # the redis-cli options are words
    redis-cli $cli_args --raw VIP.EVENTS 2>/dev/null | while IFS= read -r line; do
        handle "$line" "$@"
    done
}

while :; do
    # shellcheck disable=SC2086
    redis-cli $cli_args --csv SUBSCRIBE __vip__:events 2>/dev/null | while IFS= read -r csv; do
        case $csv in
            # subscribed: what was published before now is in VIP.EVENTS, what comes after
            # arrives as a message (a claim seen both ways is handled once)
            '"subscribe","__vip__:events",'*) replay "$@" ;;
            '"message","__vip__:events",'*)
                line=${csv#'"message","__vip__:events","'}
                line=${line%'"'}
                handle "$line" "$@"
                ;;
        esac
    done
    sleep 0.2
done
