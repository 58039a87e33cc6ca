"""The replicas as witnesses (failsafe): when the Sentinels' support of a master lapses with no
sign of a failover, the master keeps the VIP on its replicas' word (`VIP.WITNESS`), and a
replica that gave its word does not claim before it ran out; forced failovers and a leader
that crashes right after promoting.

Every test runs 3 Redis nodes with the module in the Sentinel-confirmed mode and 3 Sentinels in
namespaces of their own (s1, s2, s3 on the same bridge: Topology(sentinel_hosts=3)), quorum 2,
down-after-milliseconds 1000. A HolderSampler records who holds the VIP every 20 ms, a
VipWriter writes through the VIP from the observer, and a StatusRecorder reads VIP.STATUS of
some nodes every 20 ms where a test needs its fields over time. The tests assert safety and
effect facts (never two holders, no acknowledged write lost, who held, VIP.STATUS fields,
the `__vip__:events` lines) and print the figures (ms with two holders, ms without a holder,
writes lost, the claim delay). Timeouts are upper bounds against hangs, never performance
assertions.

Run: python3 -m pytest tests/integration/test_failsafe.py -q -s [-k redis|valkey]
"""

from __future__ import annotations

import time

import pytest

from tests.harness.netns import MASTER_NAME, wait_until
from tests.harness.processes import RedisGroup
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import (crash_after_promotion, start_sentinel_group, wait_promotion, wait_sentinel_exit,
                                    wait_settled)
from tests.harness.status import (StatusRecorder, run_report, status, statuses, subscribe_events, witness_rows,
                                  witnesses)
from tests.harness.topology import Topology
from tests.harness.writer import VipWriter
from tests.integration.conftest import EDGE_FLAVORS

# Hang guards only.
FAILOVER_S = 30
# How long the two Sentinels stay stopped: several times down-after and the lease.
STOP_S = 6


def failsafe_group(make_topology, module_path: str, flavor: str, **kwargs) -> tuple[Topology, RedisGroup]:
    """n1 master, n2 and n3 replicas, Sentinels on s1..s3; returns once n1 holds the VIP."""
    topo = make_topology(sentinel_hosts=3)
    return topo, start_sentinel_group(topo, module_path, flavor, **kwargs)


def assert_never_two_holders(g: RedisGroup, smp: HolderSampler, t0: float) -> None:
    multi = smp.multi_holder_samples(since=t0)
    assert not multi, (f"{len(multi)} samples show two holders (first at {multi[0].t - t0:+.3f}s: "
                       f"{multi[0].holders}, about {smp.duration_ms(lambda h: len(h) > 1, since=t0):.0f} ms)\n"
                       + run_report(g, smp, t0))


def assert_none_lost(g: RedisGroup, smp: HolderSampler, w: VipWriter, final, t0: float) -> list[int]:
    lost = w.missing_from(final)
    assert w.acks, "the writer got no write acknowledged: it proves nothing"
    assert not lost, f"{len(lost)} acknowledged writes lost (seq {lost[:10]})\n" + run_report(g, smp, t0)
    return lost


def events_named(lines: list[str], word: str) -> list[int]:
    """Indexes of the `__vip__:events` lines whose event word is ``word``."""
    return [i for i, ln in enumerate(lines) if ln.split(" ", 1)[0] == word]


def witness_hosts(rows: list[dict]) -> set[str]:
    return {str(r.get("address", "")).rsplit(":", 1)[0] for r in rows}


