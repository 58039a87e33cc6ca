"""Shared pieces of the benchmark: the test harness import, statistics, /proc readings,
a netlink address sampler, Redis log timestamps.

The harness (tests/integration/topology.py) builds the namespaces and runs every process;
nothing here touches the root namespace.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))

import topology as T  # noqa: E402  (the shared namespace harness)
import helpers  # noqa: E402  (the Sentinel-mode tests' helpers: writer, settling, promotions)
from helpers import AddrDumper  # noqa: E402  (netlink address dumps, one socket per ns)
from topology import (  # noqa: E402,F401
    DEFAULT_MODULE, NODE_ADDR4, OBS_ADDR4, REDIS_PORT, VIP4, RedisGroup, RedisNode, SentinelNode,
    Topology, addr_only, wait_until,
)

VIP_IP = addr_only(VIP4)  # 192.0.2.100
VIP_PREFIX = VIP4.split("/")[1]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# statistics


def wait_value(cond, timeout: float, interval: float = 0.02):
    """Poll cond until truthy; its value, or None at the timeout. Never raises: a mechanism
    that never converges is a result, not a harness failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception:  # noqa: BLE001
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def ms_since(t: Optional[float], since: Optional[float]) -> Optional[float]:
    """Milliseconds from since to t; None when either is unknown."""
    return None if t is None or since is None else (t - since) * 1000


def read_writer(path) -> list[tuple[float, float, bool, str]]:
    """bench/writer.py's log: (t_start, t_end, ok, reason) per attempt."""
    out = []
    try:
        for line in open(path):
            p = line.split()
            if len(p) >= 3:
                out.append((float(p[0]), float(p[1]), p[2] == "ok", p[3] if len(p) > 3 else ""))
    except FileNotFoundError:
        pass
    return out


def summary(values: Iterable[Optional[float]]) -> dict:
    """median/min/max/n of the values that are not None (missing values are counted)."""
    allv = list(values)
    vals = [v for v in allv if v is not None]
    out = {"n": len(vals), "missing": len(allv) - len(vals)}
    if vals:
        out.update(median=statistics.median(vals), min=min(vals), max=max(vals))
    else:
        out.update(median=None, min=None, max=None)
    out["values"] = vals
    return out


