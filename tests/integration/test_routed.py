"""Routed mode (issue 11): the VIP as a /32 on lo, announced over eBGP by the node's own routing
daemon, the module deciding which node carries it.

Each test builds the routed topology (tests/harness/routed.py): a router namespace running BIRD 2
with an eBGP session to each of three nodes, a client behind the router, and on each node
redis-server with the module (``address 198.51.100.10/32 interface lo announce no sentinels ...
master-name mymaster``), a Sentinel (down-after 1000, quorum 2) and BIRD or FRR exporting the VIP
and nothing else.

What is observed:

- the router's kernel table, read over netlink every 5 ms and at every route notification
  (``RouteWatcher``); the test router merges equal routes (``merge paths``, ECMP), so any moment
  in which two nodes announce the VIP shows there as two next hops;
- the router's RIB, from its BIRD log: every route each session added or removed, with
  millisecond timestamps;
- who holds the address (``HolderSampler``, every 20 ms) and a client writing through the VIP
  from the client namespace (``RoutedVipWriter``).

Orders and counts are asserted; timeouts are upper bounds against hangs. The measured figures
are printed (pytest -s); docs/routed.md explains them.

Run: python3 -m pytest tests/integration/test_routed.py -q -s
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.harness.logs import log_events, module_log, promotions
from tests.harness.netns import MASTER_NAME, wait_until
from tests.harness.routed import VIP4_R, RoutedPlan, RoutedTopology, sweep_stale_rundirs
from tests.harness.routed_setup import Routed, RoutedVipWriter, routed_module_args, router_hops, start_routed, vips_of
from tests.harness.routes import RouteWatcher
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import wait_settled
from tests.harness.speakers import (node_bird_conf, node_frr_conf, rib_overlap_ms, rib_timeline, router_bird_conf,
                                    speakers_available)
from tests.harness.status import status, statuses

FAILOVER_S = 30  # hang guard only
DOCS = Path(__file__).resolve().parents[2] / "docs" / "routed.md"


@pytest.fixture
def routed(request: pytest.FixtureRequest, tmp_path, module_path):
    """Factory: routed(speaker='bird'|'frr', ipv6=False, bfd=False) -> Routed; every process is
    killed by pid and every namespace removed at teardown, also when the test fails."""
    missing = speakers_available()
    if missing:
        pytest.skip(missing)
    sweep_stale_rundirs()
    made: list[RoutedTopology] = []
    request.node._vt_topologies = made  # conftest appends their logs to a failure report

    def make(speaker: str = "bird", ipv6: bool = False, bfd: bool = False) -> Routed:
        topo = RoutedTopology(request.node.name, ipv6=ipv6, workdir=tmp_path / f"topo{len(made)}")
        made.append(topo)
        return start_routed(topo, module_path, speaker=speaker, bfd=bfd)

    try:
        yield make
    finally:
        crashed: list[str] = []
        for t in made:
            crashed += t.crashes()
            t.close()
        if crashed:
            raise AssertionError("a process crashed during this test:\n" + "\n\n".join(crashed))


# ----------------------------------------------------------------------------------------------
# helpers


def report(r: Routed, rw: RouteWatcher, t0: float, smp: HolderSampler | None = None) -> str:
    parts = []
    for v in r.vips:
        parts.append(f"router's next hops for {v}: {rw.describe(v, t0)}")
        parts.append(f"router's RIB for {v}: {rib_text(r, v)}")
    parts.append(f"route dumps: {rw.samples}, largest gap {rw.max_gap * 1000:.1f} ms, errors {rw.errors[:3]}")
    if smp is not None:
        parts.append(f"holders: {smp.describe(t0=t0)}")
    parts.append(statuses(r.group))
    for name, n in r.group.nodes.items():
        parts.append(f"--- {name} module log\n{module_log(n)}")
    return "\n".join(parts)


def rib_text(r: Routed, prefix: str, wall0: float | None = None) -> str:
    ev = r.router.rib_events(prefix)
    base = wall0 if wall0 is not None else (ev[0].wall if ev else 0.0)
    return "; ".join(f"{e.wall - base:+.3f}s {e.op} {e.session}" for e in ev) or "(none)"


def rib_overlaps(r: Routed, prefix: str, since: float = float("-inf")) -> list[tuple[float, frozenset]]:
    """Moments (wall) at which the router's RIB held routes for prefix from two sessions."""
    return [(t, s) for t, s in rib_timeline(r.router.rib_events(prefix)) if len(s) > 1 and t >= since]


