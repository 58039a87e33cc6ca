"""Shared pieces of the benchmark: statistics, /proc readings, writer.py's log.

The harness (tests/harness/) builds the namespaces, runs every process and samples the
holders; nothing here touches the root namespace.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Iterable, Optional

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

from tests.harness.netns import VIP4

VIP_PREFIX = VIP4.split("/")[1]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Repetition:
    """One repetition as a context manager: ``setup()`` builds it, and ``close()`` removes
    whatever was built, at exit or as soon as ``setup()`` fails part-way."""

    def setup(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
