"""Helpers for the Sentinel-mode tests (test_sentinel.py), the chaos run (chaos/run.py) and the
benchmarks (bench/).

Built on topology.py (namespaces, Redis/Sentinel processes); nothing here touches the root
namespace. The main pieces:

- ``AddrDumper`` / ``HolderSampler``: who holds the VIP, sampled every few milliseconds with one
  netlink RTM_GETADDR dump per node namespace (a NETLINK_ROUTE socket opened inside each
  namespace, no subprocess per sample). The sampler records (time, holders) so that properties
  are checked over the whole history: "no sample shows two holders", "n2 never released".
- ``VipWriter``: a client in the observer namespace writing through the VIP, recording which
  node acknowledged each write (one TCP connection = one server, asked once per connection).
- ``start_sentinel_group``: 3 Redis nodes with the module in the Sentinel-confirmed mode plus 3
  Sentinels (optionally with requirepass or an ACL user on the Sentinels).
- ``promotions``: when each node logged "MASTER MODE enabled" (REPLICAOF NO ONE), from the
  Redis logs (millisecond wall-clock timestamps of the server itself).
- ``status``: VIP.STATUS with string values.
"""

from __future__ import annotations

import datetime as _dt
import errno
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from redis.backoff import NoBackoff
from redis.retry import Retry

from topology import (MASTER_NAME, REDIS_PORT, SENTINEL_PORT, NetnsConnection, RedisGroup, RedisNode,
                      SentinelNode, Topology, VIP4, addr_only, pairs_to_dict, wait_until)

VIP_IP = addr_only(VIP4)  # 192.0.2.100

SENTINEL_USER = "vipmodule"
SENTINEL_PASS = "vip-sentinel-secret"

# Sentinel's usual setting, which the Sentinel-confirmed mode is built for.
DOWN_AFTER_MS = 1000


# ----------------------------------------------------------------------------------------------
# VIP.STATUS


def status(node: RedisNode) -> dict[str, str]:
    """VIP.STATUS with every value as a string."""
    return {str(k): ("" if v is None else str(v)) for k, v in node.vip_status().items()}


def try_status(node: RedisNode) -> dict[str, str]:
    try:
        return status(node)
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        return {"error": f"{type(exc).__name__}: {exc}"}


def statuses(g: RedisGroup) -> str:
    """One line per live node: the VIP.STATUS fields that matter for the Sentinel mode."""
    keys = ("state", "role", "holding", "reason", "claims", "releases", "fences", "sentinels_reachable",
            "sentinels_confirming", "quorum", "lease_remaining_ms", "last_fence_reason", "last_error",
            "conflicts")
    out = []
    for name, n in g.nodes.items():
        if not n.alive():
            out.append(f"{name}: dead")
            continue
        s = try_status(n)
        out.append(f"{name}: " + ", ".join(f"{k}={s.get(k)!r}" for k in keys if k in s) +
                   (f" error={s['error']}" if "error" in s else ""))
    return "\n".join(out)


def sentinel_rows(node: RedisNode) -> list[dict]:
    """VIP.SENTINELS as a list of dicts."""
    return [pairs_to_dict(r) for r in node.execute("VIP.SENTINELS")]


# ----------------------------------------------------------------------------------------------
# netlink address dumps inside namespaces

_NLMSG_HDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFA_ADDRESS, _IFA_LOCAL = 1, 2


def _open_netlink() -> socket.socket:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
    s.bind((0, 0))
    s.settimeout(2.0)
    return s


