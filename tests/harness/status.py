"""VIP.STATUS, VIP.SENTINELS and VIP.WITNESSES as Python values, one line per node for failure
messages, and a subscriber of `__vip__:events`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from .clients import pairs_to_dict
from .logs import module_log
from .netns import Pacer, Recorder
from .processes import RedisGroup, RedisNode

if TYPE_CHECKING:
    from .sampling import HolderSampler


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
            "conflicts", "failsafe", "witnesses", "witnesses_confirmed", "witnessed_until_ms")
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


def witness_rows(node: RedisNode) -> list[dict]:
    """VIP.WITNESSES as a list of dicts (one per witness: address, reply, age_ms, ...)."""
    return [{str(k): v for k, v in pairs_to_dict(r).items()} for r in node.execute("VIP.WITNESSES")]


def try_witness_rows(node: RedisNode) -> list[dict] | str:
    try:
        return witness_rows(node)
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        return f"{type(exc).__name__}: {exc}"


def witnesses(g: RedisGroup) -> str:
    """VIP.WITNESSES of every live node, one line per node (for failure messages)."""
    return "\n".join(f"{name} witnesses: {try_witness_rows(n)}" for name, n in g.nodes.items() if n.alive())


def subscribe_events(node: RedisNode) -> Callable[[], list[str]]:
    """A subscriber of the node's `__vip__:events` (a connection of its own); returns a function
    giving the lines received so far. RESP2: Sentinel's promotion sends CLIENT KILL TYPE normal
    to the promoted replica, and a RESP3 subscriber counts as a normal client there."""
    c = node.client(socket_timeout=5, protocol=2)
    ps = c.pubsub(ignore_subscribe_messages=True)
    ps.subscribe("__vip__:events")
    lines: list[str] = []

    def received() -> list[str]:
        while True:
            m = ps.get_message(timeout=0.01)
            if m is None:
                return lines
            data = m["data"]
            lines.append(data.decode() if isinstance(data, bytes) else data)

    received()
    return received


@dataclass
class StatusSample:
    t: float  # time.monotonic() when VIP.STATUS was sent
    wall: float  # time.time() at the same moment
    node: str
    fields: dict[str, str]  # the recorded fields of VIP.STATUS


class StatusRecorder(Recorder):
    """VIP.STATUS of the given nodes every ``interval`` seconds on a thread, keeping ``fields``:
    what a test checks over a whole run ("failsafe was 1 while the Sentinels were stopped", "a
    replica's witnessed_until_ms stayed 0"). A failed read (a node stopped, restarting) is
    counted in ``errors`` and skipped. Use as a context manager, or start()/stop()."""

    thread_name = "status-recorder"

    def __init__(self, g: RedisGroup, nodes: Iterable[str], fields: Iterable[str], interval: float = 0.02):
        super().__init__()
        self.g = g
        self.nodes = list(nodes)
        self.fields = tuple(fields)
        self.interval = interval
        self.samples: list[StatusSample] = []
        self.errors = 0

    def _run(self) -> None:
        pacer = Pacer(self.interval)
        while not self._stop.is_set():
            for name in self.nodes:
                t, wall = time.monotonic(), time.time()
                try:
                    st = status(self.g[name])
                except Exception:  # noqa: BLE001 - counted, recording goes on
                    self.errors += 1
                    continue
                self.samples.append(StatusSample(t, wall, name, {k: st.get(k, "") for k in self.fields}))
            pacer.wait(self._stop)

    def __enter__(self) -> "StatusRecorder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def of(self, node: str, since: float = float("-inf"), until: float = float("inf")) -> list[StatusSample]:
        """The samples of one node between monotonic times since and until."""
        return [s for s in list(self.samples) if s.node == node and since <= s.t <= until]


def run_report(g: RedisGroup, smp: "HolderSampler", t0: float) -> str:
    """For a failure message: the holder timeline (relative to t0), the sampling resolution,
    one status line per node, every node's VIP.WITNESSES and its module log lines."""
    parts = [f"holders: {smp.describe(t0=t0)}",
             f"samples: {len(smp.samples)}, largest gap {smp.max_gap() * 1000:.0f} ms, errors {smp.errors[:3]}",
             statuses(g), witnesses(g)]
    for name, n in g.nodes.items():
        parts.append(f"--- {name} module log\n"
                     f"{module_log(n, ('claiming', 'releasing', 'conflict', 'fenced', 'failsafe', 'witness'))}")
    return "\n".join(parts)
