"""Sentinel as operators run it: nothing failed, so the VIP must stay where Sentinel keeps the
master.

Each story runs 3 Redis nodes with the module in the Sentinel-confirmed mode and 3 Sentinels
(quorum 2), in namespaces of its own, with a HolderSampler (tests/harness/sampling.py) recording which nodes
hold the VIP every 20 ms. The property is a count over that record ("no sample without a
holder"); timeouts are upper bounds against hangs; measured figures are printed.

- a backup client syncing without a listening port (`redis-cli --rdb`): every Sentinel then
  lists a replica `ip:0` for good;
- a crash restarted at once (as systemd's `Restart=always` does): the Sentinels show the old
  run id until their next INFO, up to 10 s later;
- a Sentinel replaced without `SENTINEL RESET`: its ghost stays in the others' lists, and one
  more Sentinel restarting must not drop the VIP.

Run: python3 -m pytest tests/integration/test_sentinel_state.py -q
"""

from __future__ import annotations

import time

import pytest

from tests.harness.logs import promotions
from tests.harness.netns import MASTER_NAME, VIP4, wait_until
from tests.harness.processes import SentinelNode
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import start_sentinel_group, wait_settled
from tests.harness.status import sentinel_rows, status, statuses
from tests.integration.conftest import FLAVORS

HANG_S = 40


def no_holder_ms(smp: HolderSampler, since: float) -> float:
    return smp.duration_ms(lambda h: not h, since=since)


def assert_always_held_by(smp: HolderSampler, node: str, since: float, g) -> None:
    bad = [s for s in smp.snapshot(since=since) if s.holders != (node,)]
    if bad:
        pytest.fail(f"{len(bad)} samples without {node} alone (first at {bad[0].t - since:+.3f}s: "
                    f"{bad[0].holders}); {smp.describe(t0=since)}\n{statuses(g)}")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_backup_client_without_a_port_changes_nothing(topo, module_path, flavor):
    """`redis-cli --rdb` against the master: the sync client has no listening port, so the
    master's INFO shows it as a replica `port=0`, and the Sentinels add `ip:0` to their replica
    lists at their next INFO and never forget it. The master keeps the VIP in every sample; the
    entry is skipped, counted and shown in VIP.SENTINELS."""
    g = start_sentinel_group(topo, module_path, flavor)
    # Keep the backup client waiting long enough for every Sentinel's INFO (every 10 s) to see it.
    g["n1"].execute("CONFIG", "SET", "repl-diskless-sync-delay", "15")
    obs = topo.addr4("obs")
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        backup = topo.popen("obs", "redis-cli", "-h", g["n1"].address, "--rdb", str(topo.workdir / "dump.rdb"))

        def listed_everywhere() -> bool:
            return all(any(r.get("ip") == obs and str(r.get("port")) == "0" for r in s.replicas())
                       for s in g.sentinels.values())

        wait_until(listed_everywhere, HANG_S, 0.2, msg=lambda: f"every Sentinel lists {obs}:0")
        t_listed = time.monotonic()
        # a few more polls and leases with the entry in every answer
        time.sleep(3)
        rows = sentinel_rows(g["n1"])
        s1 = status(g["n1"])
        backup.kill()
        backup.wait(timeout=10)
    print(f"\n[{flavor}] backup client listed as {obs}:0 by every Sentinel after {t_listed - t0:.1f} s; "
          f"VIP on no node for {no_holder_ms(smp, t0):.0f} ms; skipped per Sentinel "
          f"{[r['skipped_replicas'] for r in rows]}: {rows[0]['skipped_reason']!r}")
    assert_always_held_by(smp, "n1", t0, g)
    assert all(r["skipped_replicas"] >= 1 and "bad port 0" in r["skipped_reason"] for r in rows if not r["learned"]), rows
    assert int(s1["sentinel_entries_skipped"]) >= 3, s1
    assert (s1["holding"], s1["releases"]) == ("1", "0"), s1
    assert "redis-cli --rdb" in g["n1"].log_text()


def new_runid_count(g, runid: str) -> int:
    return sum(1 for s in g.sentinels.values() if s.alive()
               and dict(zip(*[iter(s.execute("SENTINEL", "MASTER", MASTER_NAME))] * 2)).get("runid") == runid)


