"""Routed test topology: the VIP as a /32 (and /128) announced over BGP (issue 11).

Built on the harness's primitives (namespace naming and sweeping, ``ip netns exec`` processes
killed by pid at close, clients entering a namespace on a fresh thread). The routing daemons and
their configurations are in speakers.py, the router's kernel table in routes.py, the whole
set-up (daemons, Redis, Sentinels) in routed_setup.py. Nothing is created in
the root namespace; addresses come from 192.0.2.0/24, 198.51.100.0/24 and 2001:db8::/32 only.

Layout built by ``RoutedTopology(tag, nodes=3, ipv6=False)``; every host has one point-to-point
link to the router, a /29 (and a /64) of its own::

                       vt-<tag>-<pid>-rt   router, AS 65000, BIRD 2, forwards
                       lo: 192.0.2.1 (router id)
         ┌────────────────┬───────┴────────┬────────────────┐
      v n1 192.0.2.9   v n2 192.0.2.17  v n3 192.0.2.25   v obs 192.0.2.41
         │                │                │                │
      eth0 192.0.2.10  eth0 192.0.2.18  eth0 192.0.2.26   eth0 192.0.2.42
      n1, AS 65001     n2, AS 65002     n3, AS 65003      obs: the client
      lo: the VIP      lo: the VIP      lo: the VIP       (default route via the router)
      redis + module, Sentinel, and BIRD or FRR (zebra + bgpd) on each node

    IPv6 (ipv6=True): link i is 2001:db8:0:i::/64, router ::1, host ::2 (obs: link 5).
    VIP: 198.51.100.10/32 (and 2001:db8:100::10/128) on the nodes' lo, added by the module
    (``interface lo announce no``); each node's routing daemon exports that /32 and nothing else.

The router forwards (``net.ipv4.ip_forward=1``, ``net.ipv6.conf.all.forwarding=1``: the only
sysctls set, and only inside the router's own namespace). Replication, Sentinel traffic and the
client's writes all cross it, as they would in a routed fabric.

Daemons run in the foreground, one instance per namespace, each with its own files under the
topology's work directory and its own control socket (short paths under /tmp, since a unix socket
path is limited to 108 bytes):

- BIRD 2: ``bird -f -c CONF -s CTL -P PID``; log with millisecond timestamps.
- FRR: ``zebra`` and ``bgpd`` with ``-f CONF -i PID -z ZSERV --vty_socket DIR -u frr -g frr
  -P 0 --log file:LOG`` (own config, pid file, zebra API socket and vty directory: no shared
  /etc/frr or /var/run/frr state; no vty on TCP). They run as user frr (Debian's build wants
  the vty group frrvty, which root is not in), so their files live in a frr-owned run directory.

Observers:

- ``RouteWatcher`` (routes.py): the router's kernel routes for the VIPs, from a netlink dump every few
  milliseconds and at once on every route notification (RTNLGRP_IPV4_ROUTE / _IPV6_ROUTE); it
  records each change as (time, next hops) and counts samples with more than one next hop.
- ``Bird.rib_events()`` (speakers.py): the router's BIRD log (``debug { routes }`` on each session): every route
  a node announced or withdrew, per session, with millisecond wall-clock time. That is the RIB:
  two entries at once there means two nodes announced at once, whatever the kernel shows.
- ``RoutedVipWriter`` (routed_setup.py): writer.VipWriter's client, writing from obs to the
  routed VIP.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .netns import PREFIX, _ip, list_netns, pid_alive
from .topology import Topology

if TYPE_CHECKING:
    from .speakers import _Daemon



ROUTER = "rt"
CLIENT = "obs"
VIP4_R = "198.51.100.10/32"
VIP6_R = "2001:db8:100::10/128"
ROUTER_AS = 65000
ROUTER_ID = "192.0.2.1"
_HOST_INDEX = {"n1": 1, "n2": 2, "n3": 3, "n4": 4, CLIENT: 5}

# BGP timers of every session here (both ends): keepalive 1 s, hold 3 s (BIRD's minimum), and
# quick reconnects after a session fails (BIRD's defaults wait 60 s after an error, 120 s between
# connection attempts; a test that cuts a link would wait that long for the session to return).
HOLD_S = 3
KEEPALIVE_S = 1


# ----------------------------------------------------------------------------------------------
# topology


class RoutedPlan:
    """The addressing of the routed topology (see the module doc), without any namespace: the
    configuration generators take one, so docs/routed.md's snippets can be checked against them
    (test_routed.py::test_docs_quote_the_tested_configs). ``RoutedPlan.of(nodes, ipv6)``."""

    ipv6: bool
    node_names: list[str]

    @classmethod
    def of(cls, nodes: int = 3, ipv6: bool = False) -> "RoutedPlan":
        plan = cls.__new__(cls)
        plan.ipv6 = ipv6
        plan.node_names = [f"n{i}" for i in range(1, nodes + 1)]
        return plan

    @staticmethod
    def link4(host: str) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(f"192.0.2.{8 * _HOST_INDEX[host]}/29")

    @staticmethod
    def link6(host: str) -> ipaddress.IPv6Network:
        return ipaddress.ip_network(f"2001:db8:0:{_HOST_INDEX[host]}::/64")

    def addr4(self, host: str) -> str:
        return str(self.link4(host)[2])

    def addr6(self, host: str) -> str:
        return str(self.link6(host)[2])

    def router_addr4(self, host: str) -> str:
        """The router's address on its link to host (host's next hop and BGP neighbour)."""
        return str(self.link4(host)[1])

    def router_addr6(self, host: str) -> str:
        return str(self.link6(host)[1])

    def node_of_gateway(self, gw: str) -> str:
        """Host name of a next hop seen in the router's table ('?' + address if unknown)."""
        for h in self.node_names:
            if gw in (self.addr4(h), self.addr6(h)):
                return h
        return "?" + gw

    @staticmethod
    def node_as(host: str) -> int:
        return ROUTER_AS + _HOST_INDEX[host]