class AddrDumper:
    """One NETLINK_ROUTE socket per namespace, opened inside it (a socket stays in the
    namespace it was created in); ``addresses(ns)`` is one RTM_GETADDR dump: every address of
    every interface of that namespace. ``close()`` must be called: an open socket keeps its
    namespace alive after `ip netns del`."""

    def __init__(self, topo: Topology, hosts: Iterable[str]):
        self.topo = topo
        self._socks: dict[str, socket.socket] = {}
        self._seq = int(time.time()) & 0xFFFF
        self._lock = threading.Lock()
        try:
            for h in hosts:
                self._socks[h] = topo.in_ns(h, _open_netlink)
        except BaseException:
            self.close()
            raise

    def addresses(self, host: str) -> set[str]:
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            seq = self._seq
            s = self._socks[host]
            try:
                return self._dump(s, seq)
            except (OSError, ValueError):
                # a timed-out dump may leave a partial answer in the socket: start afresh
                try:
                    s.close()
                finally:
                    self._socks[host] = self.topo.in_ns(host, _open_netlink)
                raise

    @staticmethod
    def _dump(s: socket.socket, seq: int) -> set[str]:
        req = _NLMSG_HDR.pack(_NLMSG_HDR.size + _IFADDRMSG.size, _RTM_GETADDR,
                              _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0) + _IFADDRMSG.pack(0, 0, 0, 0, 0)
        s.send(req)
        out: set[str] = set()
        while True:
            data = s.recv(65536)
            off = 0
            while off + _NLMSG_HDR.size <= len(data):
                ln, typ, _flags, sq, _pid = _NLMSG_HDR.unpack_from(data, off)
                if ln < _NLMSG_HDR.size:
                    raise ValueError("short netlink message")
                if sq == seq:
                    if typ == _NLMSG_DONE:
                        return out
                    if typ == _NLMSG_ERROR:
                        code = struct.unpack_from("=i", data, off + 16)[0]
                        raise OSError(-code, f"netlink dump failed: {errno.errorcode.get(-code, code)}")
                    if typ == _RTM_NEWADDR:
                        fam = data[off + 16]
                        a, end = off + 16 + _IFADDRMSG.size, off + ln
                        local = addr = None
                        while a + _RTATTR.size <= end:
                            alen, atype = _RTATTR.unpack_from(data, a)
                            if alen < _RTATTR.size:
                                break
                            if atype == _IFA_LOCAL:
                                local = data[a + 4:a + alen]
                            elif atype == _IFA_ADDRESS:
                                addr = data[a + 4:a + alen]
                            a += (alen + 3) & ~3
                        raw = local or addr
                        if raw:
                            af = socket.AF_INET if fam == socket.AF_INET else socket.AF_INET6
                            out.add(socket.inet_ntop(af, raw))
                off += (ln + 3) & ~3

    def close(self) -> None:
        for s in self._socks.values():
            try:
                s.close()
            except OSError:
                pass
        self._socks.clear()


@dataclass
class Sample:
    t: float  # time.monotonic() when the sample was started
    wall: float  # time.time() at the same moment
    holders: tuple[str, ...]


