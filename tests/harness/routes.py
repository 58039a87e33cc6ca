"""The router's kernel table for the VIPs, watched over netlink.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Optional

from .netlink import _RTMGRP_IPV4_ROUTE, _RTMGRP_IPV6_ROUTE, _netlink, dump_routes
from .netns import wait_until
from .routed import ROUTER, RoutedTopology


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
