"""Figure 15: the failsafe (the replicas as witnesses) and the asymmetric cases.

Every scenario runs on scenarios.py's harness (a fresh topology per repetition, holders sampled
every 10 ms, the VipWriter through the VIP, an ARP capture in obs), at down-after 1000 unless a
run names others:

- (a) two of three Sentinels stopped for 10 s: figure 9's scenario (scenarios.py), run again
  with ``vip-sentinel-nofs`` beside the others;
- (b) ``cut-sentinels``: n1 cut off from the three Sentinels (both ways: nftables in n1's
  namespace, tests/harness/firewall.py) but not from its replicas, 8 s (above down-after 1000:
  down-after + 8 s), while the Sentinels fail it over; ``cut-replicas``: n1 cut off from n2 and
  n3 but not from the Sentinels, as long. The Sentinels run on hosts of their own (s1-s3);
- (c) ``witness-failover``: n3's Sentinel stopped (SIGSTOP), so that n1 has no spare supporter
  and asks its replicas, 2 s later `SENTINEL FAILOVER` to n2's Sentinel; ``planned-all-up``:
  the same failover with every Sentinel up (nobody asked, nothing promised). The new master's
  claim after its promotion, from its own log ("MASTER MODE enabled" → "claiming") and from the
  first GARP in obs;
- (d) ``forced-unreachable``: n1 cut off from Sentinel s2, `SENTINEL FAILOVER` to that one 2 s
  later (n1 has noticed it lost s2 by then); the cut stays until the failover is done plus 3 s.
  ``forced-at-once``: the same with `SENTINEL FAILOVER` right after the cut, before n1 can
  notice. ``crash-promotion``: `SENTINEL SIMULATE-FAILURE
  crash-after-promotion` and `SENTINEL FAILOVER` to s2, which exits right after the promotion;
  restarted 5 s later. Sentinels apart as in (b).

Each repetition ends once n1 is a replica again (or, where no failover happened, the Sentinels
have settled) and the settled master alone has held the VIP for 3 s.
"""

from __future__ import annotations

import time

from bench.common import ms_since as _ms, wait_value as _wait
from bench.scenarios import FAILOVER_TIMEOUT_S, Rep, link_down_s
from tests.harness.logs import log_events
from tests.harness.netns import MASTER_NAME
from tests.harness.sentinel import crash_after_promotion

SETTLE_AFTER_CUT_S = 3.0
FORCED_LEAD_S = 2.0
CRASHED_FOR_S = 5.0
STOP_BEFORE_FAILOVER_S = 2.0


def force_failover(s, tries: int = 30) -> int:
    """SENTINEL FAILOVER, asked again every 0.5 s while the Sentinel answers NOGOODSLAVE; the
    number of refusals. A Sentinel that cannot reach the master holds it subjectively down, and
    then accepts a replica only with an INFO reply less than 5 s old, while it asks the replicas
    for INFO only every 10 s until the master is objectively down: an operator retries too."""
    for i in range(tries):
        try:
            s.execute("SENTINEL", "FAILOVER", MASTER_NAME)
            return i
        except Exception as exc:  # noqa: BLE001
            if "NOGOODSLAVE" not in str(exc) or i == tries - 1:
                raise
            time.sleep(0.5)
    return tries


def _int(v) -> int | None:
    """A VIP.STATUS field as a number (None when absent: a module without the field)."""
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _claims(r: Rep, node: str, after: float) -> list[float]:
    """Unix times of the module's "claiming" lines on ``node`` after ``after``."""
    return [t + 0.0005 for t, _m in log_events(r.g[node], "claiming") if t >= after - 0.001]


def _releases(r: Rep, node: str, after: float) -> list[float]:
    return [t + 0.0005 for t, _m in log_events(r.g[node], "releasing") if t >= after - 0.001]


def _finish(r: Rep, res: dict, t0: float, failed_over: bool) -> None:
    """Converge, then the common figures of the fault window into res."""
    if failed_over:
        final, res["converged"] = r.converge("n1")
    else:
        final = r.dep.settled(40)
        res["converged"] = bool(final) and bool(_wait(lambda: r.sampler.stable_for((final,), 3.0), 30, 0.1))
    t_end = time.time()
    rel, res["release_source"] = r.release_time("n1", t0, t_end)
    res["release_ms"] = _ms(rel, t0)
    proms = r.dep.promotions(t0)
    if rel and proms:
        res["release_minus_promotion_ms"] = (rel - proms[0][0]) * 1000
    if proms and r.mech.startswith("vip-"):
        new = proms[0][1]
        claims = _claims(r, new, proms[0][0])
        res["new_master_claim_minus_promotion_ms"] = _ms(claims[0], proms[0][0] + 0.0005) if claims else None
    r.conclude(res, t0, t_end, final)
    res["total"] = r.sampler.durations(t0, t_end)
    # n1 without the VIP while it was still the master (before it was first promoted away)
    t_demoted = proms[0][0] if proms else t_end
    res["n1_without_vip_ms"] = r.sampler.off_ms(("n1",), t0, t_demoted)
    r.dep.check_alive()


