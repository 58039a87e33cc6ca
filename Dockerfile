# redis-vip in a container: the official Redis 7.0.15 image (Debian bookworm) plus the module.
#
# Base: redis:7.0.15-bookworm, the server version that the whole integration suite runs
# against (Debian 12's redis-server 7.0.15; docs/servers.md lists the rest of the matrix:
# Redis 8.0, Valkey 8.0/8.1/9.1). CI does not build this image; its entry point
# (deploy/docker-entrypoint.sh) is tested by tests/integration/test_ops.py.
#
#   docker build -t redis-vip .
#   docker run -d --name redis --network host --cap-add NET_ADMIN --cap-add NET_RAW \
#       -v redis-data:/data \
#       -e VIP_ADDRESS=192.0.2.100/24 -e VIP_INTERFACE=eth0 \
#       -e VIP_SENTINELS=192.0.2.11:26379,192.0.2.12:26379,192.0.2.13:26379 \
#       -e VIP_MASTER_NAME=mymaster \
#       redis-vip
#   (replicas: the same, plus -e REDIS_REPLICAOF="192.0.2.11 6379")
#
# There is no VIP in the default command: without VIP_ADDRESS and VIP_INTERFACE (or a
# /data/redis.conf that sets vip.address and vip.interface) the container exits at once and
# says how to give them. On the first start the entry point writes /data/redis.conf from the
# VIP_* variables; from then on that file is redis-server's configuration, writable and kept
# in the volume, so Sentinel's CONFIG REWRITE (replicaof after a failover) persists across
# restarts. Details, and why rootless runtimes and Kubernetes' baseline policy cannot run
# it: deploy/README.md#containers.
#
# It NEEDS:
#   --network host                        the VIP goes on the host's interface (in a bridge
#                                         network it would sit inside the container, unreachable)
#   --cap-add NET_ADMIN --cap-add NET_RAW  add/refresh/delete the VIP over netlink, send
#                                         gratuitous ARP / unsolicited NA on a packet socket
#                                         (the entry point refuses to start without them)

# ---- build ---------------------------------------------------------------------------------
# Rust 1.88 or newer (Cargo.toml rust-version; the redis crate needs it)
FROM rust:1-bookworm AS builder
# bindgen (redis-module crate) needs libclang
RUN apt-get update \
    && apt-get install -y --no-install-recommends libclang-dev clang \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked

# ---- run -----------------------------------------------------------------------------------
FROM redis:7.0.15-bookworm
# Both keep their mode 0755 (cargo's output, the script's mode in git): Redis 7 refuses to
# load a module file that has no execute bit.
COPY --from=builder /build/target/release/libredis_vip.so /usr/local/lib/redis/modules/libredis_vip.so
COPY deploy/docker-entrypoint.sh /usr/local/bin/redis-vip-entrypoint.sh

# The official entry point (docker-entrypoint.sh) switches to the redis user with gosu, which
# clears every capability. Ours does the same work (chown of /data, umask 0077) and switches
# with setpriv (util-linux, in every Debian image), keeping exactly NET_ADMIN and NET_RAW as
# ambient capabilities, so redis-server has them after exec.
ENTRYPOINT ["redis-vip-entrypoint.sh"]
WORKDIR /data
CMD ["redis-server", "/data/redis.conf"]
