"""What the demo records for its timeline: a client writing through the VIP, and the events of
the Sentinel and Redis logs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from demo.show import fmt_ms
from tests.harness.logs import timed_lines
from tests.harness.netns import Pacer, Recorder
from tests.harness.topology import Topology

WRITE_EVERY_S = 0.010


@dataclass
class Event:
    t: float  # wall clock (time.time())
    where: str
    what: str
    key: bool = False  # highlighted in the timeline


class Writer(Recorder):
    """SET through the VIP from the observer namespace every 10 ms; records each attempt."""

    thread_name = "vip-writer"

    def __init__(self, topo: Topology, host: str):
        # short time-outs and no automatic retry: every attempt is one sample
        self.client = topo.client("obs", host, socket_timeout=0.3, socket_connect_timeout=0.3,
                                  retry=Retry(NoBackoff(), 0))
        self.samples: list[tuple[float, float, bool, str]] = []  # (start, end, ok, error)
        super().__init__()

    def _run(self) -> None:
        i = 0
        pacer = Pacer(WRITE_EVERY_S)
        while not self._stop.is_set():
            t0 = time.time()
            err = ""
            try:
                ok = bool(self.client.set("demo:counter", i))
            except (redis.RedisError, OSError) as exc:
                ok, err = False, type(exc).__name__
            self.samples.append((t0, time.time(), ok, err))
            i += 1
            pacer.wait()

    def last_ok_before(self, t: float):
        ok = [s for s in self.samples if s[2] and s[1] <= t]
        return ok[-1] if ok else None

    def first_ok_after(self, t: float):
        ok = [s for s in self.samples if s[2] and s[0] >= t]
        return ok[0] if ok else None


def log_lines(text: str, since: float) -> Iterator[tuple[float, str]]:
    """(time, message) of every log line at or after `since` (less one log tick)."""
    return ((t, msg) for t, msg in timed_lines(text, "") if t >= since - 0.001)


SENTINEL_EVENTS = {
    # log event: (timeline text, index of the address field that names the subject)
    "+sdown": ("Sentinel: +sdown master {a} (first Sentinel to see it down)", 3),
    "+odown": ("Sentinel: +odown master {a} (a quorum agrees it is down)", 3),
    "+elected-leader": ("Sentinel: +elected-leader, runs the failover of {a}", 3),
    "+failover-state-send-slaveof-noone": ("Sentinel: sends REPLICAOF NO ONE to {a}", 3),
    "+promoted-slave": ("Sentinel: +promoted-slave {a} (the leader sees it as master in INFO)", 3),
    "+switch-master": ("Sentinel: +switch-master {b} → {a} (first Sentinel; {n}/{total} by {last} ms)", 4),
}


def sentinel_events(g, t0: float, node_of: dict[str, str]) -> list[Event]:
    """The first Sentinel to log each failover step, per subject (two failovers stay apart)."""
    first: dict[tuple[str, str], tuple[float, str, list[str]]] = {}
    switches: dict[str, list[float]] = {}
    for name, s in g.sentinels.items():
        for t, msg in log_lines(s.log_text(), t0):
            words = msg.split()
            if len(words) < 5 or words[0] not in SENTINEL_EVENTS:
                continue
            if words[0] in ("+sdown", "+odown", "+elected-leader") and words[1] != "master":
                continue  # a replica or a Sentinel went down: not a failover step
            subject = words[SENTINEL_EVENTS[words[0]][1]]
            if words[0] == "+switch-master":
                switches.setdefault(subject, []).append(t)
            key = (words[0], subject)
            if key not in first or t < first[key][0]:
                first[key] = (t, name, words)
    out = []
    for (ev, subject), (t, name, words) in first.items():
        text, _ = SENTINEL_EVENTS[ev]
        a = node_of.get(subject.split(":")[0], subject)
        b = node_of.get(words[2], words[2]) if ev == "+switch-master" else ""
        times = switches.get(subject, [t])
        out.append(Event(t, f"S@{name}", text.format(a=a, b=b, n=len(times), total=len(g.sentinels),
                                                    last=fmt_ms((max(times) - t0) * 1000)),
                         key=ev == "+switch-master"))
    return out