# ----------------------------------------------------------------------------------------------
# two of three Sentinels stopped


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_two_stopped_sentinels_master_holds_on_replicas_word(make_topology, module_path, flavor):
    """s2 and s3 stopped (SIGSTOP) for 6 s, every Redis node healthy: the lone Sentinel cannot
    confirm n1, but nothing says another node could be master, so n1 asks its replicas; both
    confirm, and n1 keeps the VIP in every sample. VIP.STATUS shows failsafe 1 during and 0
    after, `__vip__:events` has failsafe-enter then failsafe-leave, VIP.WITNESSES lists both
    replicas confirming; no acknowledged write is lost."""
    topo, g = failsafe_group(make_topology, module_path, flavor)
    events = subscribe_events(g["n1"])
    fields = ("failsafe", "holding", "witnesses", "witnesses_confirmed")
    with HolderSampler(topo) as smp, VipWriter(topo) as w, StatusRecorder(g, ["n1"], fields) as rec:
        time.sleep(0.5)
        t0 = time.monotonic()
        for s in ("s2", "s3"):
            g.sentinels[s].sigstop()
        try:
            wait_until(lambda: status(g["n1"])["failsafe"] == "1", 10, 0.02,
                       msg=lambda: f"n1 in failsafe\n{statuses(g)}\n{witnesses(g)}")
            t_in = time.monotonic()
            during = status(g["n1"])
            rows = witness_rows(g["n1"])
            time.sleep(max(0.0, STOP_S - (time.monotonic() - t0)))
        finally:
            t_cont = time.monotonic()
            for s in ("s2", "s3"):
                g.sentinels[s].sigcont()
        wait_until(lambda: status(g["n1"])["failsafe"] == "0", 15, 0.02,
                   msg=lambda: f"n1 out of failsafe\n{statuses(g)}\n{witnesses(g)}")
        t_out = time.monotonic()
        time.sleep(1)
    after = status(g["n1"])
    lines = events()
    off = [s for s in smp.snapshot(since=t0) if s.holders != ("n1",)]
    before = [s for s in rec.of("n1", until=t0) if s.fields["failsafe"] != "0"]
    print(f"\n[{flavor}] two Sentinels stopped {t_cont - t0:.1f}s: n1 in failsafe {(t_in - t0) * 1000:.0f} ms after "
          f"the stop, out {(t_out - t_cont) * 1000:.0f} ms after they resumed; no holder "
          f"{smp.duration_ms(lambda h: not h, since=t0):.0f} ms, two holders "
          f"{smp.duration_ms(lambda h: len(h) > 1, since=t0):.0f} ms; acknowledged writes lost "
          f"{len(w.missing_from(g['n1']))} of {len(w.acks)}; witnesses {rows}")
    assert not off, f"n1 did not hold alone in {len(off)} samples\n{run_report(g, smp, t0)}"
    assert not before, f"failsafe before the stop: {before[:3]}"
    assert (during["failsafe"], during["holding"], during["witnesses"], during["witnesses_confirmed"]) == \
        ("1", "1", "2", "2"), during
    assert during["reason"].startswith("failsafe"), during
    assert witness_hosts(rows) == {g["n2"].address, g["n3"].address}, rows
    assert all(str(r.get("reply", "")).startswith("follows") for r in rows), rows
    assert during["failsafe_since_ms"] not in ("", "0"), during
    assert (after["failsafe"], after["holding"]) == ("0", "1"), after
    enter, leave = events_named(lines, "failsafe-enter"), events_named(lines, "failsafe-leave")
    assert enter and leave and enter[0] < leave[-1], f"__vip__:events: {lines}"
    assert_none_lost(g, smp, w, g["n1"], t0)


@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_two_stopped_sentinels_without_failsafe_release_then_reclaim(make_topology, module_path, flavor):
    """The same stop with `vip.failsafe no`: n1 releases when its lease runs out (no failsafe,
    no question to the replicas) and claims again once the Sentinels answer."""
    topo, g = failsafe_group(make_topology, module_path, flavor, extra_module_args=["failsafe", "no"])
    with HolderSampler(topo) as smp, VipWriter(topo) as w, StatusRecorder(g, ["n1"], ("failsafe",)) as rec:
        time.sleep(0.5)
        t0 = time.monotonic()
        for s in ("s2", "s3"):
            g.sentinels[s].sigstop()
        try:
            rel = smp.wait_for(lambda s: "n1" not in s.holders, 10, "n1 releases", since=t0)
            during = status(g["n1"])
            time.sleep(max(0.0, STOP_S - (time.monotonic() - t0)))
        finally:
            t_cont = time.monotonic()
            for s in ("s2", "s3"):
                g.sentinels[s].sigcont()
        back = smp.wait_for(lambda s: "n1" in s.holders, 15, "n1 claims again", since=t_cont)
        time.sleep(1)
    after = status(g["n1"])
    print(f"\n[{flavor}] vip.failsafe no, two Sentinels stopped: n1 released {(rel.t - t0) * 1000:.0f} ms after, "
          f"claimed again {(back.t - t_cont) * 1000:.0f} ms after they resumed; no holder "
          f"{smp.duration_ms(lambda h: not h, since=t0):.0f} ms, two holders "
          f"{smp.duration_ms(lambda h: len(h) > 1, since=t0):.0f} ms; acknowledged writes lost "
          f"{len(w.missing_from(g['n1']))} of {len(w.acks)}")
    assert (during["failsafe"], during["holding"]) == ("0", "0"), during
    assert after["holding"] == "1" and after["last_fence_reason"] == "lease_expired", after
    entered = [x for x in rec.of("n1") if x.fields["failsafe"] != "0"]
    assert not entered, f"failsafe with vip.failsafe no: {entered[:3]}"
    assert_never_two_holders(g, smp, t0)
    assert_none_lost(g, smp, w, g["n1"], t0)


