"""Routed test topology: the VIP as a /32 (and /128) announced over BGP (issue 11).

Built on topology.py's primitives (namespace naming and sweeping, ``ip netns exec`` processes
killed by pid at close, clients entering a namespace on a fresh thread). Nothing is created in
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

- ``RouteWatcher``: the router's kernel routes for the VIPs, from a netlink dump every few
  milliseconds and at once on every route notification (RTNLGRP_IPV4_ROUTE / _IPV6_ROUTE); it
  records each change as (time, next hops) and counts samples with more than one next hop.
- ``Bird.rib_events()``: the router's BIRD log (``debug { routes }`` on each session): every route
  a node announced or withdrew, per session, with millisecond wall-clock time. That is the RIB:
  two entries at once there means two nodes announced at once, whatever the kernel shows.
- ``RoutedVipWriter``: helpers.VipWriter's client, writing from obs to the routed VIP.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from helpers import (VipWriter, any_dead, assert_alive, module_args, start_sentinels, statuses)
from topology import (PREFIX, RedisGroup, Topology, _ip, addr_only,
                      list_netns, pid_alive, wait_until)

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

BIRD = shutil.which("bird") or "/usr/sbin/bird"
BIRDC = shutil.which("birdc") or "/usr/sbin/birdc"
FRR_DIR = Path("/usr/lib/frr")
VTYSH = shutil.which("vtysh") or "/usr/bin/vtysh"


def speakers_available() -> Optional[str]:
    """None when BIRD 2 and FRR are installed, else what is missing (scripts/install-deps.sh)."""
    missing = [p for p in (BIRD, BIRDC, str(FRR_DIR / "zebra"), str(FRR_DIR / "bgpd"), VTYSH)
               if not os.access(p, os.X_OK)]
    return f"not installed: {' '.join(missing)} (scripts/install-deps.sh: bird2, frr)" if missing else None


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


# ----------------------------------------------------------------------------------------------
# routing daemons


class _Daemon:
    kind = "daemon"

    def __init__(self, topo: RoutedTopology, host: str):
        self.topo = topo
        self.host = host
        self.dir = topo.workdir / f"{self.kind}-{host}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run = topo.rundir / host
        self.run.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.signalled: set[int] = set()
        topo.daemons.append(self)

    def _start(self, *cmd: str) -> subprocess.Popen:
        out = open(self.dir / "stdout.log", "ab")
        try:
            p = self.topo.popen(self.host, *cmd, stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        self.procs.append(p)
        return p

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def signal(self, sig: int) -> None:
        """Send sig to every process of this daemon, by pid."""
        self.signalled.add(int(sig))
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, sig)

    def logfiles(self) -> list[Path]:
        return [self.dir / "stdout.log"]


class Bird(_Daemon):
    """One BIRD 2 instance in a namespace: ``bird -f -c CONF -s CTL -P PID``."""

    kind = "bird"

    def __init__(self, topo: RoutedTopology, host: str, conf: str):
        super().__init__(topo, host)
        self.conf = self.dir / "bird.conf"
        self.log = self.dir / "bird.log"
        self.ctl = self.run / "bird.ctl"
        self.pidfile = self.run / "bird.pid"
        self.conf.write_text(conf.replace("@LOG@", str(self.log)))

    def start(self) -> "Bird":
        self._start(BIRD, "-f", "-c", str(self.conf), "-s", str(self.ctl), "-P", str(self.pidfile))
        wait_until(lambda: self._ready(), 10, 0.05, msg=lambda: f"bird {self.host} answers on {self.ctl}\n"
                                                               f"{self.tail()}")
        return self

    def _ready(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"bird {self.host} exited:\n{self.tail()}")
        return self.ctl.exists() and self.birdc("show status").returncode == 0

    def birdc(self, command: str) -> subprocess.CompletedProcess:
        """``birdc -s CTL command`` (the control socket is a file: no namespace needed)."""
        return subprocess.run([BIRDC, "-s", str(self.ctl), *command.split()], capture_output=True, text=True,
                              timeout=10)

    def show(self, command: str) -> str:
        cp = self.birdc(command)
        if cp.returncode != 0:
            raise RuntimeError(f"birdc {command} on {self.host}: {cp.stderr or cp.stdout}")
        return cp.stdout

    def established(self) -> set[str]:
        """Names of the BGP protocols in state Established."""
        out = set()
        for line in self.show("show protocols").splitlines():
            f = line.split()
            if len(f) >= 6 and f[1] == "BGP" and "Established" in line:
                out.add(f[0])
        return out

    def routes(self, prefix: str) -> list[str]:
        """Session names that BIRD holds a route for prefix from, best first."""
        text = self.show(f"show route for {prefix} all")
        return re.findall(r"\[(\w+) [^\]]*\]", text)

    def tail(self, n: int = 20) -> str:
        parts = []
        for f in self.logfiles():
            try:
                parts.append("\n".join(f.read_text(errors="replace").splitlines()[-n:]))
            except FileNotFoundError:
                pass
        return "\n".join(parts)

    def logfiles(self) -> list[Path]:
        return [self.log, self.dir / "stdout.log"]

    def rib_events(self, prefix: str) -> list["RibEvent"]:
        """Routes for prefix that the sessions of this BIRD imported or withdrew, from its log
        (``debug { routes }``): RibEvent(wall, session, 'add'|'remove')."""
        return parse_bird_rib_log(self.log, prefix)


class Frr(_Daemon):
    """zebra + bgpd of FRR in one namespace, with their own config, pid files, zebra API socket
    and vty directory (``vtysh --vty_socket DIR`` reaches them)."""

    kind = "frr"

    def __init__(self, topo: RoutedTopology, host: str, bgpd_conf: str, zebra_conf: str):
        super().__init__(topo, host)
        # FRR's daemons drop to user frr (whose group frrvty guards the vty sockets) before
        # they read their config and open their logs: everything of theirs lives in the run
        # directory, owned by frr; the logs are copied to the work directory at close.
        self.dir = self.run
        os.chmod(self.topo.rundir, 0o755)
        shutil.chown(self.run, "frr", "frr")
        self.bgpd_conf = self.dir / "bgpd.conf"
        self.zebra_conf = self.dir / "zebra.conf"
        self.bgpd_conf.write_text(bgpd_conf)
        self.zebra_conf.write_text(zebra_conf)
        self.zserv = self.run / "zserv.api"

    def _common(self, daemon: str) -> list[str]:
        return ["-i", str(self.run / f"{daemon}.pid"), "-z", str(self.zserv), "--vty_socket", str(self.run),
                "-u", "frr", "-g", "frr", "-P", "0", "--log", f"file:{self.dir / (daemon + '.log')}",
                "--log-level", "info"]

    def start(self) -> "Frr":
        self._start(str(FRR_DIR / "zebra"), "-f", str(self.zebra_conf), *self._common("zebra"))
        wait_until(lambda: self._ready("zebra") and self.zserv.exists(), 10, 0.05,
                   msg=lambda: f"zebra {self.host} up\n{self.tail()}")
        self._start(str(FRR_DIR / "bgpd"), "-f", str(self.bgpd_conf), *self._common("bgpd"))
        wait_until(lambda: self._ready("bgpd"), 10, 0.05, msg=lambda: f"bgpd {self.host} up\n{self.tail()}")
        return self

    def _ready(self, daemon: str) -> bool:
        if not self.alive():
            raise RuntimeError(f"frr {self.host} exited:\n{self.tail()}")
        return (self.run / f"{daemon}.vty").exists()

    def vtysh(self, command: str, daemon: str = "bgpd") -> str:
        cp = subprocess.run([VTYSH, "--vty_socket", str(self.run), "-d", daemon, "-c", command],
                            capture_output=True, text=True, timeout=10)
        if cp.returncode != 0:
            raise RuntimeError(f"vtysh -c {command!r} on {self.host}: {cp.stderr or cp.stdout}")
        return cp.stdout

    def logfiles(self) -> list[Path]:
        return [self.dir / "zebra.log", self.dir / "bgpd.log", self.dir / "stdout.log"]

    def tail(self, n: int = 20) -> str:
        parts = []
        for f in self.logfiles():
            try:
                parts.append(f"-- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-n:]))
            except FileNotFoundError:
                pass
        return "\n".join(parts)


# ----------------------------------------------------------------------------------------------
# configurations (docs/routed.md quotes these; keep them readable)


def router_bird_conf(topo: RoutedPlan, bfd: bool = False, ecmp: bool = False) -> str:
    """The router: one eBGP session per node; from each it accepts the VIP /32 (/128) and
    nothing else, and installs the best route in its kernel table. Without ``ecmp`` one next hop
    per prefix (what docs/routed.md recommends); the tests set ``ecmp`` (``merge paths yes``) so
    that two nodes announcing at once would show as two next hops in the kernel."""
    v6 = topo.ipv6
    lines = [
        'log "@LOG@" all;',
        "timeformat log iso long ms;",
        f"router id {ROUTER_ID};",
        "",
        "protocol device {}",
        "",
        "# From the Redis nodes: the VIP itself, nothing else.",
        f"filter vip_in {{ if net = {VIP4_R} then accept; reject; }}",
    ]
    if v6:
        lines.append(f"filter vip6_in {{ if net = {VIP6_R} then accept; reject; }}")
    lines += [
        "",
        "protocol kernel {",
        "  ipv4 { import none; export where source = RTS_BGP; };",
    ]
    merge = ["  merge paths yes;  # ECMP: only so that an overlap would show"] if ecmp else []
    lines += merge + ["}"]
    if v6:
        lines += ["protocol kernel {", "  ipv6 { import none; export where source = RTS_BGP; };", *merge, "}"]
    if bfd:
        lines += ["",
                  "protocol bfd {",
                  '  interface "v*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };',
                  "}"]
    timers = (f"  hold time {HOLD_S}; keepalive time {KEEPALIVE_S};\n"
              "  connect delay time 1; connect retry time 1; error wait time 1, 5;\n"
              f"{'  bfd on;' + chr(10) if bfd else ''}"
              "  debug { states, routes };  # the tests read the router's RIB from this log")
    lines += ["", "template bgp redis_node {", f"  local as {ROUTER_AS};", timers,
              "  ipv4 { import filter vip_in; export none; };", "}"]
    if v6:
        lines += ["template bgp redis_node6 {", f"  local as {ROUTER_AS};", timers,
                  "  ipv6 { import filter vip6_in; export none; };", "}"]
    for n in topo.node_names:
        lines.append(f"protocol bgp {n} from redis_node {{ neighbor {topo.addr4(n)} as {topo.node_as(n)}; }}")
        if v6:
            lines.append(f"protocol bgp {n}_6 from redis_node6 {{ neighbor {topo.addr6(n)} as {topo.node_as(n)}; }}")
    return "\n".join(lines) + "\n"


def node_bird_conf(topo: RoutedPlan, node: str, bfd: bool = False) -> str:
    """A node: ``protocol direct`` on lo picks up the VIP the module adds and deletes; the
    session to the router exports that /32 (/128) and nothing else, and imports nothing."""
    v6 = topo.ipv6
    lines = [
        'log "@LOG@" all;',
        "timeformat log iso long ms;",
        f"router id {topo.addr4(node)};",
        "",
        "protocol device {}",
        "",
        "# The VIP, while the module holds it (it lives on lo, with a 1 s lifetime).",
        "protocol direct vip {",
        "  ipv4;" + ("\n  ipv6;" if v6 else ""),
        '  interface "lo";',
        "}",
    ]
    if bfd:
        lines += ["", "protocol bfd {",
                  '  interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };', "}"]
    timers = (f"  hold time {HOLD_S}; keepalive time {KEEPALIVE_S};\n"
              "  connect delay time 1; connect retry time 1; error wait time 1, 5;"
              f"{chr(10) + '  bfd on;' if bfd else ''}")
    lines += ["", "protocol bgp uplink {", f"  local as {topo.node_as(node)};",
              f"  neighbor {topo.router_addr4(node)} as {ROUTER_AS};", timers,
              f"  ipv4 {{ import none; export where net = {VIP4_R}; }};", "}"]
    if v6:
        lines += ["protocol bgp uplink6 {", f"  local as {topo.node_as(node)};",
                  f"  neighbor {topo.router_addr6(node)} as {ROUTER_AS};", timers,
                  f"  ipv6 {{ import none; export where net = {VIP6_R}; }};", "}"]
    return "\n".join(lines) + "\n"


def node_frr_conf(topo: RoutedPlan, node: str) -> tuple[str, str]:
    """(bgpd.conf, zebra.conf) of a node running FRR: zebra sees the VIP as a connected route
    on lo; ``redistribute connected`` through a route-map that lets only the VIP pass, and the
    same route-map on the session out (FRR refuses to send anything on an eBGP session without
    an outbound policy); nothing accepted in."""
    v6 = topo.ipv6
    r4 = topo.router_addr4(node)
    r6 = topo.router_addr6(node) if v6 else None
    lines = [
        f"hostname {node}",
        "!",
        f"ip prefix-list VIP seq 10 permit {VIP4_R}",
    ]
    if v6:
        lines.append(f"ipv6 prefix-list VIP6 seq 10 permit {VIP6_R}")
    lines += ["!", "route-map VIP-ONLY permit 10", " match ip address prefix-list VIP", "exit"]
    if v6:
        lines += ["route-map VIP6-ONLY permit 10", " match ipv6 address prefix-list VIP6", "exit"]
    lines += ["route-map NOTHING deny 10", "exit", "!",
              f"router bgp {topo.node_as(node)}",
              f" bgp router-id {topo.addr4(node)}",
              f" neighbor {r4} remote-as {ROUTER_AS}",
              f" neighbor {r4} timers {KEEPALIVE_S} {HOLD_S}",
              f" neighbor {r4} timers connect 1",
              f" neighbor {r4} advertisement-interval 0"]
    if v6:
        lines += [f" neighbor {r6} remote-as {ROUTER_AS}",
                  f" neighbor {r6} timers {KEEPALIVE_S} {HOLD_S}",
                  f" neighbor {r6} timers connect 1",
                  f" neighbor {r6} advertisement-interval 0"]
    lines += [" !", " address-family ipv4 unicast",
              "  redistribute connected route-map VIP-ONLY",
              f"  neighbor {r4} route-map NOTHING in",
              f"  neighbor {r4} route-map VIP-ONLY out"]
    if v6:
        lines.append(f"  no neighbor {r6} activate")
    lines.append(" exit-address-family")
    if v6:
        lines += [" !", " address-family ipv6 unicast",
                  "  redistribute connected route-map VIP6-ONLY",
                  f"  neighbor {r6} activate",
                  f"  neighbor {r6} route-map NOTHING in",
                  f"  neighbor {r6} route-map VIP6-ONLY out",
                  " exit-address-family"]
    lines += ["exit", "!"]
    zebra = f"hostname {node}\n!\n"
    return "\n".join(lines) + "\n", zebra


# ----------------------------------------------------------------------------------------------
# the router's RIB, from BIRD's log


@dataclass
class RibEvent:
    wall: float  # unix time (BIRD's log timestamp, ms)
    session: str  # the router's BGP protocol name: the node (n1) or n1_6
    op: str  # 'add' or 'remove'


# e.g. "2026-12-02 15:10:26.657 <TRACE> n1.ipv4 > added [best] 198.51.100.10/32 0L 4G unicast"
_BIRD_LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) <TRACE> (\w+)\.ipv[46] > "
                          r"(added|removed|filtered out|ignored)(?: \[[^\]]*\])* (\S+)")


def parse_bird_rib_log(path: Path, prefix: str) -> list[RibEvent]:
    """Imports of prefix into the router's table: the '>' lines of ``debug { routes }``."""
    want = str(ipaddress.ip_network(prefix))
    out = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        m = _BIRD_LOG_RE.match(line)
        if not m or m.group(4) != want or m.group(3) not in ("added", "removed"):
            continue
        dt = _dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
        ts = time.mktime(dt.timetuple()) + dt.microsecond / 1e6
        out.append(RibEvent(ts, m.group(2), "add" if m.group(3) == "added" else "remove"))
    return out


