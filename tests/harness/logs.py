"""Redis logs read as events: promotions, the module's claim/release lines, per-thread CPU.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from typing import Iterable, Iterator

from .processes import RedisGroup, RedisNode

_LOG_RE = re.compile(r"^(\d+):([A-Z]) (\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) [.\-*#] (.*)$")


def timed_lines(text: str, needle: str) -> Iterator[tuple[float, str]]:
    """(unix time, message) of every log line containing needle. Redis logs wall-clock local time
    with milliseconds; this machine runs in UTC (time.mktime handles the local zone either way)."""
    for line in text.splitlines():
        if needle not in line:
            continue
        m = _LOG_RE.match(line)
        if not m:
            continue
        dt = _dt.datetime.strptime(m.group(3), "%d %b %Y %H:%M:%S.%f")
        yield time.mktime(dt.timetuple()) + dt.microsecond / 1e6, m.group(4)


def log_events(node: RedisNode, needle: str) -> list[tuple[float, str]]:
    """(unix time, message) of every line of the node's Redis log containing needle."""
    try:
        text = node.logfile.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return list(timed_lines(text, needle))


def log_times(text: str, needle: str) -> list[float]:
    """Unix times of the lines of a Redis or Sentinel log text that contain needle."""
    return [ts for ts, _msg in timed_lines(text, needle)]


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