@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_two_stopped_sentinels_and_unreachable_replica_release(make_topology, module_path, flavor):
    """s2 and s3 stopped and replica n3 cut off (its link down): n3 cannot confirm, so n1 does
    not hold on its replicas' word; it releases when its lease runs out and claims again once
    everything is back."""
    topo, g = failsafe_group(make_topology, module_path, flavor)
    with HolderSampler(topo) as smp, VipWriter(topo) as w, StatusRecorder(g, ["n1"], ("failsafe",)) as rec:
        time.sleep(0.5)
        t0 = time.monotonic()
        topo.link_down("n3")
        for s in ("s2", "s3"):
            g.sentinels[s].sigstop()
        try:
            rel = smp.wait_for(lambda s: "n1" not in s.holders, 10, "n1 releases", since=t0)
            time.sleep(max(0.0, STOP_S - (time.monotonic() - t0)))
            during = status(g["n1"])
            rows = witness_rows(g["n1"])
        finally:
            t_cont = time.monotonic()
            for s in ("s2", "s3"):
                g.sentinels[s].sigcont()
            topo.link_up("n3")
        back = smp.wait_for(lambda s: "n1" in s.holders, 20, "n1 claims again", since=t_cont)
        time.sleep(1)
    print(f"\n[{flavor}] two Sentinels stopped, n3 cut off: n1 released {(rel.t - t0) * 1000:.0f} ms after, claimed "
          f"again {(back.t - t_cont) * 1000:.0f} ms after they resumed; no holder "
          f"{smp.duration_ms(lambda h: not h, since=t0):.0f} ms, two holders "
          f"{smp.duration_ms(lambda h: len(h) > 1, since=t0):.0f} ms; acknowledged writes lost "
          f"{len(w.missing_from(g['n1']))} of {len(w.acks)}; witnesses {rows}")
    assert during["holding"] == "0" and during["failsafe"] == "0", during
    assert during["witnesses"] == "2" and during["witnesses_confirmed"] != "2", during
    assert witness_hosts(rows) == {g["n2"].address, g["n3"].address}, rows
    entered = [x for x in rec.of("n1") if x.fields["failsafe"] != "0"]
    assert not entered, f"failsafe without n3's word: {entered[:3]}\n{run_report(g, smp, t0)}"
    assert_never_two_holders(g, smp, t0)
    assert_none_lost(g, smp, w, g["n1"], t0)


# ----------------------------------------------------------------------------------------------
# a failover while the replicas' promises stand


