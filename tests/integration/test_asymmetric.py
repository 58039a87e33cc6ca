"""Asymmetric reachability: a master that can reach its replicas but not the Sentinels, the
Sentinels but not its replicas, all but one Sentinel; a stalled master woken mid-failover.

Every test runs 3 Redis nodes with the module in the Sentinel-confirmed mode and 3 Sentinels in
namespaces of their own (s1, s2, s3 on the same bridge: Topology(sentinel_hosts=3)), quorum 2,
down-after-milliseconds 1000. A cut is a packet filter inside the master's namespace only
(tests/harness/firewall.py: nft, drop both ways). A HolderSampler records who holds the VIP
every 20 ms and a VipWriter writes through the VIP from the observer; the tests assert safety
and effect facts over those records (never two holders, no acknowledged write lost, who held,
VIP.STATUS fields) and print the figures (ms with two holders, ms without a holder, writes
lost, the claim delay). Timeouts are upper bounds against hangs, never performance assertions.

Run: python3 -m pytest tests/integration/test_asymmetric.py -q -s [-k redis|valkey]
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.harness.logs import promotions
from tests.harness.netns import MASTER_NAME, wait_until
from tests.harness.processes import RedisGroup
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import (failover_under_way, start_sentinel_group, wait_promotion, wait_settled)
from tests.harness.status import run_report, status, statuses, witnesses
from tests.harness.topology import Topology
from tests.harness.writer import VipWriter
from tests.integration.conftest import EDGE_FLAVORS

# Hang guards only.
FAILOVER_S = 30
SENTINELS = ("s1", "s2", "s3")


def failsafe_group(make_topology, module_path: str, flavor: str, **kwargs) -> tuple[Topology, RedisGroup]:
    """n1 master, n2 and n3 replicas, Sentinels on s1..s3; returns once n1 holds the VIP."""
    topo = make_topology(sentinel_hosts=3)
    return topo, start_sentinel_group(topo, module_path, flavor, **kwargs)


def figures(smp: HolderSampler, w: VipWriter, final, t0: float) -> dict:
    """The figures every test prints: ms with two holders, ms without one, acknowledged writes
    lost (absent from the final master)."""
    return {"two_ms": smp.duration_ms(lambda h: len(h) > 1, since=t0),
            "none_ms": smp.duration_ms(lambda h: not h, since=t0),
            "lost": w.missing_from(final), "acked": len(w.acks)}


def heal_and_settle(g: RedisGroup, smp: HolderSampler, fw, host: str) -> str:
    """Undo the cut, wait until Sentinel has made n1 a replica and one node holds alone (a
    moment more for the writer's last writes); returns that node."""
    fw.unblock(host)
    wait_until(lambda: g["n1"].role() == "replica", 60, 0.1, msg="n1 converted to replica")
    final = wait_settled(g)
    smp.wait_for(lambda s: s.holders == (final,), FAILOVER_S, f"{final} holding alone")
    time.sleep(0.5)
    return final


def assert_safe(g: RedisGroup, smp: HolderSampler, f: dict, t0: float) -> None:
    """No sample with two holders, no acknowledged write lost."""
    multi = smp.multi_holder_samples(since=t0)
    assert not multi, (f"{len(multi)} samples show two holders (first at {multi[0].t - t0:+.3f}s: "
                       f"{multi[0].holders})\n" + run_report(g, smp, t0))
    assert f["acked"] > 0, "the writer got no write acknowledged: it proves nothing"
    assert not f["lost"], (f"{len(f['lost'])} acknowledged writes lost (first seq {f['lost'][:10]})\n"
                           + run_report(g, smp, t0))


# ----------------------------------------------------------------------------------------------
# the harness: a cut is what it says


def test_firewall_cuts_only_the_named_hosts(make_topology):
    """The packet filter in n1's namespace drops traffic with s1 (both ways) and nothing else,
    counts what it dropped, and lets it pass again once lifted; the other hosts never see it."""
    topo = make_topology(sentinel_hosts=3)
    assert [h for h in topo.hosts if h.startswith("s")] == ["s1", "s2", "s3"]
    assert topo.has_address("s1", "192.0.2.31") and topo.ping("n1", topo.addr4("s1"))
    fw = topo.firewall("n1")
    with fw.blocking("s1"):
        assert not topo.ping("n1", topo.addr4("s1"), timeout_s=0.5)
        assert not topo.ping("s1", topo.addr4("n1"), timeout_s=0.5)
        assert topo.ping("n1", topo.addr4("s2")) and topo.ping("n1", topo.addr4("n2"))
        assert topo.ping("s1", topo.addr4("n2"))
        dropped = fw.dropped()
        assert dropped["in"] > 0 and dropped["out"] > 0, dropped
        assert fw.blocked() == {"in": ["192.0.2.31"], "out": ["192.0.2.31"]}
    assert fw.blocked() == {"in": [], "out": []}
    assert topo.ping("n1", topo.addr4("s1")) and topo.ping("s1", topo.addr4("n1"))
    fw.block("s2", direction="out")
    assert not topo.ping("n1", topo.addr4("s2"), timeout_s=0.5)
    assert fw.dropped()["out"] > 0 and "vtfw" not in topo.firewall("n2").ruleset()
    fw.clear()
    assert topo.ping("n1", topo.addr4("s2")) and "vtfw" not in fw.ruleset()


# ----------------------------------------------------------------------------------------------
# the master cut off from the Sentinels, not from its replicas


@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_master_cut_from_sentinels_fails_over_safely(make_topology, module_path, flavor):
    """n1 can reach its replicas but no Sentinel: its Sentinels' support lapses and it holds on
    its replicas' word (failsafe) while the Sentinels call it down and promote a replica. n1
    lets go on a witness's word (its replicas hear their Sentinels report it down, or at the
    latest the promoted one answers that it is a master now: last_fence_reason
    witness_denies); the promoted one claims only after the promise it gave n1 ran out. Never
    two holders, no acknowledged write lost; the claim delay is printed."""
    topo, g = failsafe_group(make_topology, module_path, flavor)
    fw = topo.firewall("n1")
    with HolderSampler(topo) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        fw.block(*SENTINELS)
        promoted, new = wait_promotion(g, wall0, FAILOVER_S)
        claim = smp.wait_for(lambda s: new in s.holders, FAILOVER_S, f"{new} claims", since=t0)
        rel = smp.wait_for(lambda s: "n1" not in s.holders, FAILOVER_S, "n1 releases", since=t0)
        cut_status = status(g["n1"])
        cut_dropped = fw.dropped()
        time.sleep(1)
        fw.unblock(*SENTINELS)
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1,
                   msg=lambda: f"n1 converted to replica after the cut\n{run_report(g, smp, t0)}")
        final = wait_settled(g)
        smp.wait_for(lambda s: s.holders == (final,), FAILOVER_S, f"{final} holding alone")
        time.sleep(0.5)
    f = figures(smp, w, g[final], t0)
    late = w.acked_by("n1", sent_after=promoted)
    print(f"\n[{flavor}] n1 cut from the Sentinels: {new} promoted {promoted - wall0:.2f}s after the cut, "
          f"claimed {(claim.wall - promoted) * 1000:.0f} ms after its promotion (claim delay); n1 released "
          f"{(rel.wall - promoted) * 1000:+.0f} ms from the promotion (fence {cut_status['last_fence_reason']}); "
          f"two holders {f['two_ms']:.0f} ms, no holder {f['none_ms']:.0f} ms; writes acknowledged by n1 after "
          f"the promotion {len(late)}, acknowledged writes lost {len(f['lost'])} of {f['acked']}")
    assert cut_dropped["out"] > 0, f"the cut dropped nothing: {cut_dropped}"
    assert_safe(g, smp, f, t0)
    assert (cut_status["holding"], cut_status["last_fence_reason"]) == ("0", "witness_denies"), cut_status