def node_of(session: str) -> str:
    return session.split("_")[0]


def assert_single_next_hop(r: Routed, rw: RouteWatcher, t0: float, smp=None, since_wall: float = float("-inf")) -> None:
    """Never two next hops in the router's kernel table (the whole watch), never two routes in
    its RIB (from since_wall on)."""
    if rw.multi:
        m = rw.multi[0]
        pytest.fail(f"{len(rw.multi)} route dumps show two next hops (first {m.t - t0:+.3f}s {m.prefix} "
                    f"via {m.hops})\n" + report(r, rw, t0, smp))
    for v in r.vips:
        both = rib_overlaps(r, v, since=since_wall)
        assert not both, f"the router's RIB held two routes for {v} at once: {both[:3]}\n" + report(r, rw, t0, smp)


def first_promotion_wait(r: Routed, after: float) -> tuple[float, str]:
    """(wall time, node) of the first REPLICAOF NO ONE after ``after``."""
    g = r.group
    found = wait_until(lambda: [p for p in promotions(g) if p[0] >= after - 0.01], FAILOVER_S, 0.05,
                       msg=lambda: f"a promotion\n{statuses(g)}")
    return found[0]


def rib_after(r: Routed, prefix: str, op: str, node: str, after: float, slack: float = 0.002) -> float | None:
    """Wall time of the router's first RIB event op ('add'/'remove') for prefix from node after
    ``after`` (BIRD logs whole milliseconds: ``slack`` earlier counts)."""
    for e in r.router.rib_events(prefix):
        if e.op == op and node_of(e.session) == node and e.wall >= after - slack:
            return e.wall
    return None


