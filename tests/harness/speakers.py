"""The routing daemons of the routed topology: BIRD 2 and FRR, their configurations (docs/routed.md
quotes these), and the router's RIB read from its BIRD log.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .netns import wait_until
from .routed import HOLD_S, KEEPALIVE_S, ROUTER_AS, ROUTER_ID, VIP4_R, VIP6_R, RoutedPlan, RoutedTopology

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