@pytest.mark.parametrize("down_after_ms", [1000, 30000])
def test_a_crash_restarted_at_once_gets_the_vip_back_without_waiting_for_sentinel(topo, module_path, down_after_ms):
    """kill -9 of the master's redis-server and an immediate restart, as systemd does. The
    Sentinels show the old run id until their next INFO (every 10 s), but their last INFO
    predates the new process and the address is this host's own: the restarted master is named,
    and claims. Proof that it did not wait for the INFO: when the VIP is back, fewer Sentinels
    than the quorum (2) show the new run id (a Sentinel may happen to send INFO in that second;
    then the crash is repeated, at most three times).

    At down-after 1000 Sentinel's reconnect to the restarted server (throttled to once a second)
    can itself take longer than down-after: the Sentinels then call the master down and fail it
    over, as they would without the module. Then the VIP must follow them, never on two nodes."""
    g = start_sentinel_group(topo, module_path, "redis", down_after_ms=down_after_ms)
    figures = []
    failover = None
    with HolderSampler(topo, interval=0.01) as smp:
        t_first = time.monotonic()
        for _attempt in range(3):
            wall_kill = time.time()
            t_kill = time.monotonic()
            g["n1"].kill9()
            g["n1"].start()
            g["n1"].wait_ready()
            t_ready = time.monotonic()
            back = smp.wait_for(lambda s: bool(s.holders), HANG_S, "a holder again", since=t_ready)
            if [p for p in promotions(g) if p[0] >= wall_kill - 0.01] or back.holders != ("n1",):
                failover = wait_settled(g)
                smp.wait_for(lambda s: s.holders == (failover,), HANG_S, f"{failover} holding alone")
                break
            runid = g["n1"].client().info("server")["run_id"]
            seen_new = new_runid_count(g, runid)
            figures.append((back.t - t_ready, back.t - t_kill, seen_new))
            if seen_new < 2:
                break
            time.sleep(1)
        time.sleep(2)
    print(f"\n[down-after {down_after_ms}] crash + immediate restart: "
          + "; ".join(f"VIP back {a * 1000:.0f} ms after the restarted server answered ({b * 1000:.0f} ms after "
                      f"the kill), {n} of 3 Sentinels showing the new run id" for a, b, n in figures)
          + (f"; the Sentinels failed it over to {failover}, VIP on no node for "
             f"{no_holder_ms(smp, t_first):.0f} ms" if failover else ""))
    assert not smp.multi_holder_samples(since=t_first), smp.describe(t0=t_first)
    if failover:
        assert down_after_ms < 5000, "a failover at a down-after far above the restart time"
        assert [n for n in g.nodes if status(g[n])["holding"] == "1"] == [failover], statuses(g)
        return
    assert figures[-1][2] < 2, f"the VIP came back only after the Sentinels' INFO: {figures}\n{statuses(g)}"
    assert g["n1"].role() == "master" and status(g["n1"])["holding"] == "1", statuses(g)
    assert [n for n in ("n2", "n3") if status(g[n])["holding"] != "0"] == [], statuses(g)


def test_a_ghost_sentinel_and_a_restarting_one_keep_the_vip(topo, module_path):
    """The Sentinel of n3 is replaced by a new one (new run id, new port) without SENTINEL
    RESET: the others keep listing the old one, unreachable and silent. Once it is a ghost (60 s)
    the module leaves it out of the count, says so (VIP.STATUS, VIP.SENTINELS, the log with the
    command to run), and the Sentinel of n2 stopping for 5 s leaves n1 holding: two of the three
    real Sentinels still confirm it."""
    g = start_sentinel_group(topo, module_path, "redis")
    old = g.sentinels["n3"]
    old.kill9()
    # A fresh config (no myid): a new run id, at a new address (port 26380).
    new = SentinelNode(topo, "n3", flavor="redis", master_addr=g["n1"].address, port=26380)
    new.start()
    new.wait_ready()
    g.sentinels["n3new"] = new
    t0 = time.monotonic()

    def ghost_seen() -> bool:
        return status(g["n1"])["sentinels_ghosts"] == "1"

    wait_until(ghost_seen, 150, 0.5, msg=lambda: f"the old Sentinel of n3 judged a ghost\n{statuses(g)}")
    t_ghost = time.monotonic()
    s1 = status(g["n1"])
    assert (s1["sentinels_known"], s1["quorum"], s1["holding"]) == ("3", "2", "1"), s1
    with HolderSampler(topo, interval=0.02) as smp:
        t_stop = time.monotonic()
        g.sentinels["n2"].sigstop()
        try:
            time.sleep(5)
        finally:
            g.sentinels["n2"].sigcont()
        time.sleep(1)
    rows = sentinel_rows(g["n1"])
    print(f"\nghost Sentinel left out {t_ghost - t0:.0f} s after its replacement started; "
          f"with the Sentinel of n2 stopped for 5 s: VIP on no node for {no_holder_ms(smp, t_stop):.0f} ms; "
          f"rows: {[(r['address'], r['ghosts'], r['reachable']) for r in rows]}")
    assert_always_held_by(smp, "n1", t_stop, g)
    assert any(r["ghosts"] == 1 for r in rows), rows
    assert f"SENTINEL RESET {MASTER_NAME}" in g["n1"].log_text()


