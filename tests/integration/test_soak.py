"""Soak (issue 8): many role flips and CONFIG SETs while clients run; nothing may leak.

One node with the module in the Sentinel-confirmed mode (three Sentinels, so the pollers run
the whole time), a client writing through the VIP, and:
- FLIPS role changes (REPLICAOF an address nobody has / REPLICAOF NO ONE): a release and, once
  the Sentinels confirm, a claim each round;
- SETS CONFIG SETs cycling through settings that restart the pollers (vip.sentinels,
  vip.poll-interval-ms), move the address (vip.address) and retune announcements.
Open file descriptors, threads and RSS are read from /proc before (after a warm-up) and after;
they must come back within the stated tolerance. `make soak` runs the full size (10 000 flips,
1 000 CONFIG SETs, Redis and Valkey) and prints the figures of docs/safety.md; the test suite
runs a tenth of it.

    SOAK_FLIPS=10000 SOAK_SETS=1000 python3 -m pytest tests/integration/test_soak.py -s
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.harness.netns import VIP_IP, wait_until
from tests.harness.processes import RedisNode
from tests.harness.sentinel import sentinel_list, start_sentinel_group
from tests.harness.status import status, statuses
from tests.harness.writer import VipWriter
from tests.integration.conftest import FLAVORS

FLIPS = int(os.environ.get("SOAK_FLIPS", "1000"))
SETS = int(os.environ.get("SOAK_SETS", "100"))
# Tolerances: a thread and a descriptor or two may be in flight (a poller reconnecting, a
# netlink socket reopened); RSS may grow by allocator caching, not by a leak per operation.
FD_SLACK = 2
THREAD_SLACK = 1
RSS_SLACK_KB = 2048


def resources(node: RedisNode) -> dict[str, int]:
    pid = node.pid
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = len([t for t in node.thread_names()])
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return {"fds": fds, "threads": threads, "rss_kb": rss}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_flips_and_config_sets_leak_nothing(topo, module_path, flavor):
    g = start_sentinel_group(topo, module_path, flavor, protected_configs=True)
    n1 = g["n1"]
    c = n1.client()
    three = sentinel_list(topo)
    one = sentinel_list(topo, ["n2"])
    settings = [
        ("vip.poll-interval-ms", "50"), ("vip.poll-interval-ms", "100"),
        ("vip.sentinels", one), ("vip.sentinels", three),
        ("vip.announce-count", "3"), ("vip.announce-count", "5"),
        ("vip.address", "192.0.2.101/24"), ("vip.address", f"{VIP_IP}/24"),
    ]
    with VipWriter(topo, pause=0.005) as w:
        # warm-up: the allocator's arenas and every lazily opened socket exist afterwards
        for i in range(50):
            c.execute_command("REPLICAOF", "192.0.2.99", "6379")
            c.execute_command("REPLICAOF", "NO", "ONE")
        for key, value in settings:
            c.config_set(key, value)
        wait_until(lambda: status(n1)["holding"] == "1", 20, 0.05, msg=lambda: statuses(g))
        time.sleep(1)
        before = resources(n1)
        t0 = time.monotonic()
        # paced, so that the worker acts on (nearly) every flip instead of only the latest role
        for i in range(FLIPS):
            c.execute_command("REPLICAOF", "192.0.2.99", "6379") if i % 2 == 0 else \
                c.execute_command("REPLICAOF", "NO", "ONE")
            time.sleep(0.001)
        if FLIPS % 2:
            c.execute_command("REPLICAOF", "NO", "ONE")
        t_flips = time.monotonic() - t0
        t0 = time.monotonic()
        for i in range(SETS):
            key, value = settings[i % len(settings)]
            c.config_set(key, value)
            time.sleep(0.005)  # the worker applies each (pollers stopped and started)
        t_sets = time.monotonic() - t0
        for key, value in settings[1::2]:  # back to the starting settings
            c.config_set(key, value)
        wait_until(lambda: status(n1)["holding"] == "1" and topo.holders(VIP_IP) == ["n1"], 20, 0.05,
                   msg=lambda: statuses(g))
        time.sleep(2)  # pollers restarted by the last sets settle
        after = resources(n1)
    s = status(n1)
    print(f"\n[{flavor}] {FLIPS} flips in {t_flips:.1f}s, {SETS} CONFIG SETs in {t_sets:.1f}s while writing "
          f"({len(w.acks)} writes acknowledged): before {before}, after {after}; claims {s['claims']}, "
          f"releases {s['releases']}, inbox_dropped {s['inbox_dropped']}")
    assert n1.ping()
    assert after["fds"] <= before["fds"] + FD_SLACK, (before, after)
    assert after["threads"] <= before["threads"] + THREAD_SLACK, (before, after)
    assert after["rss_kb"] <= before["rss_kb"] + RSS_SLACK_KB, (before, after)