def ms(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None else f"{(a - b) * 1000:.0f} ms"


# ----------------------------------------------------------------------------------------------
# start, kill -9, stale restart


@pytest.mark.parametrize("speaker", ["bird", "frr"])
def test_start_kill9_then_stale_restart(routed, speaker):
    """Start: the router learns the VIP from n1 alone, one next hop; the module runs routed
    (announce no, conflict detection off). A second announcement made by hand on n2 shows at the
    router as a second next hop (the harness sees an overlap) until n2's module deletes the
    address it does not hold. kill -9 of n1: the kernel removes n1's VIP when its 1 s lifetime
    runs out, n1's daemon withdraws the route, and only then is a replica promoted and its route
    learnt. n1 restarted with a config that still says master is never announced again."""
    r = routed(speaker)
    g, topo = r.group, r.topo
    s1 = status(g["n1"])
    assert (s1["state"], s1["announce"], s1["conflict_detection"]) == ("holding", "no", "off"), s1
    assert router_hops(r, VIP4_R) == ("n1",)
    with RouteWatcher(topo, r.vips) as rw, HolderSampler(topo, vip=VIP4_R, interval=0.02) as smp, \
            RoutedVipWriter(topo) as w:
        # the harness sees two announcements: the VIP added by hand on replica n2, whose
        # redis-server is stopped for a moment (its module would delete it at once)
        g["n2"].sigstop()
        try:
            t_manual = time.monotonic()
            topo.ipcmd("n2", "addr", "add", VIP4_R, "dev", "lo")
            two = rw.wait_for(VIP4_R, lambda h: set(h) == {"n1", "n2"}, 10, "two next hops (n2 added by hand)",
                              since=t_manual)
            topo.ipcmd("n2", "addr", "del", VIP4_R, "dev", "lo")
            rw.wait_for(VIP4_R, lambda h: h == ("n1",), 10, "back to n1 alone", since=two.t)
        finally:
            g["n2"].sigcont()
        rw.multi.clear()  # the overlap made on purpose ends here
        # the same with n2 running: its module deletes an address it does not hold
        wall_manual = time.time()
        topo.ipcmd("n2", "addr", "add", VIP4_R, "dev", "lo")
        wait_until(lambda: not topo.has_address("n2", VIP4_R, "lo"), 10, 0.01, msg="n2's module deletes the VIP")
        time.sleep(0.5)  # (a route n2's daemon announced meanwhile would be withdrawn by now)
        assert rw.hops(VIP4_R) == ("n1",), report(r, rw, t_manual)
        rw.multi.clear()
        t0 = time.monotonic()
        wall0 = time.time()
        g["n1"].kill9()
        gone = smp.wait_for(lambda s: "n1" not in s.holders, 10, "n1's VIP expires", since=t0)
        withdrawn = rw.wait_for(VIP4_R, lambda h: "n1" not in h, 10, "n1's route withdrawn", since=t0)
        promoted, first_new = first_promotion_wait(r, wall0)
        moved = rw.wait_for(VIP4_R, lambda h: h == (first_new,), FAILOVER_S, f"route via {first_new}", since=t0)
        new = wait_settled(g, ignore=("n1",))
        rw.wait_for(VIP4_R, lambda h: h == (new,), FAILOVER_S, f"route via {new}", since=t0)
        acked_before_restart = len(w.acks)
        t_restart = time.monotonic()
        wall_restart = time.time()
        g["n1"].start()
        g["n1"].wait_ready()
        roles = []

        def converted() -> bool:
            roles.append(g["n1"].role())
            return roles[-1] == "replica"

        # Sentinel converts a restarted master at its next INFO of it (up to 10 s)
        wait_until(converted, 60, 0.05, msg=lambda: f"n1 converted to replica\n{report(r, rw, t0, smp)}")
        time.sleep(1)
    rib_removed = rib_after(r, VIP4_R, "remove", "n1", wall0)
    rib_added = rib_after(r, VIP4_R, "add", first_new, wall0)
    n2_add = rib_after(r, VIP4_R, "add", "n2", wall_manual, slack=0)
    n2_add = n2_add if n2_add is not None and n2_add < wall0 else None
    n2_rm = rib_after(r, VIP4_R, "remove", "n2", n2_add or wall_manual, slack=0)
    by_hand = f"announced and withdrawn within {ms(n2_rm, n2_add)}" if n2_add else "never announced"
    print(f"\n[{speaker}] start: n1 alone; the VIP added by hand on a stopped n2: two next hops at the router "
          f"{(two.t - t_manual) * 1000:.0f} ms later; on a running n2 its module deleted it: {by_hand}"
          f"\n[{speaker}] kill -9 n1 -> its VIP expired {(gone.t - t0) * 1000:.0f} ms, route withdrawn at the "
          f"router {(withdrawn.t - t0) * 1000:.0f} ms (RIB {ms(rib_removed, wall0)}), {first_new} promoted "
          f"{(promoted - wall0) * 1000:.0f} ms, route moved to {first_new} {(moved.t - t0) * 1000:.0f} ms "
          f"(RIB {ms(rib_added, wall0)}; {(moved.wall - promoted) * 1000:.0f} ms after the promotion); "
          f"no route for {(moved.t - withdrawn.t) * 1000:.0f} ms; client: {len(w.acks)} writes acknowledged, "
          f"{w.errors} errors; stale n1 restarted as master: {roles[0] == 'master'}")
    assert two.hops == ("n1", "n2")
    assert withdrawn.wall < promoted, "n1's route was withdrawn only after the promotion\n" + report(r, rw, t0, smp)
    assert_single_next_hop(r, rw, t0, smp, since_wall=wall0)
    assert roles[0] == "master", f"the restarted n1 was not a stale master at first (roles {roles[:3]})"
    assert rib_after(r, VIP4_R, "add", "n1", wall_restart) is None, "the stale n1 was announced\n" + \
        report(r, rw, t0, smp)
    assert not [c for c in rw.history(VIP4_R, since=t_restart) if "n1" in c.hops], report(r, rw, t0, smp)
    assert not w.acked_by("n1", sent_after=wall_restart), "the stale n1 acknowledged writes through the VIP"
    assert len(w.acks) > acked_before_restart, "no write went through the VIP after the failover"
    assert status(g["n1"])["claims"] == "0"
    assert rw.hops(VIP4_R) == (new,), report(r, rw, t0, smp)


# ----------------------------------------------------------------------------------------------
# isolation


@pytest.mark.parametrize("cut", ["partition", "link"])
def test_isolated_master_withdraws_before_promotion(routed, cut):
    """n1 cut off for 8 s. ``partition``: the router drops whatever n1 sends to the other hosts
    while n1's BGP session stays up, so n1's own withdrawal is what moves the route. ``link``:
    n1's eth0 goes down; no withdrawal can reach the router, whose BIRD drops the session when
    the carrier goes. Either way the router has no route via n1 before any replica is promoted,
    never two next hops, and after the cut heals (the session comes back with ``link``) the
    stale n1, a master for up to 10 s more, is never announced again."""
    r = routed("bird")
    g, topo = r.group, r.topo
    with RouteWatcher(topo, r.vips) as rw, HolderSampler(topo, vip=VIP4_R, interval=0.02) as smp, \
            RoutedVipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        if cut == "partition":
            topo.partition("n1")
        else:
            topo.link_down("n1", side="node")
        released = smp.wait_for(lambda s: "n1" not in s.holders, 10, "isolated n1 releases", since=t0)
        withdrawn = rw.wait_for(VIP4_R, lambda h: "n1" not in h, 10, "n1's route withdrawn", since=t0)
        promoted, first_new = first_promotion_wait(r, wall0)
        moved = rw.wait_for(VIP4_R, lambda h: h == (first_new,), FAILOVER_S, f"route via {first_new}", since=t0)
        time.sleep(max(0.0, 8 - (time.monotonic() - t0)))
        t_heal = time.monotonic()
        wall_heal = time.time()
        if cut == "partition":
            topo.heal("n1")
        else:
            topo.link_up("n1", side="node")
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1,
                   msg=lambda: f"n1 converted to replica after the cut healed\n{report(r, rw, t0, smp)}")
        if cut == "link":
            wait_until(lambda: "n1" in r.router.established(), 30, 0.1, msg="n1's session back")
        new = wait_settled(g)
        rw.wait_for(VIP4_R, lambda h: h == (new,), FAILOVER_S, f"route via {new}", since=t0)
        time.sleep(0.5)
    s1 = status(g["n1"])
    rib_removed = rib_after(r, VIP4_R, "remove", "n1", wall0)
    print(f"\n[{cut}] n1 cut off -> released its VIP {(released.t - t0) * 1000:.0f} ms "
          f"({s1['last_fence_reason']}), router's route withdrawn {(withdrawn.t - t0) * 1000:.0f} ms "
          f"(RIB {ms(rib_removed, wall0)}), {first_new} promoted {(promoted - wall0) * 1000:.0f} ms, route via "
          f"{first_new} {(moved.t - t0) * 1000:.0f} ms; healed at {t_heal - t0:.1f}s; client: {len(w.acks)} acks, "
          f"{w.errors} errors")
    assert released.wall < promoted and withdrawn.wall < promoted, \
        "n1 released or its route left the router only after the promotion\n" + report(r, rw, t0, smp)
    assert s1["holding"] == "0" and s1["last_fence_reason"] == "lease_expired", s1
    assert_single_next_hop(r, rw, t0, smp)
    assert rib_after(r, VIP4_R, "add", "n1", wall0) is None, "n1 was announced again\n" + report(r, rw, t0, smp)
    assert not [c for c in rw.history(VIP4_R, since=withdrawn.t) if "n1" in c.hops], report(r, rw, t0, smp)
    assert not w.acked_by("n1", sent_after=promoted), "n1 acknowledged writes after the promotion"
    assert not w.acked_by("n1", sent_after=wall_heal)


