#!/bin/sh
# Entry point of the redis-vip container image (Dockerfile at the top of the repository).
#
# It does what the official Redis image's docker-entrypoint.sh does:
#   - a first argument that is an option (-...) or a file *.conf means `redis-server ...`;
#   - as root, it makes the working directory (/data) the redis user's;
#   - it sets umask 0077 when the umask is the default 0022;
# but it switches to the redis user with setpriv, keeping NET_ADMIN and NET_RAW as ambient
# capabilities (the official script's gosu clears every capability, and the module needs
# both). And for the default command (`redis-server $REDIS_VIP_CONF`) it:
#   - writes that file on the first start from VIP_* variables, so that it is a real,
#     writable configuration file kept with the data: Sentinel's CONFIG REWRITE (replicaof
#     after a failover) persists, and a restarted container comes back as what Sentinel made
#     it, not as a master;
#   - refuses to start when no VIP address or interface is given, and says how to give them.
#
# Variables (read on the first start only, when $REDIS_VIP_CONF does not exist yet; after
# that the file is the configuration: edit it, or remove it to regenerate):
#   VIP_ADDRESS        required, e.g. 192.0.2.100/24 (vip.address)
#   VIP_INTERFACE      required, e.g. eth0 (vip.interface)
#   VIP_SENTINELS      e.g. 192.0.2.11:26379,192.0.2.12:26379,192.0.2.13:26379 (vip.sentinels)
#   VIP_MASTER_NAME    e.g. mymaster (vip.master-name)
#   VIP_SENTINEL_AUTH_USER, VIP_SENTINEL_AUTH_PASS
#   REDIS_REPLICAOF    "host port": start as a replica of that master (replicas' first start)
#   REDIS_VIP_CONF     the file (default /data/redis.conf)
#   REDIS_VIP_MODULE   the module (default /usr/local/lib/redis/modules/libredis_vip.so)
set -e

conf="${REDIS_VIP_CONF:-/data/redis.conf}"
module="${REDIS_VIP_MODULE:-/usr/local/lib/redis/modules/libredis_vip.so}"

say() { printf 'redis-vip: %s\n' "$*" >&2; }

# first arg is `-f` or `--some-option`, or first arg is `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# Does the configuration name a non-empty vip.<key>, as a vip.* line or a loadmodule argument?
has_setting() {
	awk -v key="$1" '
		$1 == "vip." key && NF >= 2 && $2 != "\"\"" { found = 1 }
		$1 == "loadmodule" && $2 ~ /libredis_vip/ {
			for (i = 3; i < NF; i++) if ($i == key && $(i + 1) != "\"\"") found = 1
		}
		END { exit !found }' "$2"
}

usage() {
	say "$1"
	cat >&2 <<EOF
redis-vip: the image holds no VIP by default. Give the address and the interface, e.g.

  docker run -d --network host --cap-add NET_ADMIN --cap-add NET_RAW -v redis-data:/data \\
      -e VIP_ADDRESS=192.0.2.100/24 -e VIP_INTERFACE=eth0 \\
      -e VIP_SENTINELS=192.0.2.11:26379,192.0.2.12:26379,192.0.2.13:26379 -e VIP_MASTER_NAME=mymaster \\
      redis-vip

or put your own redis.conf at $conf (a loadmodule line for $module and vip.address /
vip.interface lines: redis.conf.example in the repository).
EOF
	exit 64
}

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	# CapBnd: what this container may have at all (docker run --cap-add); bits 12 and 13
	bnd=$(awk '$1 == "CapBnd:" { print $2 }' /proc/self/status)
	if [ -n "$bnd" ] && [ $(( 0x$bnd & 0x3000 )) -ne $(( 0x3000 )) ]; then
		say "this container lacks CAP_NET_ADMIN or CAP_NET_RAW: run it with --cap-add NET_ADMIN --cap-add NET_RAW (and --network host)"
		exit 65
	fi
fi

if [ "$1" = redis-server ] && [ "$2" = "$conf" ] && [ "$#" -eq 2 ]; then
	if [ ! -e "$conf" ]; then
		[ -n "${VIP_ADDRESS:-}" ] || usage "VIP_ADDRESS is not set and $conf does not exist"
		[ -n "${VIP_INTERFACE:-}" ] || usage "VIP_INTERFACE is not set and $conf does not exist"
		(
			umask 0077
			{
				echo "# Written by the redis-vip image's entry point on the first start. It is"
				echo "# redis-server's own configuration file from now on: Sentinel's CONFIG REWRITE"
				echo "# writes here. Every module setting: redis.conf.example in the repository."
				echo "bind * -::*"
				echo "dir $(pwd)"
				echo "loadmodule $module"
				echo "vip.address $VIP_ADDRESS"
				echo "vip.interface $VIP_INTERFACE"
				[ -z "${VIP_SENTINELS:-}" ] || echo "vip.sentinels $VIP_SENTINELS"
				[ -z "${VIP_MASTER_NAME:-}" ] || echo "vip.master-name $VIP_MASTER_NAME"
				[ -z "${VIP_SENTINEL_AUTH_USER:-}" ] || echo "vip.sentinel-auth-user $VIP_SENTINEL_AUTH_USER"
				[ -z "${VIP_SENTINEL_AUTH_PASS:-}" ] || echo "vip.sentinel-auth-pass $VIP_SENTINEL_AUTH_PASS"
				[ -z "${REDIS_REPLICAOF:-}" ] || echo "replicaof $REDIS_REPLICAOF"
			} > "$conf"
		)
		say "wrote $conf from VIP_* variables (first start)"
	fi
	has_setting address "$conf" || usage "$conf sets no vip.address"
	has_setting interface "$conf" || usage "$conf sets no vip.interface"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	um="$(umask)"
	if [ "$um" = '0022' ]; then
		umask 0077
	fi
	exec setpriv --reuid=redis --regid=redis --init-groups \
		--inh-caps=+net_admin,+net_raw --ambient-caps=+net_admin,+net_raw -- "$@"
fi

# set an appropriate umask (if one isn't set already), as the official image does
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
