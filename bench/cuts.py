"""Sentinels in namespaces of their own, and cuts between chosen hosts (the asymmetric faults).

The usual topology runs one Sentinel in each Redis node's namespace, on the node's address: a
firewall rule there cannot tell the node's Redis from its Sentinel. For the asymmetric cuts
(the master cut off from the Sentinels but not its replicas, and the like) the Sentinels run in
namespaces n4, n5, n6 of a 6-host topology (192.0.2.14-16), beside the Redis nodes n1-n3:
``SENTINEL_HOST`` pairs them, and ``g.sentinels`` keeps the Redis node's name as the key, so
"n1's Sentinel" still means the first one.

``Cuts`` drops every packet between a namespace and a set of addresses with nftables, inside
that namespace only (a table ``vipcut`` of its own per cut, deleted when the cut heals); an
established TCP connection across a cut stalls as it would behind a broken switch port, it is
not reset. Nothing touches the root namespace.
"""

from __future__ import annotations

import threading
from typing import Iterable

from tests.harness.netns import MASTER_NAME, SENTINEL_PORT, VIP4
from tests.harness.processes import RedisGroup, SentinelNode
from tests.harness.topology import Topology

REDIS_NODES = ("n1", "n2", "n3")
SENTINEL_HOST = {"n1": "n4", "n2": "n5", "n3": "n6"}
HOSTS = len(REDIS_NODES) + len(SENTINEL_HOST)  # Topology(nodes=HOSTS)


def sentinel_list_apart(topo: Topology) -> str:
    """vip.sentinels for Sentinels in their own namespaces."""
    return ",".join(f"{topo.addr4(h)}:{SENTINEL_PORT}" for h in SENTINEL_HOST.values())


def module_args_apart(topo: Topology, failsafe: bool | None = None) -> list[str]:
    """loadmodule arguments of the Sentinel-confirmed mode with the Sentinels apart; failsafe
    None leaves vip.failsafe at its default."""
    args = ["sentinels", sentinel_list_apart(topo), "master-name", MASTER_NAME]
    if failsafe is not None:
        args += ["failsafe", "yes" if failsafe else "no"]
    return args


def redis_group(topo: Topology, module: str | None, module_args: Iterable[str] = (), flavor: str = "redis",
                extra_conf: Iterable[str] = ()) -> RedisGroup:
    """n1 master, n2 and n3 replicas on a HOSTS-host topology (the other hosts are the
    Sentinels')."""
    return topo.redis(flavor=flavor, module=module, vip=VIP4 if module else None, module_args=list(module_args),
                      nodes=list(REDIS_NODES), extra_conf=list(extra_conf))


def new_sentinel(g: RedisGroup, key: str, master_addr: str, down_after_ms: int, port: int = SENTINEL_PORT,
                 extra_conf: Iterable[str] = ()) -> SentinelNode:
    """A Sentinel (not started) in the namespace paired with Redis node ``key``."""
    return SentinelNode(g.topo, SENTINEL_HOST[key], flavor=g.flavor, master_addr=master_addr, quorum=2,
                        down_after_ms=down_after_ms, failover_timeout_ms=10000, port=port,
                        extra_conf=list(extra_conf))


def start_sentinels_apart(g: RedisGroup, down_after_ms: int, timeout: float = 40) -> dict[str, SentinelNode]:
    """One Sentinel per Redis node, each in its own namespace, started once the replicas are
    online; returns once every Sentinel sees both replicas and the two other Sentinels."""
    master = g[REDIS_NODES[0]]
    for key in REDIS_NODES:
        s = new_sentinel(g, key, master.address, down_after_ms)
        g.sentinels[key] = s
        s.start()
    for s in g.sentinels.values():
        s.wait_ready()
    g.wait_sentinels_ready(timeout)
    return g.sentinels


class Cuts:
    """Cuts between a host and some addresses, each healed by ``heal(host)`` or ``heal_all()``
    (also when the topology closes: the namespaces go with it)."""

    def __init__(self, topo: Topology):
        self.topo = topo
        self.active: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def cut(self, host: str, addrs: Iterable[str]) -> None:
        """Drop everything between ``host`` and ``addrs`` (both ways), from now on."""
        addrs = sorted(set(addrs))
        if not addrs:
            return
        with self.lock:
            self._delete(host)
            s = ", ".join(addrs)
            rules = (f"add table inet vipcut\n"
                     f"add chain inet vipcut in {{ type filter hook input priority -10; policy accept; }}\n"
                     f"add chain inet vipcut out {{ type filter hook output priority -10; policy accept; }}\n"
                     f"add rule inet vipcut in ip saddr {{ {s} }} drop\n"
                     f"add rule inet vipcut out ip daddr {{ {s} }} drop\n")
            self.topo.run(host, "nft", "-f", "-", input=rules)
            self.active[host] = addrs

    def heal(self, host: str) -> None:
        with self.lock:
            self._delete(host)

    def heal_all(self) -> None:
        with self.lock:
            for host in list(self.active):
                self._delete(host)

    def _delete(self, host: str) -> None:
        if host in self.active:
            self.topo.run(host, "nft", "delete", "table", "inet", "vipcut", check=False)
            del self.active[host]

    def describe(self) -> str:
        return "; ".join(f"{h} x {','.join(a)}" for h, a in self.active.items()) or "none"


def sentinel_addrs(g: RedisGroup, keys: Iterable[str] | None = None) -> list[str]:
    """Addresses of the group's Sentinels (all, or those paired with ``keys``)."""
    return [s.address for k, s in g.sentinels.items() if keys is None or k in keys]


def replica_addrs(g: RedisGroup, master: str) -> list[str]:
    return [n.address for name, n in g.nodes.items() if name != master]