# ----------------------------------------------------------------------------------------------
# planned failover


@pytest.mark.parametrize("speaker", ["bird", "frr"])
def test_planned_failover_never_two_next_hops(routed, speaker):
    """SENTINEL FAILOVER, dual stack (198.51.100.10/32 and 2001:db8:100::10/128): the old master
    releases when the leader flags the replica it chose, before that replica's role changes, so
    the router withdraws n1's routes before it learns the new master's: not one route dump with
    two next hops (ECMP on), not one moment with two routes in the RIB. No write acknowledged
    through the VIP is lost. The gap between the withdrawal and the new announcement is printed."""
    r = routed(speaker, ipv6=True)
    g, topo = r.group, r.topo
    with RouteWatcher(topo, r.vips) as rw, RoutedVipWriter(topo, pause=0.002) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
        promoted, new = first_promotion_wait(r, wall0)
        moved = {v: rw.wait_for(v, lambda h: h == (new,), FAILOVER_S, f"route via {new}", since=t0) for v in r.vips}
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1, msg="n1 converted to replica")
        final = wait_settled(g)
        for v in r.vips:
            rw.wait_for(v, lambda h: h == (final,), FAILOVER_S, f"route via {final}", since=t0)
        time.sleep(0.5)
    withdrawn = {v: next(c for c in rw.history(v, since=t0) if "n1" not in c.hops) for v in r.vips}
    chosen = [t for t, _ in log_events(g.sentinels["n2"], "+failover-state-send-slaveof-noone") if t >= wall0 - 0.01]
    lost = w.missing_from(g[final])
    late = w.acked_by("n1", sent_after=promoted)
    lines = []
    for v in r.vips:
        rm, add = rib_after(r, v, "remove", "n1", wall0), rib_after(r, v, "add", new, wall0)
        lines.append(f"{v}: n1's route withdrawn {(withdrawn[v].wall - wall0) * 1000:.0f} ms (RIB {ms(rm, wall0)}), "
                     f"via {new} {(moved[v].wall - wall0) * 1000:.0f} ms (RIB {ms(add, wall0)}): no route for "
                     f"{(moved[v].t - withdrawn[v].t) * 1000:.0f} ms (RIB {ms(add, rm)}); route moved "
                     f"{(moved[v].wall - promoted) * 1000:.0f} ms after the promotion")
    print(f"\n[{speaker}] leader chose {new} at {ms(chosen[0] if chosen else None, wall0)}, {new} promoted at "
          f"{(promoted - wall0) * 1000:.0f} ms\n[{speaker}] " + f"\n[{speaker}] ".join(lines) +
          f"\n[{speaker}] route dumps {rw.samples} (largest gap {rw.max_gap * 1000:.1f} ms), with two next hops: "
          f"{len(rw.multi)}; client: {len(w.acks)} writes acknowledged, {len(late)} by n1 after the promotion, "
          f"{len(lost)} lost, {w.errors} errors")
    assert_single_next_hop(r, rw, t0)
    for v in r.vips:
        assert withdrawn[v].t <= moved[v].t, report(r, rw, t0)
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:10]}\n" + report(r, rw, t0)
    s1 = status(g["n1"])
    # the leader's own answer, or a replica that hears it failing n1 over (VIP.WITNESS)
    assert s1["holding"] == "0" and s1["last_fence_reason"] in ("failover_promotes_other",
                                                                  "newer_config_names_other",
                                                                  "witness_denies"), s1


