"""Figure 11: routed mode (issue 11), the VIP as a /32 announced over BGP by each node's own
routing daemon (BIRD 2, or FRR), the module in the Sentinel-confirmed mode deciding which node
has the address on its ``lo``.

The topology, the daemons and their configurations, the router's kernel-table watcher and the
router's RIB (its BIRD log) all come from tests/harness/routed.py, imported, not copied:
a router namespace running BIRD 2 (ECMP on, ``merge paths yes``, so that two nodes announcing
at once would show as two next hops), three nodes with redis-server + the module
(``address 198.51.100.10/32 interface lo announce no sentinels ... master-name mymaster``), a
Sentinel each (down-after 1000, quorum 2) and BIRD or FRR, and a client namespace behind the
router. Every repetition builds a fresh topology and removes it.

Two scenarios, each with BIRD and with FRR on the nodes:

- ``planned``: ``SENTINEL FAILOVER mymaster`` sent to n2's Sentinel, every node healthy. The old
  master releases when the leader chooses the replica (its daemon withdraws the route), the new
  master claims at its promotion (its daemon announces): the router is left without a route
  for the time between the two, about one Sentinel timer tick.
- ``kill9``: ``kill -9`` of the master's redis-server (its Sentinel and routing daemon stay up):
  the kernel deletes the VIP when its lifetime runs out, the daemon withdraws, then Sentinel
  promotes a replica whose daemon announces.

Two clients write through the VIP from the client namespace: bench/writer.py (plain sockets, a
SET every 5 ms, one line per attempt with its error; the client outage, as figure 2 measures
it) and the tests' RoutedVipWriter (redis-py, one connection at a time, every write attributed
to the node that acknowledged it: writes lost, and writes the old master acknowledged after
the promotion).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BENCH_DIR, Repetition, log, ms_since as _ms, read_writer, wait_value as _wait
from bench.mechanisms import DOWN_AFTER_MS, module_path
from tests.harness.clients import pairs_to_dict
from tests.harness.logs import log_times, promotions
from tests.harness.netns import MASTER_NAME, addr_only
from tests.harness.routed import CLIENT, ROUTER, VIP4_R, RoutedTopology, sweep_stale_rundirs
from tests.harness.routed_setup import RoutedVipWriter, start_routed
from tests.harness.routes import RouteWatcher
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import wait_settled
from tests.harness.speakers import rib_overlap_ms, speakers_available
from tests.harness.status import try_status

WRITER = BENCH_DIR / "writer.py"
VIP = addr_only(VIP4_R)
SPEAKERS = ("bird", "frr")
SCENARIOS = ("planned", "kill9")
TAGS = {("planned", "bird"): "rpb", ("planned", "frr"): "rpf", ("kill9", "bird"): "rkb", ("kill9", "frr"): "rkf"}
TARGET_PLANNED_MS = 20  # issue 11: the route moves within 20 ms of the promotion
TARGET_KILL_SLACK_MS = 200  # issue 11: kill -9, the route moves within the address lifetime + 200 ms
WRITER_INTERVAL_MS = 5.0
FAILOVER_TIMEOUT_S = 30  # hang guards only
SAMPLE_S = 0.01


def available() -> str | None:
    """None when BIRD 2 and FRR are installed, else what is missing."""
    return speakers_available()








def _reasons(rows, since: float, until: float) -> dict[str, int]:
    """Failed attempts of bench/writer.py started in [since, until], by reason."""
    out: dict[str, int] = {}
    for t0, _t1, ok, why in rows:
        if not ok and since <= t0 <= until:
            out[why or "?"] = out.get(why or "?", 0) + 1
    return out


ROUTER_COUNTERS = {"IpExt": ("InNoRoutes",), "Icmp": ("OutDestUnreachs", "OutRateLimitHost", "OutRateLimitGlobal")}


def router_icmp(topo: RoutedTopology) -> dict[str, int]:
    """Counters of the router namespace (read inside it): packets it could not forward for want
    of a route (IpExt InNoRoutes), the ICMP destination unreachables it sent, and those
    icmp_send's own rate limits suppressed. (The answers to unroutable packets are first
    rate-limited per source in ip_error, net.ipv4.route.error_cost/error_burst, which no counter
    shows: InNoRoutes − OutDestUnreachs is what went unanswered.)"""
    cp = topo.run(ROUTER, "cat", "/proc/net/snmp", "/proc/net/netstat", check=False)
    out: dict[str, int] = {}
    header: dict[str, list[str]] = {}
    for ln in cp.stdout.splitlines():
        tag, _, rest = ln.partition(":")
        if tag not in ROUTER_COUNTERS:
            continue
        if tag not in header:
            header[tag] = rest.split()
            continue
        for k, v in zip(header[tag], rest.split()):
            if k in ROUTER_COUNTERS[tag]:
                out[k] = int(v)
    return out


class RoutedRep(Repetition):
    """One repetition: a fresh routed topology (routed.start_routed: the router's BIRD, BIRD or
    FRR on each node, 3 Redis with the module, 3 Sentinels; returns once the router routes the
    VIP to n1), the router's table watched (routed.RouteWatcher), and both writers running with
    acknowledgements from n1. Everything is stopped and removed on exit."""

    def __init__(self, scenario: str, speaker: str, keep: bool):
        self.scenario = scenario
        self.speaker = speaker
        self.keep = keep
        self.topo: RoutedTopology | None = None
        self.rw: RouteWatcher | None = None
        self.vw: RoutedVipWriter | None = None
        self.writer: subprocess.Popen | None = None
        self.sampler: HolderSampler | None = None

    def setup(self) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"vt-{TAGS[self.scenario, self.speaker]}-")) if self.keep else None
        self.topo = RoutedTopology(TAGS[self.scenario, self.speaker], workdir=workdir)
        if self.keep:
            log(f"  keeping {self.topo.workdir}")
        self.r = start_routed(self.topo, module_path(), speaker=self.speaker)
        self.g = self.r.group
        self.rw = RouteWatcher(self.topo, [VIP4_R]).start()
        self.sampler = HolderSampler(self.topo, vip=VIP4_R, interval=SAMPLE_S).start()
        self.wfile = self.topo.workdir / "writer.log"
        err = open(self.topo.workdir / "writer.err", "wb")
        try:
            self.writer = self.topo.popen(CLIENT, sys.executable, str(WRITER), "--host", VIP, "--interval-ms",
                                          str(WRITER_INTERVAL_MS), "--out", str(self.wfile),
                                          stdout=err, stderr=subprocess.STDOUT)
        finally:
            err.close()
        self.vw = RoutedVipWriter(self.topo, prefix="bench", pause=WRITER_INTERVAL_MS / 1000).start()
        ready = _wait(lambda: len(self.vw.acked_by("n1")) >= 20 and self._writer_ok(1.0), 15, 0.05)
        if not ready:
            raise RuntimeError(f"routed {self.speaker}: the clients get no acknowledgement through the VIP "
                               f"({len(self.vw.acks)} acks, {self.vw.errors} errors; writer.py "
                               f"{read_writer(self.wfile)[-3:]})")

    def _writer_ok(self, hold: float) -> bool:
        rows = read_writer(self.wfile)
        if not rows or rows[-1][1] - rows[0][0] < hold:
            return False
        recent = [r for r in rows if r[0] >= rows[-1][1] - hold]
        return len(recent) >= 5 and all(r[2] for r in recent)

    def stop_clients(self) -> None:
        if self.vw is not None:
            self.vw.stop()
        if self.writer is not None and self.writer.poll() is None:
            self.writer.send_signal(signal.SIGTERM)
            try:
                self.writer.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.writer.kill()
                self.writer.wait(timeout=5)
        if self.sampler is not None:
            self.sampler.stop()
        if self.rw is not None:
            self.rw.stop()

    def close(self) -> None:
        try:
            self.stop_clients()
        finally:
            if self.topo is not None:
                self.topo.close()

    # -- waiting ------------------------------------------------------------------------------
    def first_promotion(self, after: float) -> tuple[float, str] | None:
        """(wall time, node) of the first "MASTER MODE enabled" after ``after``: the midpoint of
        its logged millisecond."""
        got = _wait(lambda: [p for p in promotions(self.g) if p[0] >= after - 0.001],
                    FAILOVER_TIMEOUT_S, 0.05)
        return (got[0][0] + 0.0005, got[0][1]) if got else None

    def route_to(self, node: str, since: float, timeout: float = FAILOVER_TIMEOUT_S):
        """The first recorded change of the router's route (at or after monotonic ``since``)
        to ``node`` alone, or None."""
        return _wait(lambda: next((c for c in self.rw.history(VIP4_R, since=since) if c.hops == (node,)), None),
                     timeout, 0.01)

    def settle(self, ignore=()) -> str | None:
        try:
            return wait_settled(self.g, timeout=60, ignore=ignore)
        except Exception:  # noqa: BLE001 - not settling is a result
            return None

    # -- measuring ----------------------------------------------------------------------------
    def rib(self, op: str, node: str, after: float) -> float | None:
        """Wall time of the router's first RIB event op ('add'/'remove') for the VIP from node's
        session at or after ``after`` (BIRD's log, whole milliseconds: the midpoint)."""
        for e in self.r.router.rib_events(VIP4_R):
            if e.op == op and e.session.split("_")[0] == node and e.wall >= after - 0.001:
                return e.wall + 0.0005
        return None

    def route_figures(self, res: dict, t0: float, wall0: float, t_end: float, icmp0: dict) -> None:
        """Two next hops and no route, from the router's kernel table (and its RIB); the ICMP
        unreachables the router sent (and suppressed) since icmp0."""
        icmp1 = router_icmp(self.topo)
        res["router_icmp"] = {k: icmp1[k] - icmp0[k] for k in icmp1 if k in icmp0}
        rw = self.rw
        res["two_next_hops_ms"] = rw.duration_ms(VIP4_R, lambda h: len(h) > 1, since=t0, until=t_end)
        res["two_next_hop_dumps"] = len([m for m in rw.multi if t0 <= m.t <= t_end])
        res["rib_two_routes_ms"] = rib_overlap_ms(self.r.router.rib_events(VIP4_R), since=wall0)
        res["no_route_total_ms"] = rw.duration_ms(VIP4_R, lambda h: not h, since=t0, until=t_end)
        res["route_dumps"] = rw.samples
        res["route_dump_max_gap_ms"] = rw.max_gap * 1000
        res["route_watch_errors"] = rw.errors[:3]
        res["route_timeline"] = rw.describe(VIP4_R, t0)

    def client_figures(self, res: dict, t_fault: float, t_dead: float | None, t_end: float,
                       final: str | None, t_promo: float | None, vw_errors_before: int) -> None:
        """Client outage and failed attempts (bench/writer.py), lost and late writes
        (RoutedVipWriter). Call after stop_clients()."""
        rows = read_writer(self.wfile)
        before = [r for r in rows if t_fault - 1.0 <= r[0] and r[1] <= t_fault]
        res["writer_rate_per_s"] = float(len(before))
        if t_dead is not None:
            # as figure 2: the last success before the process was reaped, the first success
            # of a write sent after it
            last_ok = max((r[1] for r in rows if r[2] and r[1] <= t_dead), default=None)
            first_ok = min((r[1] for r in rows if r[2] and r[0] >= t_dead), default=None)
            res["outage_ms"] = _ms(first_ok, last_ok)
        else:
            oks = [r[1] for r in rows if r[2] and t_fault - 1.0 <= r[1] <= t_end]
            res["outage_ms"] = max((b - a for a, b in zip(oks, oks[1:])), default=0.0) * 1000 if oks else None
        reasons = _reasons(rows, t_fault, t_end)
        res["writer_errors"] = sum(reasons.values())
        res["writer_error_reasons"] = reasons
        vw = self.vw
        res["client_errors"] = vw.errors - vw_errors_before
        res["client_connects"] = vw.connects
        res["writes_acked"] = len(vw.acks)
        acks = sorted(a.t_ack for a in vw.acks if t_fault - 1.0 <= a.t_ack <= t_end)
        res["client_gap_ms"] = max((b - a for a, b in zip(acks, acks[1:])), default=0.0) * 1000 if acks else None
        res["acked_by_old_after_promotion"] = len(vw.acked_by("n1", sent_after=t_promo)) if t_promo else None
        if final and self.g[final].alive():
            try:
                res["writes_lost"] = len(vw.missing_from(self.g[final]))
            except Exception as exc:  # noqa: BLE001
                res["writes_lost_error"] = f"{type(exc).__name__}: {exc}"

    def outcome(self, res: dict, wall0: float, final: str | None) -> None:
        proms = [p for p in promotions(self.g) if p[0] >= wall0 - 0.001]
        res["promotions"] = len(proms)
        res["promoted_nodes"] = [n for _t, n in proms]
        res["second_failover"] = len(proms) > 1
        res["settled_master"] = final
        crashed = self.topo.crashes()
        if crashed:
            res["crashes"] = [c[:400] for c in crashed]


def planned_rep(speaker: str, keep: bool) -> dict:
    """SENTINEL FAILOVER asked of n2's Sentinel (which then leads the failover), every node
    healthy, until the old master is a replica and the Sentinels have settled."""
    res: dict = {"scenario": "planned", "speaker": speaker, "down_after_ms": DOWN_AFTER_MS}
    with RoutedRep("planned", speaker, keep) as rep:
        time.sleep(0.5)
        vw_err0 = rep.vw.errors
        icmp0 = router_icmp(rep.topo)
        t0, wall0 = time.monotonic(), time.time()
        rep.g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
        first = rep.first_promotion(wall0)
        new = first[1] if first else None
        moved = rep.route_to(new, t0) if new else None
        demoted = _wait(lambda: rep.g["n1"].role() == "replica", 60, 0.1)
        final = rep.settle()
        final_route = rep.route_to(final, t0) if final else None
        time.sleep(0.5)
        t_end, wall_end = time.monotonic(), time.time()
        rep.stop_clients()
        t_promo = first[0] if first else None
        chosen = [t for s in rep.g.sentinels.values()
                  for t in log_times(s.log_text(), "+failover-state-send-slaveof-noone") if t >= wall0 - 0.001]
        t_choice = min(chosen) + 0.0005 if chosen else None
        withdrawn = next((c for c in rep.rw.history(VIP4_R, since=t0) if "n1" not in c.hops), None)
        rib_rm = rep.rib("remove", "n1", wall0)
        rib_add = rep.rib("add", new, wall0) if new else None
        res.update({
            "first_promoted": new,
            "choice_ms": _ms(t_choice, wall0),
            "promotion_ms": _ms(t_promo, wall0),
            "promotion_minus_choice_ms": _ms(t_promo, t_choice),
            "withdrawn_ms": _ms(withdrawn.wall if withdrawn else None, wall0),
            "withdrawn_minus_choice_ms": _ms(withdrawn.wall if withdrawn else None, t_choice),
            "rib_withdrawn_minus_choice_ms": _ms(rib_rm, t_choice),
            "route_ms": _ms(moved.wall if moved else None, wall0),
            # the figure: promotion -> the new route in the router's kernel table
            "route_minus_promotion_ms": _ms(moved.wall if moved else None, t_promo),
            "rib_route_minus_promotion_ms": _ms(rib_add, t_promo),
            # the switch's gap: the old route gone -> the new one there
            "no_route_ms": ((moved.t - withdrawn.t) * 1000 if moved and withdrawn and moved.t >= withdrawn.t
                            else (0.0 if moved and withdrawn else None)),
            "withdrawn_before_route": bool(moved and withdrawn and withdrawn.t <= moved.t),
            "converged": bool(demoted) and final is not None and final_route is not None,
        })
        rep.route_figures(res, t0, wall0, t_end, icmp0)
        rep.outcome(res, wall0, final)
        rep.client_figures(res, wall0, None, wall_end, final, t_promo, vw_err0)
        s1 = try_status(rep.g["n1"])
        res["n1_status"] = {k: s1.get(k) for k in ("state", "holding", "last_fence_reason", "error") if k in s1}
    return res


def kill9_rep(speaker: str, keep: bool) -> dict:
    """kill -9 of the master's redis-server (its Sentinel and routing daemon stay up), until the
    Sentinels have settled on a new master and the router routes to it."""
    res: dict = {"scenario": "kill9", "speaker": speaker, "down_after_ms": DOWN_AFTER_MS}
    with RoutedRep("kill9", speaker, keep) as rep:
        time.sleep(0.5)
        lifetime = pairs_to_dict(rep.g["n1"].execute("CONFIG", "GET", "vip.address-lifetime-s"))
        res["address_lifetime_s"] = float(lifetime.get("vip.address-lifetime-s"))
        vw_err0 = rep.vw.errors
        icmp0 = router_icmp(rep.topo)
        t0, wall0 = time.monotonic(), time.time()
        rep.g["n1"].kill9()  # returns once the process is reaped
        t_dead = time.time()
        first = rep.first_promotion(wall0)
        new = first[1] if first else None
        moved = rep.route_to(new, t0) if new else None
        final = rep.settle(ignore=("n1",))
        final_route = rep.route_to(final, t0) if final else None
        time.sleep(0.5)
        t_end, wall_end = time.monotonic(), time.time()
        rep.stop_clients()
        t_promo = first[0] if first else None
        gone = next((s for s in rep.sampler.snapshot(since=t0) if "n1" not in s.holders), None)
        withdrawn = next((c for c in rep.rw.history(VIP4_R, since=t0) if "n1" not in c.hops), None)
        rib_rm = rep.rib("remove", "n1", wall0)
        rib_add = rep.rib("add", new, wall0) if new else None
        bound = res["address_lifetime_s"] * 1000 + TARGET_KILL_SLACK_MS
        route_ms = _ms(moved.wall if moved else None, wall0)
        withdrawn_ms = _ms(withdrawn.wall if withdrawn else None, wall0)
        res.update({
            "first_promoted": new,
            "bound_ms": bound,
            "address_deleted_ms": _ms(gone.wall if gone else None, wall0),
            "withdrawn_ms": withdrawn_ms,
            "rib_withdrawn_ms": _ms(rib_rm, wall0),
            "withdrawn_minus_deleted_ms": _ms(withdrawn.wall if withdrawn else None, gone.wall if gone else None),
            "promotion_ms": _ms(t_promo, wall0),
            "route_ms": route_ms,
            "rib_route_ms": _ms(rib_add, wall0),
            "route_minus_promotion_ms": _ms(moved.wall if moved else None, t_promo),
            "withdrawn_before_promotion": bool(withdrawn and t_promo and withdrawn.wall < t_promo),
            "no_route_ms": ((moved.t - withdrawn.t) * 1000 if moved and withdrawn and moved.t >= withdrawn.t
                            else None),
            "withdrawn_within_bound": withdrawn_ms is not None and withdrawn_ms <= bound,
            "route_within_bound": route_ms is not None and route_ms <= bound,
            "converged": final is not None and final_route is not None,
        })
        rep.route_figures(res, t0, wall0, t_end, icmp0)
        rep.outcome(res, wall0, final)
        rep.client_figures(res, wall0, t_dead, wall_end, final, t_promo, vw_err0)
        if res.get("outage_ms") is not None and res.get("promotion_ms") is not None:
            res["outage_minus_promotion_ms"] = res["outage_ms"] - res["promotion_ms"]
    return res


REPS = {"planned": planned_rep, "kill9": kill9_rep}


def prepare() -> None:
    """Once before the figure: run directories of dead runs (unix sockets of the daemons)."""
    removed = sweep_stale_rundirs()
    if removed:
        log(f"swept {len(removed)} routed run directories left by dead runs")


def describe(r: dict) -> str:
    """One log line of a repetition."""
    def f(k, nd=0):
        v = r.get(k)
        return "—" if v is None else f"{v:.{nd}f}"

    if r.get("scenario") == "planned":
        return (f"withdrawn {f('withdrawn_minus_choice_ms')} ms after the choice, route {f('route_minus_promotion_ms')} "
                f"ms after the promotion, no route {f('no_route_ms')} ms, two next hops {f('two_next_hops_ms')} ms; "
                f"client outage {f('outage_ms')} ms, errors {r.get('client_errors')} (writer.py "
                f"{r.get('writer_error_reasons')}), lost {r.get('writes_lost')}, promotions {r.get('promotions')}")
    return (f"address deleted {f('address_deleted_ms')} ms, withdrawn {f('withdrawn_ms')} ms, promoted "
            f"{f('promotion_ms')} ms, route moved {f('route_ms')} ms (bound {f('bound_ms')}), no route "
            f"{f('no_route_ms')} ms, two next hops {f('two_next_hops_ms')} ms; outage {f('outage_ms')} ms, "
            f"promotions {r.get('promotions')}")


if __name__ == "__main__":  # a single repetition, by hand: python3 -m bench.routed_mode planned bird
    if os.geteuid() != 0:
        sys.exit("needs root")
    prepare()
    out = REPS[sys.argv[1] if len(sys.argv) > 1 else "planned"](sys.argv[2] if len(sys.argv) > 2 else "bird", False)
    print(out)
