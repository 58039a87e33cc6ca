"""Who holds the VIP, sampled every few milliseconds: one netlink RTM_GETADDR dump per node
namespace (a NETLINK_ROUTE socket opened inside each namespace, no subprocess per sample). The
history of (time, holders) lets properties be checked over a whole run: "no sample shows two
holders", "n2 never released".

The tests read it on the monotonic clock (``Sample.t``: ``wait_for``, ``segments``,
``duration_ms``); the benchmarks on the wall clock (``Sample.wall``: ``durations``, ``left_at``,
``came_back``), where a node cut off from the clients (``set_isolated``) does not count as
a holder clients can reach (``Sample.connected``).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Optional

from .netlink import AddrDumper
from .netns import VIP4, Pacer, addr_only, wait_until

if TYPE_CHECKING:
    from .topology import Topology


@dataclass
class Sample:
    t: float  # time.monotonic() when the sample was started
    wall: float  # time.time() at the same moment
    holders: tuple[str, ...]  # every node whose namespace has the VIP
    connected: tuple[str, ...] = ()  # those of them not isolated (set_isolated): clients reach them


class HolderSampler:
    """Samples which nodes hold ``vip`` every ``interval`` seconds on a thread.

    Each sample is one netlink dump per node namespace (together well under a millisecond),
    recorded as Sample(t, wall, holders, connected). A failed dump is recorded in ``errors``
    and the sample skipped. Use as a context manager, or start()/stop().

    A node counts as connected only while no ``set_isolated(node, True)`` is in force: an isolated
    node with the address cannot take any client's traffic. Hold ``lock`` around a link change
    and its ``set_isolated`` so that no sample sees one without the other.
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
        self._lock = threading.Lock()  # guards samples
        self.lock = threading.Lock()  # one sample, or a link change with its set_isolated
        self.isolated: set[str] = set()

    def set_isolated(self, node: str, isolated: bool) -> None:
        (self.isolated.add if isolated else self.isolated.discard)(node)

    def sample_once(self) -> Sample:
        assert self._dumper is not None
        with self.lock:
            t, wall = time.monotonic(), time.time()
            held = tuple(n for n in self.nodes if self.vip in self._dumper.addresses(n))
            connected = tuple(n for n in held if n not in self.isolated)
        return Sample(t, wall, held, connected)

    def _run(self) -> None:
        pacer = Pacer(self.interval)
        while not self._stop.is_set():
            try:
                s = self.sample_once()
                with self._lock:
                    self.samples.append(s)
            except Exception as exc:  # noqa: BLE001 - recorded, sampling goes on
                self.errors.append(f"{time.monotonic():.3f} {type(exc).__name__}: {exc}")
            pacer.wait(self._stop)  # overran (busy machine): no burst of catching up

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

    # -- analysis on the wall clock (the benchmarks: fault times are time.time()) --------------
    def current(self) -> tuple[str, ...]:
        """The connected holders of the last sample."""
        last = self.last()
        return last.connected if last else ()

    def durations(self, t0: float, t1: float) -> dict:
        """ms with >= 2 connected holders and with none, between wall times t0 and t1; each
        sample's state holds until the next sample."""
        two = none = 0.0
        gaps = []
        s = [x for x in self.snapshot() if t0 <= x.wall <= t1]
        for a, b in zip(s, s[1:]):
            dt = b.wall - a.wall
            gaps.append(dt)
            if len(a.connected) >= 2:
                two += dt
            elif len(a.connected) == 0:
                none += dt
        gaps.sort()
        return {"two_holders_ms": two * 1000, "no_holder_ms": none * 1000, "samples": len(s),
                "sample_interval_ms_median": (statistics.median(gaps) * 1000) if gaps else None,
                "sample_interval_ms_max": (gaps[-1] * 1000) if gaps else None}

    def left_at(self, node: str, after: float, until: float = float("inf")) -> Optional[float]:
        """When ``node`` stopped having the VIP (whatever its link) after wall time ``after``: the
        midpoint of the last sample with it and the first without. None when it kept it until
        ``until`` or did not have it at ``after``."""
        s = [x for x in self.snapshot() if after - self.interval <= x.wall <= until]
        for a, b in zip(s, s[1:]):
            if node in a.holders and node not in b.holders:
                return (a.wall + b.wall) / 2
            if node not in a.holders:
                return None
        return None

    def came_back(self, node: str, after: float, until: float = float("inf")) -> list[float]:
        """Wall times (midpoints) at which ``node`` got the VIP again after ``after``."""
        s = [x for x in self.snapshot() if after <= x.wall <= until]
        return [(a.wall + b.wall) / 2 for a, b in zip(s, s[1:]) if node not in a.holders and node in b.holders]

    def stable_for(self, want: tuple[str, ...], seconds: float) -> bool:
        """The connected holders have been exactly ``want`` for the last ``seconds``."""
        s = self.snapshot()
        if not s:
            return False
        now = s[-1].wall
        for x in reversed(s):
            if x.connected != want:
                return False
            if now - x.wall >= seconds:
                return True
        return False

    def departures(self, node: str, t0: float, t1: float) -> int:
        """How often ``node`` stopped having the VIP between wall times t0 and t1."""
        s = [x for x in self.snapshot() if t0 <= x.wall <= t1]
        return sum(1 for a, b in zip(s, s[1:]) if node in a.holders and node not in b.holders)

    def off_ms(self, want: tuple[str, ...], t0: float, t1: float) -> float:
        """ms in which the connected holders were not exactly ``want`` between wall times t0 and t1."""
        s = [x for x in self.snapshot() if t0 <= x.wall <= t1]
        return sum(b.wall - a.wall for a, b in zip(s, s[1:]) if a.connected != want) * 1000