# ----------------------------------------------------------------------------------------------
# the master cut off from its replicas, not from the Sentinels


@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_master_cut_from_replicas_keeps_vip(make_topology, module_path, flavor):
    """n1 can reach every Sentinel but neither replica, for 6 s (six times down-after): the
    Sentinels still reach it, so nobody fails it over, and it keeps the VIP throughout (it has
    all three Sentinels' support, so it asks no replica). No promotion, no sample without n1."""
    topo, g = failsafe_group(make_topology, module_path, flavor)
    fw = topo.firewall("n1")
    with HolderSampler(topo) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        with fw.blocking("n2", "n3"):
            time.sleep(6)
            cut_status = status(g["n1"])
            cut_dropped = fw.dropped()
            link = g["n2"].client().info("replication").get("master_link_status")
        t_up = time.monotonic()
        g.wait_replication(g["n1"], timeout=60)
        time.sleep(1)
    f = figures(smp, w, g["n1"], t0)
    later = [p for p in promotions(g) if p[0] >= wall0]
    off = [s for s in smp.snapshot(since=t0) if s.holders != ("n1",)]
    print(f"\n[{flavor}] n1 cut from its replicas for {t_up - t0:.1f}s: n2's link {link} (a replica notices after repl-timeout); no holder "
          f"{f['none_ms']:.0f} ms, two holders {f['two_ms']:.0f} ms, acknowledged writes lost {len(f['lost'])} "
          f"of {f['acked']}; n1 failsafe={cut_status.get('failsafe')} sentinels_confirming="
          f"{cut_status.get('sentinels_confirming')}")
    assert cut_dropped["in"] > 0 and cut_dropped["out"] > 0, f"the cut dropped nothing: {cut_dropped}"
    assert not later, f"a promotion happened: {later}\n{run_report(g, smp, t0)}"
    assert not off, f"n1 did not hold alone throughout ({len(off)} samples)\n{run_report(g, smp, t0)}"
    assert (cut_status["holding"], cut_status["failsafe"]) == ("1", "0"), cut_status
    assert_safe(g, smp, f, t0)


# ----------------------------------------------------------------------------------------------
# a failover forced by a Sentinel the master cannot reach


