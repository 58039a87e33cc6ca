"""Who holds the VIP, sampled every few milliseconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Optional

from .netlink import AddrDumper
from .netns import VIP4, addr_only, wait_until

if TYPE_CHECKING:
    from .topology import Topology


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