def percentile(sorted_vals: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


# ----------------------------------------------------------------------------------------------
# /proc readings (per process and per thread)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(path: str) -> list[str]:
    text = open(path).read()
    # comm may contain spaces: split after the closing parenthesis
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int, tid: Optional[int] = None) -> float:
    """utime+stime of a process (all threads) or of one thread, in seconds."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    f = _stat_fields(path)
    # fields after comm: state(0) ... utime is field 14 overall -> index 11 here, stime 12
    return (int(f[11]) + int(f[12])) / CLK_TCK


def schedstat_ns(pid: int, tid: int) -> Optional[int]:
    """Run time in ns from /proc/<pid>/task/<tid>/schedstat (finer than utime/stime)."""
    try:
        return int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def ctx_switches(pid: int, tid: int) -> tuple[int, int]:
    vol = nonvol = 0
    for line in open(f"/proc/{pid}/task/{tid}/status"):
        if line.startswith("voluntary_ctxt_switches:"):
            vol = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches:"):
            nonvol = int(line.split()[1])
    return vol, nonvol


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads_by_name(pid: int) -> dict[str, int]:
    """thread name -> tid (the first one of that name)."""
    out: dict[str, int] = {}
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        except OSError:
            continue
        out.setdefault(name, int(tid))
    return out


class ThreadSnapshot:
    """CPU time (schedstat ns), context switches of named threads (default: every `vip-*` thread
    of the module: vip-worker, vip-watch, one vip-sentinel-<i> per Sentinel asked), process CPU
    and RSS."""

    def __init__(self, pid: int, names: Optional[Iterable[str]] = None):
        self.pid = pid
        self.t = time.monotonic()
        self.proc_cpu = cpu_seconds(pid)
        self.rss_kib = rss_kib(pid)
        self.threads: dict[str, dict] = {}
        tids = threads_by_name(pid)
        if names is None:
            names = sorted(n for n in tids if n.startswith("vip-"))
        main_tid = pid
        for name in list(names) + ["<main>"]:
            tid = main_tid if name == "<main>" else tids.get(name)
            if tid is None:
                continue
            vol, nonvol = ctx_switches(pid, tid)
            self.threads[name] = {"tid": tid, "run_ns": schedstat_ns(pid, tid),
                                  "cpu_s": cpu_seconds(pid, tid), "vol": vol, "nonvol": nonvol}

    def delta(self, later: "ThreadSnapshot") -> dict:
        """Per thread: CPU ms, wake-ups (voluntary switches); the Sentinel pollers also summed
        as `vip-sentinel-*`."""
        dt = later.t - self.t
        out = {"seconds": dt, "proc_cpu_ms": (later.proc_cpu - self.proc_cpu) * 1000,
               "rss_kib_before": self.rss_kib, "rss_kib_after": later.rss_kib, "threads": {}}
        for name, a in self.threads.items():
            b = later.threads.get(name)
            if b is None or b["tid"] != a["tid"]:
                continue
            run_ms = ((b["run_ns"] - a["run_ns"]) / 1e6
                      if a["run_ns"] is not None and b["run_ns"] is not None
                      else (b["cpu_s"] - a["cpu_s"]) * 1000)
            out["threads"][name] = {
                "cpu_ms": run_ms,
                "wakeups": b["vol"] - a["vol"],
                "involuntary": b["nonvol"] - a["nonvol"],
                "wakeups_per_s": (b["vol"] - a["vol"]) / dt if dt > 0 else None,
            }
        pollers = [v for k, v in out["threads"].items() if k.startswith("vip-sentinel-")]
        if pollers:
            w = sum(v["wakeups"] for v in pollers)
            out["threads"]["vip-sentinel-*"] = {
                "cpu_ms": sum(v["cpu_ms"] for v in pollers), "wakeups": w,
                "involuntary": sum(v["involuntary"] for v in pollers),
                "wakeups_per_s": w / dt if dt > 0 else None, "threads": len(pollers)}
        return out


# ----------------------------------------------------------------------------------------------
# Redis log timestamps

_LOG_TS = re.compile(r"^\d+:[A-Z] (\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) ")


def log_times(text: str, needle: str) -> list[float]:
    """Unix timestamps (local time, ms resolution, as Redis prints them) of lines containing
    needle."""
    out = []
    for line in text.splitlines():
        if needle not in line:
            continue
        m = _LOG_TS.match(line)
        if m:
            out.append(datetime.strptime(m.group(1), "%d %b %Y %H:%M:%S.%f").timestamp())
    return out


# ----------------------------------------------------------------------------------------------
# holder sampling: one netlink socket per node namespace (helpers.AddrDumper, shared with the
# Sentinel-mode tests and the chaos run)


class HolderSampler:
    """Samples which node namespaces have the VIP every `interval` seconds on a thread.

    A node counts as a holder only while it is connected (its bridge port is up, tracked by
    the scenario through `set_isolated`): an isolated node with the address cannot take any
    client's traffic. Raw presence is recorded too.
    """

    def __init__(self, topo: Topology, vip: str = VIP_IP, interval: float = 0.01):
        self.topo = topo
        self.vip = vip
        self.interval = interval
        self.dumper = AddrDumper(topo, topo.node_names)
        self.nodes = list(topo.node_names)
        self.isolated: set[str] = set()
        # hold it around a link change + set_isolated so no sample sees one without the other
        self.lock = threading.Lock()
        self.samples: list[tuple[float, tuple[str, ...], tuple[str, ...]]] = []  # (t, connected, raw)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="holder-sampler", daemon=True)

    def set_isolated(self, node: str, isolated: bool) -> None:
        (self.isolated.add if isolated else self.isolated.discard)(node)

    def start(self) -> "HolderSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            raw = []
            with self.lock:
                for n in self.nodes:
                    try:
                        if self.vip in self.dumper.addresses(n):
                            raw.append(n)
                    except (OSError, ValueError):
                        pass
                t = time.time()
                conn = tuple(n for n in raw if n not in self.isolated)
            self.samples.append((t, conn, tuple(raw)))
            nxt += self.interval
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            else:
                nxt = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.dumper.close()

    def current(self) -> tuple[str, ...]:
        return self.samples[-1][1] if self.samples else ()

    def durations(self, t0: float, t1: float) -> dict:
        """ms with >= 2 connected holders and with none, between t0 and t1; each sample's
        state holds until the next sample."""
        two = none = 0.0
        gaps = []
        s = [x for x in self.samples if t0 <= x[0] <= t1]
        for (ta, conn, _raw), (tb, _c, _r) in zip(s, s[1:]):
            dt = tb - ta
            gaps.append(dt)
            if len(conn) >= 2:
                two += dt
            elif len(conn) == 0:
                none += dt
        gaps.sort()
        return {"two_holders_ms": two * 1000, "no_holder_ms": none * 1000, "samples": len(s),
                "sample_interval_ms_median": (statistics.median(gaps) * 1000) if gaps else None,
                "sample_interval_ms_max": (gaps[-1] * 1000) if gaps else None}

    def left_at(self, node: str, after: float, until: float = float("inf")) -> Optional[float]:
        """When ``node`` stopped having the VIP (raw presence, whatever its link) after
        ``after``: the midpoint of the last sample with it and the first without. None when it
        kept it until ``until`` or did not have it at ``after``."""
        s = [x for x in list(self.samples) if after - self.interval <= x[0] <= until]
        for (_ta, _c, raw_a), (tb, _c2, raw_b) in zip(s, s[1:]):
            if node in raw_a and node not in raw_b:
                return (_ta + tb) / 2
            if node not in raw_a:
                return None
        return None

    def came_back(self, node: str, after: float, until: float = float("inf")) -> list[float]:
        """Times (midpoints) at which ``node`` got the VIP again after ``after`` (raw presence)."""
        s = [x for x in list(self.samples) if after <= x[0] <= until]
        return [(ta + tb) / 2 for (ta, _c, raw_a), (tb, _c2, raw_b) in zip(s, s[1:])
                if node not in raw_a and node in raw_b]

    def stable_for(self, want: tuple[str, ...], seconds: float) -> bool:
        """The connected holders have been exactly `want` for the last `seconds`."""
        if not self.samples:
            return False
        now = self.samples[-1][0]
        for t, conn, _raw in reversed(self.samples):
            if conn != want:
                return False
            if now - t >= seconds:
                return True
        return False


# ----------------------------------------------------------------------------------------------
# TCP payloads from a pcap (tcpdump -i any gives LINUX_SLL/SLL2 frames; eth0 gives Ethernet)


def tcp_payloads(path) -> list[tuple[float, bytes]]:
    """(timestamp, TCP payload) of every IPv4/TCP packet in a pcap file (snaplen-truncated)."""
    try:
        linktype, records = T.pcap_records(Path(path).read_bytes())
    except (FileNotFoundError, ValueError):
        return []
    l2 = {1: 14, 113: 16, 276: 20, 0: 4, 12: 0, 101: 0}.get(linktype)
    if l2 is None:
        return []
    out = []
    for ts, frame in records:
        if len(frame) < l2 + 20:
            continue
        if linktype == 1 and frame[12:14] != b"\x08\x00":
            continue
        if linktype == 113 and frame[14:16] != b"\x08\x00":
            continue
        if linktype == 276 and frame[0:2] != b"\x08\x00":
            continue
        ip = frame[l2:]
        if ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        tcp = ip[ihl:]
        if len(tcp) < 20:
            continue
        doff = (tcp[12] >> 4) * 4
        out.append((ts, bytes(tcp[doff:])))
    return out


def first_payload_time(path, needle: bytes, after: float) -> Optional[float]:
    needle = needle.lower()
    for ts, payload in tcp_payloads(path):
        if ts > after and needle in payload.lower():
            return ts
    return None