# ----------------------------------------------------------------------------------------------
# (b) the master cut off from the Sentinels, or from its replicas


def cut_sentinels_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """n1 cut off from the three Sentinels but not from its replicas; the Sentinels fail it over."""
    res: dict = {"mech": mech, "scenario": "cut-sentinels", "down_after_ms": down_after_ms}
    down_s = link_down_s(down_after_ms)
    with Rep(mech, "wc", keep, down_after_ms, sentinels_apart=True) as r:
        fw = r.topo.firewall("n1")
        time.sleep(0.5)
        t0 = time.time()
        fw.block(*r.topo.sentinel_names)
        try:
            res["new_master"] = _wait(lambda: _new_master_of(r), down_s - 0.5, 0.05)
            time.sleep(max(0.0, t0 + down_s - time.time()))
        finally:
            t_heal = time.time()
            res["dropped"] = fw.dropped()
            fw.clear()
        res["cut_ms"] = (t_heal - t0) * 1000
        _finish(r, res, t0, failed_over=bool(r.dep.promotions(t0)))
    return res


def cut_replicas_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """n1 cut off from n2 and n3 but not from the Sentinels: no failover is expected."""
    res: dict = {"mech": mech, "scenario": "cut-replicas", "down_after_ms": down_after_ms}
    down_s = link_down_s(down_after_ms)
    with Rep(mech, "wr", keep, down_after_ms, sentinels_apart=True) as r:
        fw = r.topo.firewall("n1")
        time.sleep(0.5)
        t0 = time.time()
        fw.block("n2", "n3")
        try:
            time.sleep(down_s)
        finally:
            t_heal = time.time()
            res["dropped"] = fw.dropped()
            fw.clear()
        res["cut_ms"] = (t_heal - t0) * 1000
        _finish(r, res, t0, failed_over=bool(r.dep.promotions(t0)))
    return res


def _new_master_of(r: Rep) -> str | None:
    addr = r.dep.sentinel_master()
    if not addr:
        return None
    name = r.dep.node_of(addr)
    return name if name != "n1" and r.g[name].role() == "master" else None


# ----------------------------------------------------------------------------------------------
# (c) a failover while the replicas' confirmations are valid


def _planned(mech: str, down_after_ms: int, keep: bool, stop_one: bool) -> dict:
    name = "witness-failover" if stop_one else "planned-all-up"
    res: dict = {"mech": mech, "scenario": name, "down_after_ms": down_after_ms}
    with Rep(mech, "wf" if stop_one else "wa", keep, down_after_ms) as r:
        time.sleep(0.5)
        stopped = r.g.sentinels["n3"] if stop_one else None
        t_stop = t0 = time.time()
        first = None
        try:
            if stopped:
                stopped.sigstop()
                time.sleep(STOP_BEFORE_FAILOVER_S)
                st = r.dep.status("n1")
                res["n1_witnesses_confirmed"] = _int(st.get("witnesses_confirmed"))
                res["n1_failsafe"] = _int(st.get("failsafe"))
            t0 = time.time()
            r.g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
            first = r.first_promotion(t0)
            if first:
                new = first[1]
                _wait(lambda: _claims(r, new, first[0]), 10, 0.05)
                if r.mech.startswith("vip-"):
                    st = r.dep.status(new)
                    res["promised_ms_left_at_claim"] = _int(st.get("witnessed_until_ms"))
        finally:
            if stopped:
                stopped.sigcont()
        res["stopped_before_failover_ms"] = (t0 - t_stop) * 1000 if stop_one else 0
        if first:
            t_garp = r.first_garp(first[1], t0)
            res["first_promoted"] = first[1]
            res["promotion_ms"] = _ms(first[0], t0)
            res["promotion_to_garp_ms"] = _ms(t_garp, first[0] + 0.0005)
        _finish(r, res, t0, failed_over=bool(first))
    return res