class HolderSampler:
    """Samples which nodes hold ``vip`` every ``interval`` seconds on a thread.

    Each sample is one netlink dump per node namespace (together well under a millisecond),
    recorded as Sample(t, wall, holders). A failed dump is recorded in ``errors`` and the
    sample skipped. Use as a context manager, or start()/stop().
    """

    def __init__(self, topo: Topology, vip: str = VIP4, nodes: Optional[Iterable[str]] = None,
                 interval: float = 0.02):
        self.topo = topo
        self.vip = addr_only(vip)
        self.nodes = list(nodes) if nodes is not None else list(topo.node_names)
        self.interval = interval
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._dumper: Optional[AddrDumper] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def sample_once(self) -> Sample:
        assert self._dumper is not None
        t, wall = time.monotonic(), time.time()
        held = tuple(n for n in self.nodes if self.vip in self._dumper.addresses(n))
        return Sample(t, wall, held)

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                s = self.sample_once()
                with self._lock:
                    self.samples.append(s)
            except Exception as exc:  # noqa: BLE001 - recorded, sampling goes on
                self.errors.append(f"{time.monotonic():.3f} {type(exc).__name__}: {exc}")
            next_t += self.interval
            delay = next_t - time.monotonic()
            if delay < 0:  # overran (busy machine): do not try to catch up in a burst
                next_t = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def start(self) -> "HolderSampler":
        self._dumper = AddrDumper(self.topo, self.nodes)
        self._thread = threading.Thread(target=self._run, name="holder-sampler", daemon=True)
        self._thread.start()
        wait_until(lambda: len(self.samples) > 0, 10, 0.01, msg="first holder sample")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._dumper is not None:
            self._dumper.close()
            self._dumper = None

    def __enter__(self) -> "HolderSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- analysis -----------------------------------------------------------------------------
    def snapshot(self, since: float = float("-inf"), until: float = float("inf")) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if since <= s.t <= until]

    def last(self) -> Optional[Sample]:
        with self._lock:
            return self.samples[-1] if self.samples else None

    def wait_for(self, pred: Callable[[Sample], bool], timeout: float, msg: str,
                 since: Optional[float] = None) -> Sample:
        """Wait for a sample (taken after ``since``, default now) that satisfies pred."""
        start = time.monotonic() if since is None else since

        def found() -> Optional[Sample]:
            for s in self.snapshot(since=start):
                if pred(s):
                    return s
            return None

        return wait_until(found, timeout, 0.02, msg=lambda: f"{msg} (last sample: {self.last()})")

    def multi_holder_samples(self, since: float = float("-inf"), until: float = float("inf")) -> list[Sample]:
        return [s for s in self.snapshot(since, until) if len(s.holders) > 1]

    def segments(self, since: float = float("-inf"), until: float = float("inf")) -> list[tuple[float, float, tuple[str, ...]]]:
        """Runs of equal holder sets: (first sample time, time of the next different sample or
        of the last sample, holders)."""
        segs: list[list] = []
        samples = self.snapshot(since, until)
        for s in samples:
            if segs and segs[-1][2] == s.holders:
                segs[-1][1] = s.t
            else:
                if segs:
                    segs[-1][1] = s.t
                segs.append([s.t, s.t, s.holders])
        return [tuple(x) for x in segs]  # type: ignore[misc]

    def duration_ms(self, pred: Callable[[tuple[str, ...]], bool], since: float = float("-inf"),
                    until: float = float("inf")) -> float:
        """Milliseconds during which pred(holders) held, each sample standing for the time up to
        the next sample (sampled estimate; a gap longer than 10 intervals is not counted)."""
        samples = self.snapshot(since, until)
        total = 0.0
        cap = max(self.interval * 10, 0.5)
        for a, b in zip(samples, samples[1:]):
            if pred(a.holders):
                total += min(b.t - a.t, cap)
        return total * 1000

    def describe(self, since: float = float("-inf"), t0: Optional[float] = None) -> str:
        """Holder timeline as text, times relative to t0 (default: first sample)."""
        segs = self.segments(since)
        if not segs:
            return "(no samples)"
        base = segs[0][0] if t0 is None else t0
        parts = [f"{a - base:+.3f}..{b - base:+.3f}s {'+'.join(h) or '-'}" for a, b, h in segs]
        return "; ".join(parts)

    def max_gap(self) -> float:
        """Largest time between two consecutive samples (s): the sampling resolution achieved."""
        samples = self.snapshot()
        return max((b.t - a.t for a, b in zip(samples, samples[1:])), default=0.0)


# ----------------------------------------------------------------------------------------------
# a client writing through the VIP


@dataclass
class Ack:
    seq: int
    node: str  # which node acknowledged it (n1, n2, ...)
    t_send: float  # time.time() when the SET was sent
    t_ack: float  # time.time() when OK arrived