def rib_overlap_ms(events: list[RibEvent], since: float = float("-inf")) -> float:
    """Milliseconds (at BIRD's millisecond resolution) during which the RIB held routes from two
    or more sessions, from wall time ``since`` on."""
    tl = rib_timeline(events)
    total = 0.0
    for (t, held), nxt in zip(tl, tl[1:] + [(None, frozenset())]):
        if len(held) > 1 and nxt[0] is not None and nxt[0] >= since:
            total += nxt[0] - max(t, since)
    return total * 1000


def rib_timeline(events: list[RibEvent]) -> list[tuple[float, frozenset[str]]]:
    """(wall, sessions holding a route) after each event, in order."""
    cur: set[str] = set()
    out = []
    for e in events:
        if e.op == "add":
            cur.add(e.session)
        else:
            cur.discard(e.session)
        out.append((e.wall, frozenset(cur)))
    return out


# ----------------------------------------------------------------------------------------------
# the router's kernel table, watched over netlink

_NLMSG_HDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_RTNEXTHOP = struct.Struct("=HBBi")
_RTM_NEWROUTE, _RTM_GETROUTE = 24, 26
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_RTA_DST, _RTA_GATEWAY, _RTA_MULTIPATH, _RTA_TABLE = 1, 5, 9, 15
_RT_TABLE_MAIN = 254
_RTMGRP_IPV4_ROUTE, _RTMGRP_IPV6_ROUTE = 0x40, 0x400