# ----------------------------------------------------------------------------------------------
# a node that stops as a whole: BGP hold time or BFD


@pytest.mark.parametrize("bfd", [False, True], ids=["hold-time", "bfd"])
def test_frozen_node_needs_bfd(routed, bfd):
    """The whole of n1 stops (SIGSTOP to redis-server and to its BIRD, as a hung host): the kernel
    still deletes the VIP when its lifetime runs out, but nothing withdraws the route. The router
    drops it when the session fails: after the hold time (3 s here; BIRD's default is 240 s)
    without BFD, after 3 x 100 ms with BFD. With BFD that is before the promotion and no moment
    has two next hops; without, the figures show how long the router keeps sending to a dead
    node (printed, not asserted)."""
    r = routed("bird", bfd=bfd)
    g, topo = r.group, r.topo
    with RouteWatcher(topo, r.vips) as rw, RoutedVipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        wall0 = time.time()
        g["n1"].sigstop()
        r.speakers["n1"].signal(signal.SIGSTOP)
        try:
            withdrawn = rw.wait_for(VIP4_R, lambda h: "n1" not in h, 30, "n1's route withdrawn", since=t0)
            promoted, first_new = first_promotion_wait(r, wall0)
            moved = rw.wait_for(VIP4_R, lambda h: h == (first_new,), FAILOVER_S, f"route via {first_new}",
                                since=t0)
            time.sleep(0.5)
        finally:
            r.speakers["n1"].signal(signal.SIGCONT)
            g["n1"].sigcont()
    ecmp_ms = rw.duration_ms(VIP4_R, lambda h: len(h) > 1, since=t0)
    rib_ms = rib_overlap_ms(r.router.rib_events(VIP4_R), since=wall0)
    print(f"\n[{'bfd' if bfd else 'hold time'}] n1 frozen -> route withdrawn {(withdrawn.t - t0) * 1000:.0f} ms, "
          f"{first_new} promoted {(promoted - wall0) * 1000:.0f} ms, route via {first_new} alone "
          f"{(moved.t - t0) * 1000:.0f} ms; two next hops (ECMP to a dead node) for {ecmp_ms:.0f} ms "
          f"({len(rw.multi)} route dumps), two routes in the RIB for {rib_ms:.0f} ms; client: {len(w.acks)} acks, "
          f"{w.errors} errors")
    if bfd:
        assert withdrawn.wall < promoted, "BFD did not take n1's route away before the promotion\n" + \
            report(r, rw, t0)
        assert_single_next_hop(r, rw, t0)