class VipWriter:
    """``SET <prefix>:<n> <n>`` through the VIP from the observer namespace, one connection at a
    time, every ``pause`` seconds. Each new connection asks ``CONFIG GET dir`` once, which names
    the node (its directory is redis-<node>), so every acknowledged write is attributed to the
    server that executed it. Any error closes the connection; the next attempt reconnects.
    ``host`` is the address written to (default the VIP; the routed tests give theirs)."""

    def __init__(self, topo: Topology, prefix: str = "w", pause: float = 0.01, timeout: float = 0.5,
                 host: str = VIP_IP):
        self.topo = topo
        self.host = host
        self.prefix = prefix
        self.pause = pause
        self.timeout = timeout
        self.acks: list[Ack] = []
        self.errors = 0
        self.connects = 0
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vip-writer", daemon=True)

    def _connect(self) -> tuple[NetnsConnection, str]:
        conn = NetnsConnection(netns=self.topo.ns("obs"), host=self.host, port=REDIS_PORT,
                               socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                               retry=Retry(NoBackoff(), 0))
        try:
            conn.connect()
            conn.send_command("CONFIG", "GET", "dir")
            reply = conn.read_response()
            m = re.search(r"redis-(n\d+)", str(reply))
            if not m:
                raise RuntimeError(f"cannot tell the node from {reply!r}")
            self.connects += 1
            return conn, m.group(1)
        except BaseException:
            conn.disconnect()
            raise

    def _run(self) -> None:
        conn: Optional[NetnsConnection] = None
        node = ""
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn, node = self._connect()
                self.seq += 1
                n = self.seq
                t_send = time.time()
                conn.send_command("SET", f"{self.prefix}:{n}", str(n))
                reply = conn.read_response()
                t_ack = time.time()
                if reply in (b"OK", "OK", True):
                    self.acks.append(Ack(n, node, t_send, t_ack))
                else:
                    self.errors += 1
                self._stop.wait(self.pause)
            except Exception:  # noqa: BLE001 - any failure: new connection after a short pause
                self.errors += 1
                if conn is not None:
                    try:
                        conn.disconnect()
                    except Exception:  # noqa: BLE001
                        pass
                conn = None
                self._stop.wait(0.02)
        if conn is not None:
            conn.disconnect()

    def start(self) -> "VipWriter":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> "VipWriter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def acked_by(self, node: str, sent_after: float = float("-inf")) -> list[Ack]:
        """Writes acknowledged by ``node`` that were sent after ``sent_after`` (time.time())."""
        return [a for a in self.acks if a.node == node and a.t_send > sent_after]

    def missing_from(self, master: RedisNode) -> list[int]:
        """Acknowledged writes absent from ``master`` (lost)."""
        c = master.client()
        keys = [f"{self.prefix}:{a.seq}" for a in self.acks]
        present: list = []
        for i in range(0, len(keys), 500):
            present += c.mget(keys[i:i + 500])
        return [a.seq for a, v in zip(self.acks, present) if v is None]


# ----------------------------------------------------------------------------------------------
# Redis + Sentinel groups in the Sentinel-confirmed mode


def sentinel_list(g_or_topo: RedisGroup | Topology, nodes: Iterable[str] = ("n1", "n2", "n3")) -> str:
    """The vip.sentinels value: one Sentinel per node namespace, on the node's address."""
    topo = g_or_topo.topo if isinstance(g_or_topo, RedisGroup) else g_or_topo
    return ",".join(f"{topo.addr4(n)}:{SENTINEL_PORT}" for n in nodes)


def module_args(topo: Topology, auth: Optional[tuple[Optional[str], str]] = None,
                extra: Iterable[str] = ()) -> list[str]:
    """loadmodule arguments of the Sentinel-confirmed mode (after address/interface)."""
    args = ["sentinels", sentinel_list(topo), "master-name", MASTER_NAME]
    if auth:
        user, password = auth
        if user:
            args += ["sentinel-auth-user", user]
        args += ["sentinel-auth-pass", password]
    return args + list(extra)


def sentinel_auth_conf(auth: Optional[tuple[Optional[str], str]]) -> list[str]:
    """sentinel.conf lines protecting the Sentinel itself: requirepass (which the Sentinels
    also use among themselves, sentinel-pass), or an ACL user for the module that may run only
    what it polls with (the default user stays open for the harness and the peers)."""
    if not auth:
        return []
    user, password = auth
    if user is None:
        return [f"requirepass {password}", f"sentinel sentinel-pass {password}"]
    return [f"user {user} on >{password} +client|setname +sentinel|master +sentinel|replicas "
            f"+sentinel|sentinels +sentinel|myid +ping"]


def start_sentinels(g: RedisGroup, down_after_ms: int = DOWN_AFTER_MS, failover_timeout_ms: int = 10000,
                    quorum: int = 2, extra_conf: Iterable[str] = (), password: Optional[str] = None,
                    timeout: float = 40) -> dict[str, SentinelNode]:
    """Like RedisGroup.start_sentinels (one Sentinel per node namespace, started once the
    replicas are online), with extra sentinel.conf lines (and the requirepass they set)."""
    master = next(iter(g.nodes.values()))
    for name in g.nodes:
        s = SentinelNode(g.topo, name, flavor=g.flavor, master_addr=master.address, quorum=quorum,
                         down_after_ms=down_after_ms, failover_timeout_ms=failover_timeout_ms,
                         extra_conf=list(extra_conf), password=password)
        g.sentinels[name] = s
        s.start()
    for s in g.sentinels.values():
        s.wait_ready()
    n_rep, n_sen = len(g.nodes) - 1, len(g.sentinels) - 1

    def ready() -> bool:
        if any_dead(g):  # a Redis node crashed: stop waiting, report it below
            return True
        return all(len(s.replicas()) >= n_rep and len(s.sentinels()) >= n_sen for s in g.sentinels.values())

    try:
        wait_until(ready, timeout, 0.2, msg="every Sentinel sees all replicas and the other Sentinels")
    except AssertionError:
        assert_alive(g)
        g.wait_sentinels_ready(1)  # its message details what each Sentinel sees
        raise
    assert_alive(g)
    return g.sentinels


