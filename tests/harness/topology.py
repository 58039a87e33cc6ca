"""The layer-2 test topology: a bridge namespace, node namespaces n1..nN and an observer.

Layout built by ``Topology(tag, nodes=3, ipv6=False)``::

    vt-<tag>-<pid>-br    bridge namespace: br0 (mcast_snooping off) + one veth per host (v<host>)
    vt-<tag>-<pid>-n1    node 1: eth0 192.0.2.11/24 (2001:db8::11/64 nodad)
    vt-<tag>-<pid>-n2    node 2: eth0 192.0.2.12/24 ...
    vt-<tag>-<pid>-n3    node 3: eth0 192.0.2.13/24 ...
    vt-<tag>-<pid>-obs   observer / client: eth0 192.0.2.50/24 (2001:db8::50/64 nodad)

With ``sentinel_hosts=N`` (1..9) the bridge also has Sentinel hosts of their own, so that what a
node can reach of the Sentinels can differ from what it can reach of the other nodes
(``firewall.py``, ``link_down``)::

    vt-<tag>-<pid>-s1    Sentinel host 1: eth0 192.0.2.31/24 (2001:db8::31/64 nodad)
    vt-<tag>-<pid>-s2    Sentinel host 2: eth0 192.0.2.32/24 ...

No sysctl is changed in any namespace: defaults are enough (an observer's EXISTING neighbour
entry flips on a gratuitous ARP / unsolicited NA without arp_accept).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import redis

from .clients import icmp_echo, netns_client
from .firewall import Firewall
from .frames import garp_frame, na_frame, send_frames
from .netns import (NODE_ADDR4, NODE_ADDR6, OBS_ADDR4, OBS_ADDR6, PREFIX, REDIS_PORT, SENTINEL_ADDR4, SENTINEL_ADDR6,
                    _ip, _kill_pids, _stop_popens, addr_only, list_netns, run_in_netns, wait_until)
from .pcap import Capture
from .processes import RedisGroup

_live_topologies: "weakref.WeakSet[Topology]" = weakref.WeakSet()
_seq_lock = threading.Lock()
_seq = 0


def _close_all_at_exit() -> None:
    for t in list(_live_topologies):
        try:
            t.close()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_close_all_at_exit)


def short_tag(text: str, maxlen: int = 8) -> str:
    t = re.sub(r"[^a-z0-9]", "", text.lower().replace("test_", "", 1))
    return (t[:maxlen] or "t")


class Topology:
    """A bridge namespace plus node namespaces n1..nN, optional Sentinel hosts s1..sK
    (``sentinel_hosts=K``) and an observer 'obs' (see module doc).

    ``ns(name)`` maps short names ('br', 'n1', 's1', 'obs') to full namespace names; every method
    taking ``ns`` accepts either form. Use as a context manager or call ``close()``.
    """

    def __init__(self, tag: str, nodes: int = 3, ipv6: bool = False, workdir: str | os.PathLike | None = None,
                 keep_workdir: bool | None = None, sentinel_hosts: int = 0):
        global _seq
        if not 1 <= nodes <= 9:
            raise ValueError("nodes must be 1..9")
        if not 0 <= sentinel_hosts <= 9:
            raise ValueError("sentinel_hosts must be 0..9")
        with _seq_lock:
            _seq += 1
            seq = _seq
        self.tag = short_tag(tag) + format(seq, "x")
        self.pid = os.getpid()
        self.ipv6 = ipv6
        self.node_names = [f"n{i}" for i in range(1, nodes + 1)]
        # hosts of their own for the Sentinels (harness/sentinel.py puts them there when present)
        self.sentinel_names = [f"s{i}" for i in range(1, sentinel_hosts + 1)]
        self.hosts = self.node_names + self.sentinel_names + ["obs"]
        self._ns = {h: f"{PREFIX}-{self.tag}-{self.pid}-{h}" for h in ["br"] + self.hosts}
        self._procs: list[subprocess.Popen] = []
        self._closed = False
        self._created: list[str] = []
        self._clients: list[redis.Redis] = []
        self.groups: list["RedisGroup"] = []
        self.captures: list["Capture"] = []
        self._firewalls: dict[str, "Firewall"] = {}
        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"vt-{self.tag}-"))
            self._own_workdir = True if keep_workdir is None else not keep_workdir
        else:
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._own_workdir = False
        _live_topologies.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- construction ------------------------------------------------------------------------
    def addr4(self, host: str) -> str:
        if host == "obs":
            return OBS_ADDR4
        return SENTINEL_ADDR4[host] if host in SENTINEL_ADDR4 else NODE_ADDR4[host]

    def addr6(self, host: str) -> str:
        if host == "obs":
            return OBS_ADDR6
        return SENTINEL_ADDR6[host] if host in SENTINEL_ADDR6 else NODE_ADDR6[host]

    def _build(self) -> None:
        for h in ["br"] + self.hosts:
            name = self._ns[h]
            if name in list_netns():
                raise RuntimeError(f"namespace {name} already exists")
            _ip("netns", "add", name)
            self._created.append(name)
        br = self._ns["br"]
        batch = ["link set lo up", "link add br0 type bridge mcast_snooping 0", "link set br0 up"]
        for h in self.hosts:
            batch += [f"link add v{h} type veth peer name eth0 netns {self._ns[h]}",
                      f"link set v{h} master br0", f"link set v{h} up"]
        _ip("-n", br, "-batch", "-", input="\n".join(batch) + "\n")
        for h in self.hosts:
            b = ["link set lo up", f"addr add {self.addr4(h)}/24 dev eth0"]
            if self.ipv6:
                b.append(f"addr add {self.addr6(h)}/64 dev eth0 nodad")
            b.append("link set eth0 up")
            _ip("-n", self._ns[h], "-batch", "-", input="\n".join(b) + "\n")

    # -- namespaces and processes ------------------------------------------------------------
    def ns(self, name: str) -> str:
        """Full namespace name for a short host name ('br', 'n1', 'obs'); full names pass through."""
        if name in self._ns:
            return self._ns[name]
        if name in self._ns.values():
            return name
        raise KeyError(f"unknown namespace {name!r}")

    def short(self, name: str) -> str:
        for k, v in self._ns.items():
            if name in (k, v):
                return k
        raise KeyError(name)

    @property
    def namespaces(self) -> list[str]:
        return list(self._created)

    def run(self, ns: str, *cmd: str, timeout: float = 10, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run cmd inside ns with `ip netns exec`, capturing text output."""
        full = self.ns(ns)
        cp = subprocess.run(["ip", "netns", "exec", full, *cmd], capture_output=True, text=True,
                            timeout=timeout, input=input)
        if check and cp.returncode != 0:
            raise RuntimeError(f"[{ns}] {' '.join(cmd)} failed ({cp.returncode}): "
                               f"{cp.stderr.strip() or cp.stdout.strip()}")
        return cp

    def ipcmd(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`ip -n NS args...` (faster than ip netns exec for ip commands)."""
        return _ip("-n", self.ns(ns), *args, check=check)

    def popen(self, ns: str, *cmd: str, wrapper: Iterable[str] = (), **kwargs: Any) -> subprocess.Popen:
        """Start cmd inside ns (`ip netns exec NS [wrapper...] cmd...`); the process is tracked
        and killed by close(). ip execs the command, so the Popen pid is the command's pid."""
        if self._closed:
            raise RuntimeError("topology closed")
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(ns), *wrapper, *cmd], **kwargs)
        self._procs.append(p)
        return p

    def client(self, ns: str, host: str, port: int = REDIS_PORT, **kwargs: Any) -> redis.Redis:
        """redis-py client connecting from inside ns (see module doc)."""
        c = netns_client(self.ns(ns), host, port, **kwargs)
        self._clients.append(c)
        return c

    def in_ns(self, ns: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a Python callable on a thread inside ns."""
        return run_in_netns(self.ns(ns), fn, *args, **kwargs)

    # -- inspection ---------------------------------------------------------------------------
    def addresses(self, ns: str, dev: str | None = "eth0") -> list[str]:
        """'addr/prefix' strings on dev (all devices when dev is None) in ns."""
        args = ["-j", "addr", "show"] + (["dev", dev] if dev else [])
        cp = self.ipcmd(ns, *args, check=dev is None)
        if cp.returncode != 0:
            return []
        out = []
        for link in json.loads(cp.stdout or "[]"):
            for a in link.get("addr_info", []):
                out.append(f"{a['local']}/{a['prefixlen']}")
        return out

    def address_details(self, ns: str, dev: str | None = None) -> list[dict]:
        """Raw addr_info dicts (with 'dev' added) from `ip -j addr show`."""
        args = ["-j", "addr", "show"] + (["dev", dev] if dev else [])
        cp = self.ipcmd(ns, *args, check=False)
        out = []
        for link in json.loads(cp.stdout or "[]"):
            for a in link.get("addr_info", []):
                out.append(dict(a, dev=link.get("ifname")))
        return out

    def has_address(self, ns: str, addr: str, dev: str | None = None) -> bool:
        want = addr_only(addr)
        return any(addr_only(a) == want for a in self.addresses(ns, dev))

    def holders(self, vip: str, dev: str | None = None) -> list[str]:
        """Short names of the node namespaces that currently have vip (any device unless dev)."""
        return [n for n in self.node_names if self.has_address(n, vip, dev)]

    def mac(self, ns: str, dev: str = "eth0") -> str:
        cp = self.ipcmd(ns, "-j", "link", "show", "dev", dev)
        return json.loads(cp.stdout)[0]["address"].lower()

    def neigh(self, ns: str, ip: str, dev: str = "eth0") -> Optional[str]:
        """MAC (lower case) of ip in ns's neighbour table, or None (absent / incomplete / failed)."""
        e = self.neigh_entry(ns, ip, dev)
        if not e or "lladdr" not in e:
            return None
        if any(s in ("FAILED", "INCOMPLETE") for s in e.get("state", [])):
            return None
        return e["lladdr"].lower()

    def neigh_entry(self, ns: str, ip: str, dev: str = "eth0") -> Optional[dict]:
        cp = self.ipcmd(ns, "-j", "neigh", "show", addr_only(ip), "dev", dev, check=False)
        entries = json.loads(cp.stdout or "[]") if cp.returncode == 0 else []
        return entries[0] if entries else None

    def ping(self, ns: str, ip: str, count: int = 1, timeout_s: float = 2) -> bool:
        """ICMP/ICMPv6 echo from ns to ip (pure Python raw socket, no iputils needed).
        True when any of count echo requests gets a reply. Creates the neighbour entry."""
        return bool(self.in_ns(ns, icmp_echo, addr_only(ip), count, timeout_s))

    def send_garp(self, ns: str, ip: str, dev: str = "eth0", op: int = 1, count: int = 1) -> None:
        """Send gratuitous ARP (op 1 request / op 2 reply) for ip from dev's MAC in ns.
        Harness self-tests and peers' comparisons use it; the module sends its own."""
        mac = self.mac(ns, dev)
        self.in_ns(ns, send_frames, dev, [garp_frame(mac, addr_only(ip), op)] * count)

    def send_unsolicited_na(self, ns: str, ip6: str, dev: str = "eth0", count: int = 1) -> None:
        """Send an unsolicited NA (override flag, target LLA option) for ip6 to ff02::1."""
        mac = self.mac(ns, dev)
        self.in_ns(ns, send_frames, dev, [na_frame(mac, addr_only(ip6))] * count)

    # -- faults -------------------------------------------------------------------------------
    def link_down(self, node: str, side: str = "bridge") -> None:
        """Cut node off: its veth peer in the bridge ns (side='bridge') or its eth0 (side='node')."""
        if side == "bridge":
            self.ipcmd("br", "link", "set", f"v{self.short(node)}", "down")
        else:
            self.ipcmd(node, "link", "set", "eth0", "down")

    def link_up(self, node: str, side: str = "bridge") -> None:
        if side == "bridge":
            self.ipcmd("br", "link", "set", f"v{self.short(node)}", "up")
        else:
            self.ipcmd(node, "link", "set", "eth0", "up")

    def firewall(self, ns: str) -> "Firewall":
        """The packet filter of one namespace (firewall.py): drop traffic between it and given
        hosts or addresses, one way or both, and undo it. It lives in the namespace and goes
        with it at close()."""
        key = self.short(ns)
        if key not in self._firewalls:
            self._firewalls[key] = Firewall(self, key)
        return self._firewalls[key]

    def add_veth(self, ns: str, name: str, peer: str | None = None, up: bool = True) -> None:
        """Create a veth pair name/peer inside ns (used to make an interface appear later)."""
        peer = peer or (name[:13] + "p")
        self.ipcmd(ns, "link", "add", name, "type", "veth", "peer", "name", peer)
        if up:
            self.ipcmd(ns, "link", "set", name, "up")
            self.ipcmd(ns, "link", "set", peer, "up")
            # Until the kernel's linkwatch has seen the carrier (deferred, up to a second on a busy
            # machine), a new veth's qdisc is noop and drops every frame sent on it: wait for
            # operstate UP on both ends before anything is sent.
            def both_up() -> bool:
                return all(" state UP " in self.ipcmd(ns, "-o", "link", "show", "dev", d).stdout
                           for d in (name, peer))
            wait_until(both_up, 10, 0.02, msg=f"{name}/{peer} operstate UP in {ns}")

    # -- redis helpers ------------------------------------------------------------------------
    def redis(self, **kwargs: Any) -> "RedisGroup":
        """Create (not start) a RedisGroup on this topology's nodes; see RedisGroup."""
        g = RedisGroup(self, **kwargs)
        self.groups.append(g)
        return g

    def capture(self, ns: str = "obs", dev: str = "eth0", filter: str = "arp or icmp6",
                start: bool = True) -> "Capture":
        c = Capture(self, ns, dev, filter)
        self.captures.append(c)
        if start:
            c.start()
        return c

    def logs(self, tail: int = 40) -> str:
        """Tails of every Redis / Sentinel log of this topology (for failure reports)."""
        parts = []
        for g in self.groups:
            for proc in list(g.nodes.values()) + list(g.sentinels.values()):
                parts.append(f"----- {proc.kind} {proc.name} ({proc.ns}) {proc.logfile}")
                parts.append(proc.log_tail(tail))
        return "\n".join(parts)

    def crashes(self) -> list[str]:
        """Crash reports in any Redis / Sentinel log of this topology: 'crashed by signal', a
        bug report, a failed assertion. Every test fails on one (conftest.py)."""
        signs = ("crashed by signal", "BUG REPORT START", "ASSERTION FAILED", "Guru Meditation",
                 "panicked at")
        found = []
        for g in self.groups:
            for proc in list(g.nodes.values()) + list(g.sentinels.values()):
                text = proc.log_text()
                for sign in signs:
                    i = text.find(sign)
                    if i >= 0:
                        found.append(f"{proc.kind} {proc.name}: {text[max(0, i - 300):i + 1500]}")
                        break
        return found

    # -- teardown -----------------------------------------------------------------------------
    def close(self) -> None:
        """Kill every process started here (SIGTERM, short grace, SIGKILL), delete namespaces."""
        if self._closed:
            return
        self._closed = True
        for c in self._clients:
            try:
                c.close()
                c.connection_pool.disconnect()
            except Exception:  # noqa: BLE001
                pass
        _stop_popens(self._procs, grace=1.0)
        # anything else still inside our namespaces (e.g. a child that escaped): kill by pid
        for name in self._created:
            cp = _ip("netns", "pids", name, check=False)
            stray = [int(x) for x in cp.stdout.split() if x.strip().isdigit()]
            if stray:
                _kill_pids(stray, grace=0.2)
        for name in reversed(self._created):
            _ip("netns", "del", name, check=False)
        self._created = []
        _live_topologies.discard(self)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Topology":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
