"""The Sentinel-confirmed mode: each node asks the Sentinels who the master is (issue 7).

Every test runs 3 Redis nodes with the module (vip.sentinels = the three Sentinels,
vip.master-name mymaster) and 3 Sentinels (quorum 2, down-after-milliseconds 1000, Sentinel's
usual setting), in namespaces of its own, with a client writing through the VIP from the
observer namespace where the story needs one. A HolderSampler (tests/harness/sampling.py) records which nodes
hold the VIP every 20 ms, one netlink dump per node namespace; properties are checked over that
record ("no sample shows two holders", "n1 released before the promotion"). Orders and counts
are asserted; timeouts are upper bounds against hangs, never performance assertions. Measured
figures are printed (pytest -s) and appear in failure messages; docs/benchmarks.md has the
benchmarked ones.

Run: python3 -m pytest tests/integration/test_sentinel.py -q [-k redis|valkey]
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.harness.logs import log_events, module_log, promotions, publish_forged_hellos, thread_cpu_ticks
from tests.harness.netns import MASTER_NAME, VIP_IP, wait_until
from tests.harness.processes import RedisGroup
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import (SENTINEL_PASS, SENTINEL_USER, first_promotion, module_args, start_sentinel_group,
                                    start_sentinels, wait_settled)
from tests.harness.status import sentinel_rows, status, statuses, subscribe_events
from tests.harness.topology import Topology
from tests.harness.writer import VipWriter
from tests.integration.conftest import FLAVORS

# Hang guards only (the properties are orders and counts; measured times are printed).
FAILOVER_S = 30


def report(topo: Topology, g: RedisGroup, smp: HolderSampler, t0: float) -> str:
    """Holder timeline (relative to t0), sampling resolution, VIP.STATUS and module log lines."""
    parts = [f"holders: {smp.describe(t0=t0)}",
             f"samples: {len(smp.samples)}, largest gap {smp.max_gap() * 1000:.0f} ms, errors {smp.errors[:3]}",
             statuses(g)]
    for name, n in g.nodes.items():
        parts.append(f"--- {name} module log\n{module_log(n)}")
    return "\n".join(parts)


def assert_never_two_holders(topo, g, smp, t0, since=float("-inf")):
    multi = smp.multi_holder_samples(since=since)
    if multi:
        pytest.fail(f"{len(multi)} samples show two holders (first at {multi[0].t - t0:+.3f}s: "
                    f"{multi[0].holders}, about {smp.duration_ms(lambda h: len(h) > 1, since):.0f} ms)\n"
                    + report(topo, g, smp, t0))


def first(smp: HolderSampler, pred, since: float):
    for s in smp.snapshot(since=since):
        if pred(s):
            return s
    return None


def module_event(node, text: str, after: float) -> float:
    """Wall time of the first module log line containing ``text`` after ``after``."""
    times = [t for t, msg in log_events(node, text) if t >= after - 0.01 and "<vip>" in msg]
    assert times, f"no '{text}' in {node.name}'s log after {after}:\n{module_log(node)}"
    return times[0]


# ----------------------------------------------------------------------------------------------
# start-up, kill -9, stale restart


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_kill9_then_stale_restart(topo, module_path, flavor):
    """The story of a crash: n1 holds once the Sentinels confirm it; kill -9; the promoted replica
    claims at its role event (announced on the wire, seen from the observer); the killed master,
    restarted with a config that still says master, never holds the VIP and acknowledges no write
    through it, while stale and after Sentinel converts it."""
    g = start_sentinel_group(topo, module_path, flavor)
    s1 = status(g["n1"])
    assert (s1["mode"], s1["state"], s1["quorum"]) == ("sentinel", "holding", "2"), s1
    cap = topo.capture("obs", filter="arp").start()
    with HolderSampler(topo, interval=0.02) as smp, VipWriter(topo) as w:
        t0 = time.monotonic()
        wall0 = time.time()
        g["n1"].kill9()
        promoted, first_new = first_promotion_wait(g, wall0)
        claimed = module_event(g[first_new], "claiming", wall0)
        new = wait_settled(g, ignore=("n1",))
        alone = smp.wait_for(lambda s: s.holders == (new,), FAILOVER_S, f"{new} holding alone", since=t0)
        garp = cap.wait_for(lambda p: p.is_garp and p.announces(VIP_IP) and p.ts >= promoted - 0.05, 10,
                            msg=f"a gratuitous ARP for {VIP_IP} from {new}")[0]
        t_restart = time.time()
        g["n1"].start()
        g["n1"].wait_ready()
        roles = []

        def converted() -> bool:
            roles.append(g["n1"].role())
            assert status(g["n1"])["holding"] == "0", statuses(g)
            return roles[-1] == "replica"

        # Sentinel converts a restarted master at its next INFO of it (up to 10 s).
        wait_until(converted, 60, 0.05, msg=lambda: f"n1 converted to replica\n{report(topo, g, smp, t0)}")
        time.sleep(1)
    sn = status(g[first_new])
    print(f"\n[{flavor}] kill -9 -> {first_new} promoted {promoted - wall0:.3f}s (settled on {new}), claim logged "
          f"{(claimed - promoted) * 1000:.0f} ms after, first GARP {(garp.ts - promoted) * 1000:.1f} ms after "
          f"(role event -> announcement {sn['last_claim_latency_us']} us); stale n1 was master at first: "
          f"{roles[0] == 'master'}")
    assert garp.ts >= claimed - 0.002, "the announcement follows the claim"
    assert status(g[new])["holding"] == "1", statuses(g)
    assert roles[0] == "master", f"the restarted n1 was not a stale master at first (roles {roles[:3]})"
    held = [s for s in smp.snapshot() if "n1" in s.holders and s.wall > t_restart]
    if held:
        pytest.fail(f"stale n1 held the VIP in {len(held)} samples\n" + report(topo, g, smp, t0))
    assert not w.acked_by("n1", sent_after=t_restart), "the stale n1 acknowledged writes through the VIP"
    assert status(g["n1"])["claims"] == "0"
    assert_never_two_holders(topo, g, smp, t0, since=alone.t)
    assert smp.last().holders == (new,), report(topo, g, smp, t0)


# ----------------------------------------------------------------------------------------------
# isolation


@pytest.mark.parametrize("flavor", FLAVORS)
def test_isolated_master_releases_before_promotion(topo, module_path, flavor):
    """n1's link goes down for 8 s: it releases (its lease runs out) before any replica is
    promoted; after the link returns, no sample shows two holders, and n1 acknowledges no write
    through the VIP after the promotion."""
    g = start_sentinel_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        topo.link_down("n1")
        rel = smp.wait_for(lambda s: "n1" not in s.holders, 10, "isolated n1 releases", since=t0)
        promoted, first_new = first_promotion_wait(g, wall0)
        claim = smp.wait_for(lambda s: first_new in s.holders, FAILOVER_S, f"{first_new} claims", since=t0)
        time.sleep(max(0.0, 8 - (time.monotonic() - t0)))
        t_up = time.monotonic()
        topo.link_up("n1")
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1,
                   msg=lambda: f"n1 converted to replica after the link returned\n{report(topo, g, smp, t0)}")
        new = wait_settled(g)
        smp.wait_for(lambda s: s.holders == (new,), FAILOVER_S, f"{new} holding alone")
    s1 = status(g["n1"])
    print(f"\n[{flavor}] isolated n1 released {(rel.t - t0) * 1000:.0f} ms after link down; {first_new} promoted "
          f"{promoted - wall0:.2f}s and claimed {claim.t - t0:.2f}s after; reason {s1['last_fence_reason']}")
    assert rel.wall < promoted, f"n1 released after the promotion\n{report(topo, g, smp, t0)}"
    assert s1["holding"] == "0" and s1["last_fence_reason"] == "lease_expired", s1
    assert_never_two_holders(topo, g, smp, t0)
    again = [s for s in smp.snapshot(since=rel.t) if "n1" in s.holders]
    if again:
        pytest.fail(f"n1 held the VIP again at {again[0].t - t0:+.3f}s (link up at {t_up - t0:+.3f}s)\n"
                    + report(topo, g, smp, t0))
    assert not w.acked_by("n1", sent_after=promoted), "n1 acknowledged writes after the promotion"
    assert smp.last().holders == (new,), report(topo, g, smp, t0)


# ----------------------------------------------------------------------------------------------
# planned failover


@pytest.mark.parametrize("flavor", FLAVORS)
def test_planned_failover(topo, module_path, flavor):
    """SENTINEL FAILOVER with every node healthy: the old master releases once the leader has
    chosen another replica, never holds again, and the new master holds from its promotion on.
    The writes the old master acknowledged through the VIP after the promotion are counted and
    printed (docs/benchmarks.md reports them over repeated runs)."""
    g = start_sentinel_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
        promoted, new = first_promotion_wait(g, wall0)
        claim = smp.wait_for(lambda s: new in s.holders, FAILOVER_S, f"{new} claims", since=t0)
        rel = smp.wait_for(lambda s: "n1" not in s.holders, 10, "n1 releases", since=t0)
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1, msg="n1 converted to replica")
        final = wait_settled(g)
        smp.wait_for(lambda s: s.holders == (final,), FAILOVER_S, f"{final} holding alone")
    released = module_event(g["n1"], "releasing", wall0)
    chosen = [t for t, msg in log_events(g.sentinels["n2"], "+failover-state-send-slaveof-noone")
              if t >= wall0 - 0.01]
    late = w.acked_by("n1", sent_after=promoted)
    s1 = status(g["n1"])
    overlap = smp.duration_ms(lambda h: len(h) > 1, since=t0)
    print(f"\n[{flavor}] leader chose {new} at {(chosen[0] - wall0) * 1000 if chosen else float('nan'):.0f} ms, "
          f"n1 released at {(released - wall0) * 1000:.0f} ms, {new} promoted at {(promoted - wall0) * 1000:.0f} ms; "
          f"two holders ~{overlap:.0f} ms; writes acknowledged by n1 after the promotion: {len(late)}; "
          f"fence {s1['last_fence_reason']}")
    assert s1["holding"] == "0" and s1["fences"] == "1", s1
    # the leader's own answer, or a replica that hears it failing n1 over (VIP.WITNESS: the
    # leader's failover_in_progress leaves n1 no spare Sentinel, so it asks its replicas)
    assert s1["last_fence_reason"] in ("failover_promotes_other", "newer_config_names_other",
                                       "witness_denies"), s1
    again = [s for s in smp.snapshot(since=rel.t) if "n1" in s.holders]
    assert not again, report(topo, g, smp, t0)
    if final == new:  # (unless Sentinel failed the new master over again: see wait_settled)
        gaps = [s for s in smp.snapshot(since=claim.t) if new not in s.holders]
        assert not gaps, f"{new} released after claiming\n" + report(topo, g, smp, t0)
        assert status(g[new])["releases"] == "0"


# ----------------------------------------------------------------------------------------------
# a busy master


@pytest.mark.parametrize("flavor", FLAVORS)
def test_busy_master_releases_and_never_reclaims(make_topology, module_path, flavor):
    """DEBUG SLEEP 5 on the master: the Sentinels fail over while it sleeps. Its module keeps
    running on its own thread: it releases before the promotion (the Sentinels' unanswered
    PING bounds its lease), and after waking the old master, still a master for a while, never
    claims again."""
    topo = make_topology()
    g = topo.redis(flavor=flavor, module=module_path, vip=f"{VIP_IP}/24",
                   module_args=module_args(topo), extra_conf=["enable-debug-command yes"])
    g.start()
    start_sentinels(g)
    wait_until(lambda: topo.holders(VIP_IP) == ["n1"], 30, 0.02, msg=lambda: statuses(g))
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        wall0 = time.time()
        sleeper = threading.Thread(target=lambda: g["n1"].client(socket_timeout=30).execute_command(
            "DEBUG", "SLEEP", "5"), daemon=True)
        sleeper.start()
        promoted, new = first_promotion_wait(g, wall0)
        smp.wait_for(lambda s: new in s.holders, FAILOVER_S, f"{new} claims", since=t0)
        sleeper.join(30)
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1, msg="n1 converted to replica")
        final = wait_settled(g)
        smp.wait_for(lambda s: s.holders == (final,), FAILOVER_S, f"{final} holding alone")
    rel = first(smp, lambda s: "n1" not in s.holders, since=t0)
    s1 = status(g["n1"])
    print(f"\n[{flavor}] sleeping n1 released {(rel.wall - wall0) * 1000:.0f} ms into DEBUG SLEEP; {new} promoted "
          f"at {(promoted - wall0) * 1000:.0f} ms; fence {s1['last_fence_reason']}")
    assert rel is not None and rel.wall < promoted, report(topo, g, smp, t0)
    again = [s for s in smp.snapshot(since=rel.t) if "n1" in s.holders]
    assert not again, "n1 claimed again after waking\n" + report(topo, g, smp, t0)
    assert_never_two_holders(topo, g, smp, t0)
    assert s1["claims"] == "1" and s1["holding"] == "0", s1


# ----------------------------------------------------------------------------------------------
# losing Sentinels


@pytest.mark.parametrize("flavor", FLAVORS)
def test_one_stopped_sentinel_changes_nothing(topo, module_path, flavor):
    """One of three Sentinels stopped (SIGSTOP: it accepts TCP and never answers) for 60 s: the
    master never releases and never flaps. Then, still without that Sentinel, kill -9: the
    promoted node claims at its role event, on the leader's answer; the stopped one delays
    nothing. (Right after +switch-master the two remaining Sentinels must both confirm, and a
    Sentinel re-linking to the new master can leave it unconfirmed for a moment: the releases
    of the new master are printed, see docs/safety.md.)"""
    g = start_sentinel_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        g.sentinels["n3"].sigstop()
        try:
            time.sleep(60)
            steady = [s for s in smp.snapshot(since=t0) if s.holders != ("n1",)]
            s1 = status(g["n1"])
            wall_kill = time.time()
            g["n1"].kill9()
            promoted, new = first_promotion_wait(g, wall_kill)
            smp.wait_for(lambda s: new in s.holders, FAILOVER_S, f"{new} claims", since=t0)
            final = wait_settled(g, ignore=("n1", "n3"))
            smp.wait_for(lambda s: s.holders == (final,), FAILOVER_S, f"{final} holding alone")
            rows = {r["address"]: r for r in sentinel_rows(g[final])}
        finally:
            g.sentinels["n3"].sigcont()
    stopped_row = rows.get(f"{g.sentinels['n3'].address}:26379", {})
    claimed = module_event(g[new], "claiming", wall_kill)
    sn = status(g[new])
    print(f"\n[{flavor}] 60 s with Sentinel n3 stopped: n1 held in every sample; then kill -9: {new} claimed "
          f"{(claimed - promoted) * 1000:.0f} ms after its promotion log line (role event -> announcement "
          f"{sn['last_claim_latency_us']} us), releases since: {sn['releases']}; stopped Sentinel: "
          f"reachable={stopped_row.get('reachable')} last_error={stopped_row.get('last_error')!r}")
    assert not steady, f"n1 lost the VIP while only one Sentinel was stopped\n{report(topo, g, smp, t0)}"
    assert (s1["claims"], s1["releases"], s1["sentinels_reachable"]) == ("1", "0", "2"), s1
    assert status(g[final])["holding"] == "1", statuses(g)
    assert stopped_row.get("reachable") == 0, rows


def first_promotion_wait(g: RedisGroup, after: float) -> tuple[float, str]:
    """Wait for the first REPLICAOF NO ONE after ``after``; (wall time, node)."""
    wait_until(lambda: [p for p in promotions(g) if p[0] >= after - 0.01], FAILOVER_S, 0.05,
               msg=lambda: f"a promotion\n{statuses(g)}")
    return first_promotion(g, after)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_two_stopped_sentinels_release_then_reclaim(topo, module_path, flavor):
    """Two of three Sentinels stopped for 10 s with every Redis node healthy, `vip.failsafe no`
    (the strict behaviour): the master releases when its lease runs out (the Sentinels alone
    cannot prove that no other node can be master), and claims again once they answer. The
    outage is printed. (With the failsafe, the default, it keeps the VIP: test_failsafe.py.)"""
    g = start_sentinel_group(topo, module_path, flavor, extra_module_args=["failsafe", "no"])
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        for n in ("n2", "n3"):
            g.sentinels[n].sigstop()
        try:
            rel = smp.wait_for(lambda s: "n1" not in s.holders, 10, "n1 releases", since=t0)
            time.sleep(max(0.0, 10 - (time.monotonic() - t0)))
        finally:
            t_cont = time.monotonic()
            for n in ("n2", "n3"):
                g.sentinels[n].sigcont()
        back = smp.wait_for(lambda s: "n1" in s.holders, 10, "n1 claims again", since=t_cont)
        time.sleep(1)
    s1 = status(g["n1"])
    print(f"\n[{flavor}] two Sentinels stopped: n1 released {(rel.t - t0) * 1000:.0f} ms after, claimed again "
          f"{(back.t - t_cont) * 1000:.0f} ms after they resumed; VIP on no node for "
          f"{smp.duration_ms(lambda h: not h, since=t0):.0f} ms")
    assert s1["last_fence_reason"] == "lease_expired" and s1["holding"] == "1", s1
    assert not [s for s in smp.snapshot(since=rel.t, until=t_cont) if "n1" in s.holders], \
        report(topo, g, smp, t0)
    assert_never_two_holders(topo, g, smp, t0)


# ----------------------------------------------------------------------------------------------
# authentication


@pytest.mark.parametrize("how", ["requirepass", "acl-user"])
@pytest.mark.parametrize("flavor", FLAVORS)
def test_authenticated_sentinels(topo, module_path, flavor, how):
    """Sentinels protected by requirepass, or polled as an ACL user allowed only the commands the
    module sends: the mode works (n1 confirmed and holding, every Sentinel reachable)."""
    auth = (None, SENTINEL_PASS) if how == "requirepass" else (SENTINEL_USER, SENTINEL_PASS)
    g = start_sentinel_group(topo, module_path, flavor, sentinel_auth=auth)
    s1 = status(g["n1"])
    assert s1["state"] == "holding" and s1["sentinels_reachable"] == "3", s1
    log = g["n1"].log_text()
    assert SENTINEL_PASS not in log, "the password appears in the Redis log"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_wrong_password_is_a_visible_error_and_no_claim(topo, module_path, flavor):
    """The module given a wrong password: state error, last_error names the Sentinel and the
    authentication failure, no node claims, the password never appears in the log."""
    g = start_sentinel_group(topo, module_path, flavor, sentinel_auth=(None, SENTINEL_PASS),
                             auth=(None, "not-the-password"), wait_holder=False)
    wait_until(lambda: status(g["n1"])["state"] == "error", 10, 0.05, msg=lambda: statuses(g))
    time.sleep(1)
    s1 = status(g["n1"])
    print(f"\n[{flavor}] last_error: {s1['last_error']}")
    assert "authentication failed" in s1["last_error"] and ":26379" in s1["last_error"], s1
    assert topo.holders(VIP_IP) == [] and s1["claims"] == "0", statuses(g)
    assert "not-the-password" not in g["n1"].log_text()


# ----------------------------------------------------------------------------------------------
# hellos are no longer listened to


@pytest.mark.parametrize("flavor", FLAVORS)
def test_forged_hellos_change_nothing(topo, module_path, flavor):
    """100 000 `PUBLISH __sentinel__:hello` from an ordinary client (random run ids, about a
    master the Sentinels do not monitor, so the Sentinels themselves are left alone): the module
    does not listen to hellos at all. Nothing changes, the worker spends no more CPU than in an
    idle stretch of the same length, and SHUTDOWN completes."""
    g = start_sentinel_group(topo, module_path, flavor)
    before = status(g["n1"])
    idle0 = thread_cpu_ticks(g["n1"], "vip-worker")
    t_idle = time.monotonic()
    time.sleep(3)
    idle_ticks = thread_cpu_ticks(g["n1"], "vip-worker") - idle0
    idle_s = time.monotonic() - t_idle
    busy0 = thread_cpu_ticks(g["n1"], "vip-worker")
    sent_s = publish_forged_hellos(g["n1"], 100_000)
    t_pad = max(0.0, idle_s - sent_s)
    time.sleep(t_pad)
    busy_ticks = thread_cpu_ticks(g["n1"], "vip-worker") - busy0
    after = status(g["n1"])
    t_shut = time.monotonic()
    try:
        g["n1"].execute("SHUTDOWN", "NOSAVE")
    except Exception:  # noqa: BLE001 - the connection closes
        pass
    g["n1"].wait_exit(30)
    shutdown_ms = (time.monotonic() - t_shut) * 1000
    print(f"\n[{flavor}] 100k forged hellos in {sent_s:.1f}s: vip-worker {busy_ticks} ticks vs {idle_ticks} idle; "
          f"SHUTDOWN took {shutdown_ms:.0f} ms")
    for k in ("holding", "claims", "releases", "fences", "errors"):
        assert before[k] == after[k], (k, before, after)
    assert busy_ticks <= idle_ticks + 2, f"the worker worked on hellos: {busy_ticks} vs {idle_ticks} ticks"


# ----------------------------------------------------------------------------------------------
# identity


@pytest.mark.parametrize("flavor", FLAVORS)
def test_manual_promotion_no_sentinel_confirms(topo, module_path, flavor):
    """REPLICAOF NO ONE on replica n2 by hand, which no Sentinel asked for: n2 never claims (no
    Sentinel names it or promotes it); n1 holds throughout."""
    g = start_sentinel_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        g["n2"].replicaof(None)
        time.sleep(2)
        s2 = status(g["n2"])
    assert s2["role"] == "master" and s2["holding"] == "0" and s2["claims"] == "0", s2
    assert s2["reason"].startswith(("waiting:", "fenced:")), s2
    off = [s for s in smp.snapshot(since=t0) if s.holders != ("n1",)]
    assert not off, report(topo, g, smp, t0)


def test_announce_ip_is_matched_by_run_id(make_topology, module_path):
    """n2 announces itself under another address (replica-announce-ip, as behind NAT): the
    Sentinels know it only by that address, and its module still recognises itself by run id
    when it is promoted."""
    topo = make_topology()
    topo.ipcmd("n2", "addr", "add", "192.0.2.112/24", "dev", "eth0")
    g = topo.redis(module=module_path, vip=f"{VIP_IP}/24", module_args=module_args(topo))
    g["n2"].extra_conf.append("replica-announce-ip 192.0.2.112")
    g["n2"].write_conf()
    g["n3"].extra_conf.append("replica-priority 0")  # only n2 can be promoted
    g["n3"].write_conf()
    g.start(wait_replication=False)
    wait_until(lambda: all(g[n].client().info("replication").get("master_link_status") == "up"
                           for n in ("n2", "n3")), 20, 0.1, msg="replicas linked")
    start_sentinels(g)
    wait_until(lambda: topo.holders(VIP_IP) == ["n1"], 30, 0.02, msg=lambda: statuses(g))
    assert any(r.get("ip") == "192.0.2.112" for r in g.sentinels["n1"].replicas())
    g["n1"].kill9()
    wait_until(lambda: "n2" in topo.holders(VIP_IP), FAILOVER_S, 0.02, msg=lambda: statuses(g))
    assert status(g["n2"])["holding"] == "1"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_second_holder_reported_as_conflict(topo, module_path, flavor):
    """The VIP added by hand on n2 (ip addr add) and announced from there with a gratuitous ARP:
    the real holder n1, whose listener the core opened when it claimed, counts a conflict naming
    n2's MAC; a node that does not hold counts none."""
    g = start_sentinel_group(topo, module_path, flavor)
    s1 = status(g["n1"])
    assert s1["conflicts"] == "0" and s1["holding"] == "1", s1
    mac2 = topo.mac("n2")
    topo.ipcmd("n2", "addr", "add", f"{VIP_IP}/24", "dev", "eth0")
    try:
        topo.send_garp("n2", VIP_IP, count=3)
    finally:
        topo.ipcmd("n2", "addr", "del", f"{VIP_IP}/24", "dev", "eth0", check=False)
    s1 = wait_until(lambda: (lambda s: s if int(s["conflicts"]) >= 1 else None)(status(g["n1"])), 10, 0.05,
                    msg=lambda: f"n1 reports a conflict\n{statuses(g)}")
    assert s1["last_conflict_mac"].lower() == mac2, (s1, mac2)
    assert s1["holding"] == "1", s1
    assert "conflict" in g["n1"].log_text(), module_log(g["n1"])
    assert status(g["n3"])["conflicts"] == "0", statuses(g)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_unload_and_shutdown_jump_a_backlog(topo, module_path, flavor):
    """While another host floods the wire with claims of our VIP (each one an event for the
    worker, more than its bounded queue holds: the surplus is dropped and counted), MODULE
    UNLOAD and then SHUTDOWN complete: they jump the queue. Their durations are printed."""
    g = start_sentinel_group(topo, module_path, flavor)
    n1 = g["n1"]

    def flood(seconds: float) -> threading.Thread:
        def run():
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                topo.send_garp("n2", VIP_IP, count=2000)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    f = flood(3)
    time.sleep(1.5)
    mid = status(n1)
    t = time.monotonic()
    assert n1.execute("MODULE", "UNLOAD", "vip") in ("OK", b"OK", True)
    unload_ms = (time.monotonic() - t) * 1000
    f.join()
    assert topo.holders(VIP_IP) == [], "the unload released the VIP"
    n1.execute("MODULE", "LOAD", module_path, "address", f"{VIP_IP}/24", "interface", "eth0",
               *module_args(topo))
    wait_until(lambda: topo.holders(VIP_IP) == ["n1"], 10, 0.02, msg=lambda: statuses(g))
    f = flood(3)
    time.sleep(1.5)
    t = time.monotonic()
    try:
        n1.execute("SHUTDOWN", "NOSAVE")
    except Exception:  # noqa: BLE001 - the connection closes
        pass
    n1.wait_exit(30)
    shutdown_ms = (time.monotonic() - t) * 1000
    f.join()
    print(f"\n[{flavor}] under a flood of claims (conflicts {mid['conflicts']}, events dropped "
          f"{mid['events_dropped']}): MODULE UNLOAD took {unload_ms:.0f} ms, SHUTDOWN {shutdown_ms:.0f} ms")
    assert int(mid["conflicts"]) > 0, mid
    assert "n1" not in topo.holders(VIP_IP), "the shutdown released the VIP"


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_transitions_are_published_in_order(topo, module_path, flavor):
    """Subscribers of every node's `__vip__:events` follow a planned failover: the old master's
    fence, then the new master's claim, each one line `<event> <addresses> <epoch> <time_ms>
    <reason>`. Sentinel's promotion disconnects every client of the promoted replica (CLIENT
    KILL TYPE normal and pubsub) just as it claims: its subscriber reconnects and reads what it
    missed with VIP.EVENTS, as the README's example does."""
    g = start_sentinel_group(topo, module_path, flavor)
    subs = {n: subscribe_events(g[n]) for n in ("n1", "n2", "n3")}
    # the README's example, on every node: append each claim it handles to a file
    example = str(Path(__file__).resolve().parents[2] / "examples" / "on-claim.sh")
    handled = {n: topo.workdir / f"claims-{n}.txt" for n in ("n1", "n2", "n3")}
    for n, path in handled.items():
        topo.popen(n, "sh", example, "-p", "6379", "--", "sh", "-c",
                   f'echo "$VIP_EVENT $VIP_TIME_MS $VIP_ADDRESSES" >> {path}')
    wait_until(lambda: handled["n1"].exists(), 10, 0.05, msg="the example handled n1's claim at start")
    g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
    _, new = first_promotion_wait(g, time.time() - 5)

    def seen(node: str) -> list[str]:
        lines = list(subs[node]())
        for line in g[node].execute("VIP.EVENTS"):
            if line not in lines:
                lines.append(line)
        return lines

    wait_until(lambda: any(l.startswith("claim ") for l in seen(new)), 10, 0.05,
               msg=lambda: f"{new} published its claim: {seen(new)}")
    wait_until(lambda: any(l.startswith("fence ") for l in subs["n1"]()), 10, 0.05,
               msg=lambda: f"n1's subscriber saw its fence: {subs['n1']()}")
    old = [l.split(" ", 4) for l in subs["n1"]() if l.startswith("fence ")][0]
    claim = [l.split(" ", 4) for l in seen(new) if l.startswith("claim ")][-1]
    print(f"\n[{flavor}] n1: {' '.join(old)}\n[{flavor}] {new}: {' '.join(claim)}")
    assert old[1] == claim[1] == f"{VIP_IP}/24"
    assert old[2] == "0" and claim[2] in ("-", "0", "1"), (old, claim)
    assert int(old[3]) <= int(claim[3]) + 50, "the fence came first (50 ms of clock slack)"
    assert old[4].startswith("fenced: "), old
    assert claim[4].startswith(("promoted by", "confirmed")), claim
    assert len(g[new].execute("VIP.EVENTS", "1")) == 1
    wait_until(lambda: handled[new].exists(), 10, 0.05, msg=f"the example handled {new}'s claim")
    lines = handled[new].read_text().splitlines()
    assert lines == [f"claim {claim[3]} {VIP_IP}/24"], lines