def start_sentinel_group(topo: Topology, module_path: str, flavor: str = "redis",
                         down_after_ms: int = DOWN_AFTER_MS, auth: Optional[tuple[Optional[str], str]] = None,
                         sentinel_auth: Optional[tuple[Optional[str], str]] = None,
                         extra_module_args: Iterable[str] = (), wait_holder: bool = True,
                         protected_configs: bool = False) -> RedisGroup:
    """n1 master + n2, n3 replicas with the module in the Sentinel-confirmed mode, and one
    Sentinel per node. ``sentinel_auth`` protects the Sentinels ((None, pass): requirepass;
    (user, pass): an ACL user); ``auth`` is what the module is given (default: the same).
    Returns once n1 holds the VIP unless wait_holder is False."""
    module_auth = auth if auth is not None else sentinel_auth
    g = topo.redis(flavor=flavor, module=module_path, vip=VIP4,
                   module_args=module_args(topo, module_auth, extra_module_args),
                   protected_configs=protected_configs)
    g.start()
    try:
        requirepass = sentinel_auth[1] if sentinel_auth and sentinel_auth[0] is None else None
        start_sentinels(g, down_after_ms=down_after_ms, extra_conf=sentinel_auth_conf(sentinel_auth),
                        password=requirepass)
        if wait_holder:
            def confirmed() -> bool:
                return any_dead(g) or topo.holders(VIP4) == ["n1"]

            wait_until(confirmed, 30, 0.02, msg=lambda: f"n1 confirmed and holding the VIP\n{statuses(g)}")
            assert_alive(g)
    except AssertionError:
        assert_alive(g)
        raise
    return g


def any_dead(g: RedisGroup) -> bool:
    return any(n.proc is not None and not n.alive() for n in g.nodes.values())


def assert_alive(g: RedisGroup) -> None:
    """Fail with the end of its log when a Redis node of the group died (crashed)."""
    for name, n in g.nodes.items():
        if n.proc is not None and not n.alive():
            log = n.log_text()
            i = log.find("crashed by signal")
            excerpt = log[max(0, i - 200):i + 1200] if i >= 0 else n.log_tail(20)
            raise AssertionError(f"redis {name} exited with {n.proc.returncode}:\n{excerpt}")


def majority_master(g: RedisGroup) -> Optional[str]:
    """The master address named by a majority of all Sentinels of the group (dead or
    unreachable ones count as not naming anything), else None."""
    votes: dict[str, int] = {}
    for addr in g.sentinel_masters().values():
        if addr:
            votes[addr] = votes.get(addr, 0) + 1
    need = len(g.sentinels) // 2 + 1
    for addr, n in votes.items():
        if n >= need:
            return addr
    return None


def wait_failover(g: RedisGroup, old: str, timeout: float = 60) -> str:
    """Wait until a majority of the Sentinels name one master other than ``old`` and that node
    reports role master; return its short name. (An isolated Sentinel keeps its old view.)"""
    old_addr = g[old].address

    def done() -> Optional[str]:
        m = majority_master(g)
        if not m or m == old_addr:
            return None
        node = g.by_addr(m)
        if node.alive() and node.role() == "master":
            return node.name
        return None

    return wait_until(done, timeout, 0.1, msg=lambda: f"failover away from {old}: Sentinels say "
                                                      f"{g.sentinel_masters()}\n{statuses(g)}")