def _netlink(groups: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((0, groups))
    s.settimeout(2.0)
    return s


def _attrs(data: bytes, off: int, end: int):
    while off + _RTATTR.size <= end:
        alen, atype = _RTATTR.unpack_from(data, off)
        if alen < _RTATTR.size:
            return
        yield atype, data[off + 4:off + alen]
        off += (alen + 3) & ~3


def dump_routes(s: socket.socket, seq: int, prefixes: dict[tuple[int, bytes, int], str]) -> dict[str, tuple[str, ...]]:
    """One RTM_GETROUTE dump (IPv4 and IPv6, main table) on netlink socket s: for each watched
    prefix, the sorted next-hop gateways of every route to it (several = ECMP or several routes)."""
    out: dict[str, list[str]] = {p: [] for p in prefixes.values()}
    families = sorted({fam for fam, _, _ in prefixes})
    for fam in families:
        s.send(_NLMSG_HDR.pack(_NLMSG_HDR.size + _RTMSG.size, _RTM_GETROUTE, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0)
               + _RTMSG.pack(fam, 0, 0, 0, 0, 0, 0, 0, 0))
        done = False
        while not done:
            data = s.recv(1 << 16)
            off = 0
            while off + _NLMSG_HDR.size <= len(data):
                ln, typ, _fl, sq, _pid = _NLMSG_HDR.unpack_from(data, off)
                if ln < _NLMSG_HDR.size:
                    raise ValueError("short netlink message")
                if sq == seq:
                    if typ == _NLMSG_DONE:
                        done = True
                    elif typ == _NLMSG_ERROR:
                        code = struct.unpack_from("=i", data, off + 16)[0]
                        if code:
                            raise OSError(-code, "netlink route dump failed")
                    elif typ == _RTM_NEWROUTE:
                        _route(data, off, ln, fam, prefixes, out)
                off += (ln + 3) & ~3
    return {p: tuple(sorted(v)) for p, v in out.items()}


def _route(data: bytes, off: int, ln: int, fam: int, prefixes, out) -> None:
    rfam, dst_len, _sl, _tos, table, _proto, _scope, rtype, _flags = _RTMSG.unpack_from(data, off + 16)
    if rtype != 1:  # RTN_UNICAST only
        return
    dst = b""
    gws: list[str] = []
    for atype, val in _attrs(data, off + 16 + _RTMSG.size, off + ln):
        if atype == _RTA_DST:
            dst = val
        elif atype == _RTA_TABLE:
            table = struct.unpack("=I", val)[0]
        elif atype == _RTA_GATEWAY:
            gws.append(socket.inet_ntop(rfam, val))
        elif atype == _RTA_MULTIPATH:
            o = 0
            while o + _RTNEXTHOP.size <= len(val):
                nlen, _f, _h, _ifi = _RTNEXTHOP.unpack_from(val, o)
                if nlen < _RTNEXTHOP.size:
                    break
                for a2, v2 in _attrs(val, o + _RTNEXTHOP.size, o + nlen):
                    if a2 == _RTA_GATEWAY:
                        gws.append(socket.inet_ntop(rfam, v2))
                o += (nlen + 3) & ~3
    if table != _RT_TABLE_MAIN:
        return
    key = (rfam, dst, dst_len)
    if key in prefixes:
        out[prefixes[key]] += gws or ["(no gateway)"]


@dataclass
class RouteChange:
    t: float  # time.monotonic() of the dump that saw it
    wall: float
    prefix: str
    hops: tuple[str, ...]  # node names (n1...) of the next hops; () = no route


class RouteWatcher:
    """The router's kernel table for ``prefixes``, read with a netlink dump every ``interval``
    seconds and at once whenever the kernel notifies a route change. Records every change
    (``changes``), the number of dumps (``samples``) and the dumps that showed more than one
    next hop for a prefix (``multi``). Use as a context manager."""

    def __init__(self, topo: RoutedTopology, prefixes: Iterable[str], interval: float = 0.005):
        self.topo = topo
        self.interval = interval
        self.prefixes = [str(ipaddress.ip_network(p)) for p in prefixes]
        self._keys = {}
        for p in self.prefixes:
            net = ipaddress.ip_network(p)
            fam = socket.AF_INET if net.version == 4 else socket.AF_INET6
            self._keys[(fam, net.network_address.packed, net.prefixlen)] = p
        self.changes: list[RouteChange] = []
        self.multi: list[RouteChange] = []
        self.samples = 0
        self.errors: list[str] = []
        self.max_gap = 0.0
        self.current: dict[str, tuple[str, ...]] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def start(self) -> "RouteWatcher":
        groups = _RTMGRP_IPV4_ROUTE | (_RTMGRP_IPV6_ROUTE if any(":" in p for p in self.prefixes) else 0)
        self._mon = self.topo.in_ns(ROUTER, _netlink, groups)
        self._dump = self.topo.in_ns(ROUTER, _netlink, 0)
        self._mon.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="route-watcher", daemon=True)
        self._thread.start()
        wait_until(lambda: self.samples > 0 or self.errors, 10, 0.01, msg="first route dump")
        return self

    def _run(self) -> None:
        seq = 1
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                select.select([self._mon], [], [], self.interval)
                try:
                    while self._mon.recv(1 << 16):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                seq += 1
                t, wall = time.monotonic(), time.time()
                snap = dump_routes(self._dump, seq, self._keys)
                with self._lock:
                    self.samples += 1
                    self.max_gap = max(self.max_gap, t - last)
                    last = t
                    for p, gws in snap.items():
                        hops = tuple(self.topo.node_of_gateway(g) for g in gws)
                        if self.current.get(p) != hops:
                            self.current[p] = hops
                            self.changes.append(RouteChange(t, wall, p, hops))
                        if len(hops) > 1:
                            self.multi.append(RouteChange(t, wall, p, hops))
            except Exception as exc:  # noqa: BLE001 - recorded, watching goes on
                self.errors.append(f"{type(exc).__name__}: {exc}")
                try:
                    self._dump.close()
                except OSError:
                    pass
                self._dump = self.topo.in_ns(ROUTER, _netlink, 0)
                time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for s in (getattr(self, "_mon", None), getattr(self, "_dump", None)):
            if s is not None:
                s.close()

    def __enter__(self) -> "RouteWatcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def hops(self, prefix: str) -> tuple[str, ...]:
        with self._lock:
            return self.current.get(str(ipaddress.ip_network(prefix)), ())

    def history(self, prefix: str, since: float = float("-inf")) -> list[RouteChange]:
        p = str(ipaddress.ip_network(prefix))
        with self._lock:
            return [c for c in self.changes if c.prefix == p and c.t >= since]

    def wait_for(self, prefix: str, pred, timeout: float, msg: str, since: Optional[float] = None) -> RouteChange:
        """The first recorded change (at or after ``since``, default now) whose hops satisfy pred;
        when since is given and the state then already satisfied pred, the change that made it."""
        start = time.monotonic() if since is None else since

        def found() -> Optional[RouteChange]:
            for c in self.history(prefix):
                if c.t >= start and pred(c.hops):
                    return c
            return None

        return wait_until(found, timeout, 0.01, msg=lambda: f"{msg} (router's route for {prefix}: "
                                                            f"{self.describe(prefix)})")

    def duration_ms(self, prefix: str, pred, since: float = float("-inf"), until: Optional[float] = None) -> float:
        """Milliseconds during which pred(hops) held for prefix, from the recorded changes (each
        state lasts until the next change, the last one until ``until`` or now)."""
        hist = self.history(prefix)
        end = time.monotonic() if until is None else until
        total = 0.0
        for a, b in zip(hist, hist[1:] + [None]):
            t_end = b.t if b is not None else end
            lo = max(a.t, since)
            if pred(a.hops) and t_end > lo:
                total += t_end - lo
        return total * 1000

    def describe(self, prefix: str, t0: Optional[float] = None) -> str:
        hist = self.history(prefix)
        if not hist:
            return "(no dumps)"
        base = hist[0].t if t0 is None else t0
        return "; ".join(f"{c.t - base:+.3f}s {'+'.join(c.hops) or '-'}" for c in hist)


# ----------------------------------------------------------------------------------------------
# a client writing through the routed VIP


class RoutedVipWriter(VipWriter):
    """helpers.VipWriter writing from the client namespace to the routed VIP (``vip``)."""

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


__all__ = ["RoutedTopology", "RoutedPlan", "sweep_stale_rundirs", "Bird", "Frr", "RouteWatcher", "RouteChange", "RibEvent", "RoutedVipWriter",
           "Routed", "start_routed", "routed_module_args", "vips_of", "router_hops", "rib_timeline", "rib_overlap_ms", "parse_bird_rib_log", "router_bird_conf",
           "node_bird_conf", "node_frr_conf", "speakers_available", "VIP4_R", "VIP6_R", "ROUTER", "CLIENT",
           "HOLD_S"]