def sweep_stale_rundirs() -> list[str]:
    """Remove /tmp/vtr-<pid>-* run directories whose pid is dead (left by a crashed run)."""
    removed = []
    for d in Path("/tmp").glob("vtr-*-*"):
        m = re.match(r"^vtr-(\d+)-", d.name)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed


class RoutedTopology(RoutedPlan, Topology):
    """A router namespace ``rt`` with one point-to-point link to each node and to the client
    ``obs`` (see the module doc). Same API as Topology (``ns``, ``run``, ``popen``, ``client``,
    ``in_ns``, ``holders``, ``redis``, ``close``...); ``addr4(host)`` is the host's link address.
    ``daemons`` lists the routing daemons started here (their logs go into ``logs()``)."""

    def __init__(self, tag: str, nodes: int = 3, ipv6: bool = False, workdir: str | os.PathLike | None = None):
        if not 1 <= nodes <= 4:
            raise ValueError("nodes must be 1..4")
        self.daemons: list["_Daemon"] = []
        # unix sockets need short paths: one run directory per topology, removed at close
        self.rundir = Path(tempfile.mkdtemp(prefix=f"vtr-{os.getpid()}-", dir="/tmp"))
        super().__init__(tag, nodes=nodes, ipv6=ipv6, workdir=workdir)

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        # the router namespace takes the place of topology.py's bridge namespace
        self._ns = {h: f"{PREFIX}-{self.tag}-{self.pid}-{h}" for h in [ROUTER] + self.hosts}
        for name in self._ns.values():
            if name in list_netns():
                raise RuntimeError(f"namespace {name} already exists")
            _ip("netns", "add", name)
            self._created.append(name)
        rt = self._ns[ROUTER]
        batch = ["link set lo up", f"addr add {ROUTER_ID}/32 dev lo"]
        for h in self.hosts:
            batch += [f"link add v{h} type veth peer name eth0 netns {self._ns[h]}",
                      f"addr add {self.router_addr4(h)}/29 dev v{h}"]
            if self.ipv6:
                batch.append(f"addr add {self.router_addr6(h)}/64 dev v{h} nodad")
            batch.append(f"link set v{h} up")
        _ip("-n", rt, "-batch", "-", input="\n".join(batch) + "\n")
        sysctls = ["net.ipv4.ip_forward=1"] + (["net.ipv6.conf.all.forwarding=1"] if self.ipv6 else [])
        self.run(ROUTER, "sysctl", "-q", "-w", *sysctls)
        for h in self.hosts:
            b = ["link set lo up", f"addr add {self.addr4(h)}/29 dev eth0"]
            if self.ipv6:
                b.append(f"addr add {self.addr6(h)}/64 dev eth0 nodad")
            b += ["link set eth0 up", f"route add default via {self.router_addr4(h)}"]
            if self.ipv6:
                b.append(f"route add ::/0 via {self.router_addr6(h)}")
            _ip("-n", self._ns[h], "-batch", "-", input="\n".join(b) + "\n")

    # -- faults ---------------------------------------------------------------------------------
    def link_down(self, node: str, side: str = "router") -> None:
        """Take node's link down: the router's end (side='router') or the node's eth0."""
        if side == "router":
            self.ipcmd(ROUTER, "link", "set", f"v{self.short(node)}", "down")
        else:
            self.ipcmd(node, "link", "set", "eth0", "down")

    def link_up(self, node: str, side: str = "router") -> None:
        """Bring the link back; on the node's side also its default routes, which the kernel
        flushed with the link (as a host's network configuration would restore them)."""
        if side == "router":
            self.ipcmd(ROUTER, "link", "set", f"v{self.short(node)}", "up")
        else:
            h = self.short(node)
            self.ipcmd(node, "link", "set", "eth0", "up")
            self.ipcmd(node, "route", "replace", "default", "via", self.router_addr4(h))
            if self.ipv6:
                self.ipcmd(node, "-6", "route", "replace", "default", "via", self.router_addr6(h))

    def partition(self, node: str) -> None:
        """Cut node off from every other host while its BGP session to the router stays up: the
        router drops every packet from node that it would forward (a policy rule below the
        local table, so packets to the router itself, BGP included, still arrive). Replies
        to node never come back, so the node's TCP connections to the others all stall."""
        for fam in (["-4"] + (["-6"] if self.ipv6 else [])):
            self.ipcmd(ROUTER, fam, "rule", "add", "pref", "100", "iif", f"v{self.short(node)}", "blackhole")

    def heal(self, node: str) -> None:
        for fam in (["-4"] + (["-6"] if self.ipv6 else [])):
            self.ipcmd(ROUTER, fam, "rule", "del", "pref", "100", "iif", f"v{self.short(node)}", "blackhole")

    # -- logs and teardown ----------------------------------------------------------------------
    def logs(self, tail: int = 40) -> str:
        parts = [super().logs(tail)]
        for d in self.daemons:
            for f in d.logfiles():
                try:
                    lines = f.read_text(errors="replace").splitlines()[-tail:]
                except FileNotFoundError:
                    continue
                parts.append(f"----- {d.kind} {d.host} {f}")
                parts.append("\n".join(lines))
        return "\n".join(parts)

    def crashes(self) -> list[str]:
        found = super().crashes()
        for d in self.daemons:
            for p in d.procs:
                # a daemon that died by a signal we did not send (kill9/stop are ours)
                if p.poll() is not None and p.returncode < 0 and -p.returncode not in d.signalled:
                    found.append(f"{d.kind} {d.host} (pid {p.pid}) died by signal {-p.returncode}")
        return found

    def close(self) -> None:
        try:
            super().close()  # kills every process started here by pid, deletes the namespaces
        finally:
            for d in self.daemons:  # FRR's files live in the run directory: keep its logs
                if d.dir == d.run and self.workdir.exists() and not self._own_workdir:
                    keep = self.workdir / f"{d.kind}-{d.host}"
                    keep.mkdir(parents=True, exist_ok=True)
                    for f in list(d.dir.glob("*.log")) + list(d.dir.glob("*.conf")):
                        shutil.copy(f, keep / f.name)
            shutil.rmtree(self.rundir, ignore_errors=True)