def wait_settled(g: RedisGroup, timeout: float = 60, stable: float = 2.0,
                 ignore: Iterable[str] = ()) -> str:
    """Wait until the Sentinels (but those in ``ignore``) all name one master, none shows a
    failover under way or the master down, and that node reports role master, unchanged for
    ``stable`` seconds; return its name. At down-after-milliseconds 1000 a Sentinel sometimes
    fails the NEW master over again about a second after +switch-master (its reconnect to the new
    master waits out a 1 s throttle; field notes): tests wait for the outcome, not the first
    promotion."""
    since: list = [None, None]

    def current() -> Optional[str]:
        named = set()
        for name, s in g.sentinels.items():
            if name in ignore or not s.alive():
                continue
            m = pairs_to_dict(s.execute("SENTINEL", "MASTER", MASTER_NAME))
            flags = set(str(m.get("flags", "")).split(","))
            if flags != {"master"}:
                return None
            named.add(m.get("ip"))
        if len(named) != 1:
            return None
        node = g.by_addr(named.pop())
        return node.name if node.alive() and node.role() == "master" else None

    def ok() -> Optional[str]:
        m = current()
        now = time.monotonic()
        if m is None or m != since[0]:
            since[0], since[1] = m, now
            return None
        return m if now - since[1] >= stable else None

    return wait_until(ok, timeout, 0.1, msg=lambda: f"settled master (Sentinels say {g.sentinel_masters()})\n"
                                                    f"{statuses(g)}")


def first_promotion(g: RedisGroup, after: float) -> tuple[float, str]:
    """(wall time, node) of the first REPLICAOF NO ONE after ``after`` (time.time())."""
    later = [(t, n) for t, n in promotions(g) if t >= after - 0.01]
    assert later, f"no promotion in the logs after {after}"
    return later[0]


# ----------------------------------------------------------------------------------------------
# Redis log timestamps

_LOG_RE = re.compile(r"^(\d+):([A-Z]) (\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) [.\-*#] (.*)$")


def log_events(node: RedisNode, needle: str) -> list[tuple[float, str]]:
    """(unix time, message) of every line of the node's Redis log containing needle. Redis logs
    wall-clock local time with milliseconds; this machine runs in UTC (time.mktime handles
    the local zone either way)."""
    out = []
    try:
        text = node.logfile.read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        if needle not in line:
            continue
        m = _LOG_RE.match(line)
        if not m:
            continue
        dt = _dt.datetime.strptime(m.group(3), "%d %b %Y %H:%M:%S.%f")
        ts = time.mktime(dt.timetuple()) + dt.microsecond / 1e6
        out.append((ts, m.group(4)))
    return out


def promotions(g: RedisGroup) -> list[tuple[float, str]]:
    """(unix time, node) of every REPLICAOF NO ONE in the group's logs, sorted by time: Redis logs
    "MASTER MODE enabled", Valkey "PRIMARY MODE enabled"."""
    out = []
    for name, n in g.nodes.items():
        for ts, _msg in log_events(n, " MODE enabled"):
            if _msg.startswith(("MASTER MODE enabled", "PRIMARY MODE enabled")):
                out.append((ts, name))
    return sorted(out)


def module_log(node: RedisNode, needles: Iterable[str] = ("claiming", "releasing", "conflict", "fenced")) -> str:
    """The module's claim/release/conflict lines of a node's log (for failure messages)."""
    lines = [ln for ln in node.log_text().splitlines() if any(x in ln for x in needles)]
    return "\n".join(lines[-30:])


def publish_forged_hellos(node: RedisNode, count: int, batch: int = 1000) -> float:
    """PUBLISH ``count`` forged hellos (random Sentinel run ids, a high epoch, naming another
    master) on ``node`` from an ordinary client, pipelined; returns the seconds it took."""
    import secrets

    c = node.client()
    t0 = time.monotonic()
    try:
        for start in range(0, count, batch):
            p = c.pipeline(transaction=False)
            for _ in range(min(batch, count - start)):
                runid = secrets.token_hex(20)
                p.execute_command("PUBLISH", "__sentinel__:hello",
                                  f"192.0.2.77,26379,{runid},999,notmonitored,192.0.2.77,6379,999")
            p.execute()
    finally:
        c.close()
        c.connection_pool.disconnect()
    return time.monotonic() - t0


def thread_cpu_ticks(node: RedisNode, name: str) -> int:
    """utime + stime (clock ticks) of the node's thread called ``name`` (e.g. vip-worker)."""
    from pathlib import Path

    total = 0
    for task in Path(f"/proc/{node.pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != name:
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total
