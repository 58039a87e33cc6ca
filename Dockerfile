# redis-vip in a container: the official Redis image plus the module.
#
#   docker build -t redis-vip .
#   docker run -d --name redis --network host --cap-add NET_ADMIN --cap-add NET_RAW redis-vip
#
# It NEEDS:
#   --network host                        the VIP goes on the host's interface (in a bridge
#                                         network it would sit inside the container, unreachable)
#   --cap-add NET_ADMIN --cap-add NET_RAW  add/refresh/delete the VIP over netlink, send
#                                         gratuitous ARP / unsolicited NA on a packet socket
# Without them VIP.STATUS shows state "error" and names the missing capability; Redis keeps
# serving. Override the address/interface by giving your own command, e.g.
#   docker run ... redis-vip redis-server /etc/redis/redis.conf
# with a loadmodule line as in redis.conf.example. Details: deploy/README.md.

# ---- build ---------------------------------------------------------------------------------
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
FROM redis:7.2-bookworm
COPY --from=builder /build/target/release/libredis_vip.so /usr/local/lib/redis/modules/libredis_vip.so

# The image's own entrypoint switches to the redis user with gosu, which clears every
# capability. Instead, setpriv (util-linux, in every Debian image) switches to redis and keeps
# exactly NET_ADMIN and NET_RAW as ambient capabilities, so redis-server has them after exec.
# (They must also be granted to the container with --cap-add, see above.)
ENTRYPOINT ["setpriv", "--reuid=redis", "--regid=redis", "--init-groups", \
            "--inh-caps=+net_admin,+net_raw", "--ambient-caps=+net_admin,+net_raw", "--"]
# Example: VIP 192.0.2.100/24 on eth0 (documentation range: replace with yours). Every node,
# master and replicas, runs the same module settings; Sentinel decides who is master.
CMD ["redis-server", \
     "--loadmodule", "/usr/local/lib/redis/modules/libredis_vip.so", \
     "address", "192.0.2.100/24", "interface", "eth0"]
