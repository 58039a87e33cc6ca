"""The whole routed setup: the router's BIRD, a speaker on each node, 3 Redis nodes with the module
in the routed, Sentinel-confirmed mode and 3 Sentinels; a writer through the routed VIP.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Iterable

from .netlink import _netlink, dump_routes
from .netns import addr_only, wait_until
from .processes import RedisGroup
from .routed import ROUTER, VIP4_R, VIP6_R, RoutedPlan, RoutedTopology
from .sentinel import any_dead, assert_alive, module_args, start_sentinels
from .speakers import Bird, Frr, node_bird_conf, node_frr_conf, router_bird_conf
from .status import statuses
from .writer import VipWriter

# ----------------------------------------------------------------------------------------------
# a client writing through the routed VIP


class RoutedVipWriter(VipWriter):
    """writer.VipWriter writing from the client namespace to the routed VIP (``vip``)."""

    def __init__(self, topo: RoutedTopology, vip: str = VIP4_R, **kwargs):
        super().__init__(topo, host=addr_only(vip), **kwargs)


# ----------------------------------------------------------------------------------------------
# the whole routed setup


def routed_module_args(plan: RoutedPlan, extra: Iterable[str] = ()) -> list[str]:
    """The loadmodule arguments after ``address <VIPs> interface lo``: routed and
    Sentinel-confirmed (the lifetime stays at its default, 1 s)."""
    return ["announce", "no", *module_args(plan, extra=extra)]  # type: ignore[arg-type]


def vips_of(plan: RoutedPlan) -> list[str]:
    return [VIP4_R] + ([VIP6_R] if plan.ipv6 else [])


@dataclass
class Routed:
    topo: RoutedTopology
    router: Bird
    speakers: dict  # node -> Bird | Frr
    group: RedisGroup
    vips: list[str]


def start_routed(topo: RoutedTopology, module_path: str, speaker: str = "bird", bfd: bool = False,
                 ecmp: bool = True, flavor: str = "redis", extra_module_args: Iterable[str] = ()) -> Routed:
    """The router's BIRD, a BIRD (``speaker='bird'``) or FRR on each node, 3 Redis nodes with the
    module in routed, Sentinel-confirmed mode (``address <VIPs> interface lo announce no
    sentinels ... master-name mymaster``) and 3 Sentinels (down-after 1000, quorum 2). Returns
    once every BGP session is up and the router's table sends the VIPs to n1."""
    vips = vips_of(topo)
    router = Bird(topo, ROUTER, router_bird_conf(topo, bfd=bfd, ecmp=ecmp)).start()
    speakers: dict = {}
    for n in topo.node_names:
        if speaker == "bird":
            speakers[n] = Bird(topo, n, node_bird_conf(topo, n, bfd=bfd)).start()
        elif speaker == "frr":
            bgpd, zebra = node_frr_conf(topo, n)
            speakers[n] = Frr(topo, n, bgpd, zebra).start()
        else:
            raise ValueError(speaker)
    sessions = {n for n in topo.node_names} | ({f"{n}_6" for n in topo.node_names} if topo.ipv6 else set())
    wait_until(lambda: router.established() >= sessions, 30, 0.1,
               msg=lambda: f"every BGP session established\n{router.show('show protocols')}")
    g = topo.redis(flavor=flavor, module=module_path, vip=",".join(vips), interface="lo",
                   module_args=routed_module_args(topo, extra_module_args))
    g.start()
    start_sentinels(g)
    r = Routed(topo, router, speakers, g, vips)

    def routed_to_n1() -> bool:
        if any_dead(g):
            return True
        return all(router_hops(r, v) == ("n1",) for v in vips)

    wait_until(routed_to_n1, 30, 0.05, msg=lambda: f"the router's route for {vips} via n1 only "
                                                   f"({[router_hops(r, v) for v in vips]})\n{statuses(g)}")
    assert_alive(g)
    return r


def router_hops(r: Routed, prefix: str) -> tuple[str, ...]:
    """The router's kernel next hops for prefix, now (one dump)."""
    net = ipaddress.ip_network(prefix)
    fam = socket.AF_INET if net.version == 4 else socket.AF_INET6
    key = {(fam, net.network_address.packed, net.prefixlen): str(net)}

    def dump():
        s = _netlink(0)
        try:
            return dump_routes(s, 1, key)[str(net)]
        finally:
            s.close()

    return tuple(r.topo.node_of_gateway(g) for g in r.topo.in_ns(ROUTER, dump))