def test_sentinels_rebuilt_at_epoch_0_do_not_fence_the_real_master_for_good(topo, module_path):
    """A failover from n1 (config epoch 1); then the Sentinel of n3 is decommissioned (stopped
    for good), the operator makes n1 the master again by hand and has the two remaining
    Sentinels monitor it afresh (SENTINEL REMOVE + MONITOR: config epoch 0). The stopped
    Sentinel's last answer names the other node under epoch 1, newer than the live ones' 0: a
    fence on n1. It ends once that Sentinel has departed (its polls fail, the live Sentinels do
    not list it, 60 s) and the live ones reach that node as a replica: n1 then holds."""
    g = start_sentinel_group(topo, module_path, "redis")
    g.sentinels["n1"].execute("SENTINEL", "FAILOVER", MASTER_NAME)

    def moved() -> bool:
        h = topo.holders(VIP4)
        if len(h) != 1 or h == ["n1"]:
            return False
        new = g[h[0]].address
        # every Sentinel names it, and n1 has heard each of them say so (the Sentinel about to
        # be killed must leave its epoch-1 answer in n1's view, not an older one naming n1)
        return all(s.master_addr() == new for s in g.sentinels.values()) \
            and all(str(r.get("master", "")).startswith(f"{new}:") for r in sentinel_rows(g["n1"]))

    wait_until(moved, HANG_S, 0.1, msg=lambda: f"a new master holding, named by every Sentinel\n{statuses(g)}")
    g.sentinels["n3"].kill9()
    g["n1"].replicaof(None)
    for n in ("n2", "n3"):
        g[n].replicaof(g["n1"])
    for name in ("n1", "n2"):
        s = g.sentinels[name]
        s.execute("SENTINEL", "REMOVE", MASTER_NAME)
        s.execute("SENTINEL", "MONITOR", MASTER_NAME, g["n1"].address, "6379", "2")
        s.execute("SENTINEL", "SET", MASTER_NAME, "down-after-milliseconds", "1000", "failover-timeout", "10000")
    t_rebuilt = time.monotonic()

    def fenced_by_the_old_epoch() -> bool:
        return status(g["n1"])["last_fence_reason"] == "newer_config_names_other" \
            or "newer than 0" in status(g["n1"])["reason"]

    wait_until(fenced_by_the_old_epoch, HANG_S, 0.1, msg=lambda: f"n1 fenced by the stopped Sentinel\n{statuses(g)}")
    with HolderSampler(topo, interval=0.05) as smp:
        back = smp.wait_for(lambda s: s.holders == ("n1",), 150, "n1 holding", since=t_rebuilt)
        time.sleep(2)
    rows = sentinel_rows(g["n1"])
    print(f"\nSentinels rebuilt at epoch 0 beside a stopped one's epoch 1: n1 held again "
          f"{back.t - t_rebuilt:.1f} s after the rebuild; rows "
          f"{[(r['address'], r['config_epoch'], r['reachable']) for r in rows]}")
    assert status(g["n1"])["holding"] == "1", statuses(g)
    assert not smp.multi_holder_samples(since=t_rebuilt), smp.describe()