@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_failover_forced_by_unreachable_sentinel(make_topology, module_path, flavor):
    """n1 cannot reach s3 (its namespace drops everything to and from s3), the rest is whole:
    n1 still has s1's and s2's support but no spare one, so it asks its replicas. SENTINEL
    FAILOVER is sent to s3: the replica s3 promotes answers n1 that it is a master now, which
    fences n1; it claims once its promise to n1 ran out. Never two holders, no acknowledged
    write lost."""
    topo, g = failsafe_group(make_topology, module_path, flavor)
    fw = topo.firewall("n1")
    fw.block("s3")
    # n1 asks its replicas once s3's support has lapsed (it has no spare supporter then)
    wait_until(lambda: int(status(g["n1"]).get("witnesses_confirmed") or 0) == 2, 15, 0.05,
               msg=lambda: f"n1 asking its replicas with s3 cut off\n{statuses(g)}\n{witnesses(g)}")
    with HolderSampler(topo) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        g.sentinels["s3"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
        promoted, new = wait_promotion(g, wall0, FAILOVER_S)
        claim = smp.wait_for(lambda s: new in s.holders, FAILOVER_S, f"{new} claims", since=t0)
        rel = smp.wait_for(lambda s: "n1" not in s.holders, FAILOVER_S, "n1 releases", since=t0)
        s1 = status(g["n1"])
        final = heal_and_settle(g, smp, fw, "s3")
    f = figures(smp, w, g[final], t0)
    late = w.acked_by("n1", sent_after=promoted)
    print(f"\n[{flavor}] failover forced by s3 (cut from n1): {new} promoted {promoted - wall0:.2f}s after "
          f"SENTINEL FAILOVER, claimed {(claim.wall - promoted) * 1000:.0f} ms after its promotion; n1 released "
          f"{(rel.wall - promoted) * 1000:+.0f} ms from the promotion (fence {s1['last_fence_reason']}); two "
          f"holders {f['two_ms']:.0f} ms, no holder {f['none_ms']:.0f} ms; writes acknowledged by n1 after the "
          f"promotion {len(late)}, acknowledged writes lost {len(f['lost'])} of {f['acked']}")
    assert_safe(g, smp, f, t0)
    assert s1["holding"] == "0", s1


# ----------------------------------------------------------------------------------------------
# a stalled master woken while the failover runs


@pytest.mark.parametrize("stall", ["debug-sleep", "sigstop"])
@pytest.mark.parametrize("flavor", EDGE_FLAVORS)
def test_stalled_master_woken_mid_failover(make_topology, module_path, flavor, stall):
    """n1 cannot reach s3, and stalls longer than down-after: DEBUG SLEEP 2 (its main thread
    only: the module's threads go on; it wakes about when the Sentinels fail it over) or SIGSTOP
    (the whole process, continued as soon as a Sentinel reports the failover under way). Never
    two holders, no acknowledged write lost: what n1 acknowledged after waking, if anything,
    must not be a write the promoted node never got."""
    topo, g = failsafe_group(make_topology, module_path, flavor, extra_conf=["enable-debug-command yes"])
    fw = topo.firewall("n1")
    fw.block("s3")
    wait_until(lambda: int(status(g["n1"]).get("witnesses_confirmed") or 0) == 2, 15, 0.05,
               msg=lambda: f"n1 asking its replicas with s3 cut off\n{statuses(g)}\n{witnesses(g)}")
    woke: list[float] = []
    with HolderSampler(topo) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        if stall == "sigstop":
            g["n1"].sigstop()

            def under_way() -> bool:
                # any Sentinel may lead (s3 too: only n1 cannot reach it); a promotion already
                # logged means the failover is running as well
                return (any(failover_under_way(g.sentinels[s]) for s in SENTINELS)
                        or any(p[0] >= wall0 for p in promotions(g)))

            try:
                wait_until(under_way, FAILOVER_S, 0.02, msg=lambda: f"a failover under way\n{statuses(g)}")
            finally:
                g["n1"].sigcont()
                woke.append(time.time())
        else:
            def sleep() -> None:
                g["n1"].client(socket_timeout=30).execute_command("DEBUG", "SLEEP", "2")
                woke.append(time.time())

            sleeper = threading.Thread(target=sleep, daemon=True)
            sleeper.start()
        promoted, new = wait_promotion(g, wall0, FAILOVER_S)
        smp.wait_for(lambda s: new in s.holders, FAILOVER_S, f"{new} claims", since=t0)
        wait_until(lambda: woke, 30, 0.05, msg="n1 woke")
        final = heal_and_settle(g, smp, fw, "s3")
    f = figures(smp, w, g[final], t0)
    late = w.acked_by("n1", sent_after=promoted)
    print(f"\n[{flavor}/{stall}] n1 stalled for {woke[0] - wall0:.2f}s, {new} promoted {promoted - wall0:.2f}s after "
          f"the stall began; two holders {f['two_ms']:.0f} ms, no holder {f['none_ms']:.0f} ms; writes "
          f"acknowledged by n1 after the promotion {len(late)}, acknowledged writes lost {len(f['lost'])} "
          f"of {f['acked']}")
    assert_safe(g, smp, f, t0)