def witness_failover_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    return _planned(mech, down_after_ms, keep, stop_one=True)


def planned_all_up_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    return _planned(mech, down_after_ms, keep, stop_one=False)


# ----------------------------------------------------------------------------------------------
# (d) a failover forced by a Sentinel the master cannot reach; a crash after the promotion


def _forced(mech: str, down_after_ms: int, keep: bool, lead_s: float) -> dict:
    name = "forced-unreachable" if lead_s else "forced-at-once"
    res: dict = {"mech": mech, "scenario": name, "down_after_ms": down_after_ms, "lead_ms": lead_s * 1000}
    with Rep(mech, "wu" if lead_s else "wo", keep, down_after_ms, sentinels_apart=True) as r:
        fw = r.topo.firewall("n1")
        time.sleep(0.5)
        fw.block("s2")
        time.sleep(lead_s)
        t_ask = time.time()
        try:
            res["nogoodslave_refusals"] = force_failover(r.g.sentinels["s2"])
            t0 = time.time()  # the accepted request
            res["new_master"] = _wait(lambda: _new_master_of(r), FAILOVER_TIMEOUT_S, 0.05)
            time.sleep(SETTLE_AFTER_CUT_S)
        finally:
            t_heal = time.time()
            res["dropped"] = fw.dropped()
            fw.clear()
        res["asked_for_ms"] = (t0 - t_ask) * 1000 if "nogoodslave_refusals" in res else None
        res["cut_ms"] = (t_heal - t_ask) * 1000
        _finish(r, res, t0, failed_over=bool(r.dep.promotions(t0)))
    return res


def forced_unreachable_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    return _forced(mech, down_after_ms, keep, FORCED_LEAD_S)


def forced_at_once_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    return _forced(mech, down_after_ms, keep, 0.0)


def crash_promotion_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    res: dict = {"mech": mech, "scenario": "crash-promotion", "down_after_ms": down_after_ms}
    with Rep(mech, "wk", keep, down_after_ms, sentinels_apart=True) as r:
        time.sleep(0.5)
        s = r.g.sentinels["s2"]
        t0 = time.time()
        crash_after_promotion(s)
        s.execute("SENTINEL", "FAILOVER", MASTER_NAME)
        crashed = _wait(lambda: not s.alive(), FAILOVER_TIMEOUT_S, 0.02)
        t_crash = time.time()
        res["sentinel_crashed"] = bool(crashed)
        res["sentinel_crash_ms"] = _ms(t_crash, t0) if crashed else None
        time.sleep(CRASHED_FOR_S)
        if not s.alive():
            s.start()
            s.wait_ready()
        proms = r.dep.promotions(t0)
        res["promoted"] = [n for _t, n in proms]
        # the promoted node's claims and releases (none expected: the leader died before it
        # reported the new configuration)
        if proms and mech.startswith("vip-"):
            res["promoted_claims"] = len(_claims(r, proms[0][1], t0))
        # the other Sentinels turn the promoted node back into a replica of n1 (or fail over)
        final = r.dep.settled(60)
        res["settled_master"] = final
        _finish(r, res, t0, failed_over=final not in (None, "n1"))
    return res


SCENARIOS = {  # name -> (part of figure 15, function)
    "cut-sentinels": ("b", cut_sentinels_rep),
    "cut-replicas": ("b", cut_replicas_rep),
    "witness-failover": ("c", witness_failover_rep),
    "planned-all-up": ("c", planned_all_up_rep),
    "forced-unreachable": ("d", forced_unreachable_rep),
    "forced-at-once": ("d", forced_at_once_rep),
    "crash-promotion": ("d", crash_promotion_rep),
}
# the mechanisms each part compares (the Sentinel script needs its Sentinel beside a Redis node:
# not in the parts with the Sentinels apart; (c) is about the module's own promise)
MECHS = {
    "a": ["vip-basic", "vip-sentinel-nofs", "vip-sentinel", "sentinel-script", "keepalived"],
    "b": ["vip-basic", "vip-sentinel-nofs", "vip-sentinel", "keepalived"],
    "c": ["vip-sentinel-nofs", "vip-sentinel"],
    "d": ["vip-basic", "vip-sentinel-nofs", "vip-sentinel", "keepalived"],
}
# repetitions per cell of a full run (--witness-reps scales them)
REPS = {"a": 3, "cut-sentinels": 20, "cut-replicas": 20, "witness-failover": 10, "planned-all-up": 10,
        "forced-unreachable": 20, "forced-at-once": 5, "crash-promotion": 5}