@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_failover_while_witness_promises_stand(make_topology, module_path, flavor):
    """With all three Sentinels up, n1 has a spare supporter and asks nobody: the replicas'
    witnessed_until_ms stays 0. With s3 stopped it has none spare, asks its replicas, and both
    promise. SENTINEL FAILOVER on s1: the promoted replica claims no earlier than the end of
    its promise (read from its VIP.STATUS every 20 ms: the end is at least the read's send time
    plus the ms left); never two holders. The claim delay is printed."""
    topo, g = failsafe_group(make_topology, module_path, flavor)
    with StatusRecorder(g, ["n2", "n3"], ("witnessed_until_ms", "holding")) as rec:
        time.sleep(2)
        t_stop = time.monotonic()
        asked_early = [s for s in rec.of("n2") + rec.of("n3") if s.fields["witnessed_until_ms"] != "0"]
        g.sentinels["s3"].sigstop()
        try:
            wait_until(lambda: all(int(status(g[n])["witnessed_until_ms"]) > 0 for n in ("n2", "n3")), 15, 0.02,
                       msg=lambda: f"n2 and n3 promising n1\n{statuses(g)}\n{witnesses(g)}")
            with HolderSampler(topo) as smp, VipWriter(topo) as w:
                time.sleep(0.5)
                t0 = time.monotonic()
                wall0 = time.time()
                g.sentinels["s1"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
                promoted, new = wait_promotion(g, wall0, FAILOVER_S)
                claim = smp.wait_for(lambda s: new in s.holders, FAILOVER_S, f"{new} claims", since=t0)
                rel = smp.wait_for(lambda s: "n1" not in s.holders, FAILOVER_S, "n1 releases", since=t0)
                wait_until(lambda: g["n1"].role() == "replica", 60, 0.1, msg="n1 converted to replica")
                final = wait_settled(g, ignore=("s3",))
                smp.wait_for(lambda s: s.holders == (final,), FAILOVER_S, f"{final} holding alone")
                time.sleep(0.5)
        finally:
            g.sentinels["s3"].sigcont()
    promises = [(s.t + int(s.fields["witnessed_until_ms"]) / 1000, s) for s in rec.of(new, since=t_stop)
                if s.fields["witnessed_until_ms"] not in ("", "0")]
    end = max((e for e, _ in promises), default=None)
    late = w.acked_by("n1", sent_after=promoted)
    lost = w.missing_from(g[final])
    print(f"\n[{flavor}] forced failover with s3 stopped: {new} promoted {promoted - wall0:.2f}s after SENTINEL "
          f"FAILOVER, claimed {(claim.wall - promoted) * 1000:.0f} ms after its promotion (claim delay), "
          f"{(claim.t - end) * 1000 if end else float('nan'):+.0f} ms from the end of its promise to n1; n1 released "
          f"{(rel.wall - promoted) * 1000:+.0f} ms from the promotion; two holders "
          f"{smp.duration_ms(lambda h: len(h) > 1, since=t0):.0f} ms, no holder "
          f"{smp.duration_ms(lambda h: not h, since=t0):.0f} ms; writes acknowledged by n1 after the promotion "
          f"{len(late)}, acknowledged writes lost {len(lost)} of {len(w.acks)}; holders {smp.describe(t0=t0)}")
    assert not asked_early, f"a replica promised with all three Sentinels up: {asked_early[:3]}"
    assert end is not None, f"{new} never showed a promise to n1"
    assert claim.t >= end, (f"{new} claimed {(end - claim.t) * 1000:.0f} ms before its promise ran out\n"
                            + run_report(g, smp, t0))
    assert_never_two_holders(g, smp, t0)


# ----------------------------------------------------------------------------------------------
# the leader crashes right after the promotion


@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_leader_crash_after_promotion_promoted_never_claims(make_topology, module_path, flavor):
    """`SENTINEL SIMULATE-FAILURE crash-after-promotion` on s1, then `SENTINEL FAILOVER` there:
    s1 promotes a replica and exits before it tells anyone. The promoted node never holds the
    VIP and acknowledges no write through it (a forced failover claims only once its leader
    reconfigures the replicas, or a quorum names it); s2 and s3 convert it back, and n1 gets
    the VIP back. n1's time without the VIP is printed."""
    topo, g = failsafe_group(make_topology, module_path, flavor)
    leader = g.sentinels["s1"]
    crash_after_promotion(leader)
    with HolderSampler(topo) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        leader.execute("SENTINEL", "FAILOVER", MASTER_NAME)
        promoted, new = wait_promotion(g, wall0, FAILOVER_S)
        code = wait_sentinel_exit(leader, FAILOVER_S)
        wait_until(lambda: g[new].role() == "replica", 90, 0.1,
                   msg=lambda: f"{new} converted back to a replica of n1\n{run_report(g, smp, t0)}")
        t_conv = time.monotonic()
        back = smp.wait_for(lambda s: s.holders == ("n1",), FAILOVER_S, "n1 holds again", since=t_conv)
        g.wait_replication(g["n1"], timeout=60)
        time.sleep(1)
    held = [s for s in smp.snapshot(since=t0) if new in s.holders]
    by_new = w.acked_by(new)
    without = smp.duration_ms(lambda h: "n1" not in h, since=t0)
    s1 = status(g["n1"])
    print(f"\n[{flavor}] s1 crashed after promoting {new} (exit {code}); {new} converted back "
          f"{t_conv - t0:.1f}s after SENTINEL FAILOVER; n1 without the VIP {without:.0f} ms (fence "
          f"{s1['last_fence_reason']!r}), holds again {back.t - t0:.1f}s after; writes acknowledged by {new} "
          f"through the VIP {len(by_new)}; two holders {smp.duration_ms(lambda h: len(h) > 1, since=t0):.0f} ms, "
          f"acknowledged writes lost {len(w.missing_from(g['n1']))} of {len(w.acks)}")
    assert not held, f"{new} held the VIP in {len(held)} samples\n{run_report(g, smp, t0)}"
    assert not by_new, f"{new} acknowledged {len(by_new)} writes through the VIP"
    assert s1["holding"] == "1" and g["n1"].role() == "master", s1
    assert_never_two_holders(g, smp, t0)
    assert_none_lost(g, smp, w, g["n1"], t0)
    assert not leader.alive()