# ----------------------------------------------------------------------------------------------
# the docs quote what runs here


def test_docs_quote_the_tested_configs():
    """Every ``bird`` and ``frr`` block of docs/routed.md is a run of lines of a configuration
    these tests run (speakers.py's generators; the BIRD log path as the docs show it), and every
    loadmodule line there has the arguments start_routed gives the nodes."""
    text = DOCS.read_text()
    configs = []
    for ipv6 in (False, True):
        plan = RoutedPlan.of(ipv6=ipv6)
        for bfd in (False, True):
            for ecmp in (False, True):
                configs.append(router_bird_conf(plan, bfd=bfd, ecmp=ecmp))
            for n in plan.node_names:
                configs.append(node_bird_conf(plan, n, bfd=bfd))
        for n in plan.node_names:
            configs += list(node_frr_conf(plan, n))
    configs = [c.replace("@LOG@", "/var/log/bird.log").splitlines() for c in configs]

    def quoted(block: list[str]) -> bool:
        n = len(block)
        return any(lines[i:i + n] == block for lines in configs for i in range(len(lines) - n + 1))

    blocks = re.findall(r"^```(bird|frr)\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) >= 4, "docs/routed.md quotes the BIRD and FRR configurations"
    for kind, body in blocks:
        lines = body.rstrip("\n").splitlines()
        assert quoted(lines), f"this {kind} block of docs/routed.md is not in any tested configuration:\n{body}"
    loads = re.findall(r"^loadmodule \S+ (.*)$", text, re.M)
    assert loads, "docs/routed.md shows the loadmodule line"
    for args in loads:
        words = args.split()
        for ipv6 in (False, True):
            plan = RoutedPlan.of(ipv6=ipv6)
            if words == ["address", ",".join(vips_of(plan)), "interface", "lo", *routed_module_args(plan)]:
                break
        else:
            pytest.fail(f"docs/routed.md: loadmodule {args} is not what the tests load")
