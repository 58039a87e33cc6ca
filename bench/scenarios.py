"""Figures 3 and 7-9: faults with a client writing through the VIP, holders sampled every 10 ms.

- 3  stale restart (kill -9 of the master, failover, the old master restarted as a master)
     and isolation (the master's link down for 8 s; above down-after 1000, down-after + 8 s);
- 7  planned failover (SENTINEL FAILOVER with every node healthy);
- 8  busy master (DEBUG SLEEP 5 on the master; the Sentinels fail over while it sleeps);
- 9  two of the three Sentinels stopped (SIGSTOP) for 10 s, every Redis node healthy;
- 12 nothing failed, run at down-after 1000 and 30000: the master's redis-server killed and
     started again at once (systemd's Restart=always), and a backup client (`redis-cli --rdb`)
     against the master, which every Sentinel then lists as a replica `ip:0` for good.

Each repetition builds a fresh topology with the mechanism (mechanisms.Deployment), a
HolderSampler (common.py: which node namespaces have the VIP, every 10 ms), a capture of ARP in
the observer namespace, and the harness's VipWriter: `SET` through the VIP every 10 ms on one
connection at a time, asking `CONFIG GET dir` once per connection, so every acknowledged write
is attributed to the server that executed it. "Writes acknowledged by the old master after the
promotion" counts writes n1 acknowledged that were SENT after the first promotion's "MASTER
MODE enabled" line (so n1 certainly executed them after it): the split-brain writes.

At down-after-milliseconds 1000 Sentinel sometimes fails the new master over again about a
second after +switch-master (field notes): every repetition waits for the settled master
(mechanisms.Deployment.settled), counts the promotions, and measures the outcome against the
settled master, not the first promotion.
"""

from __future__ import annotations

import subprocess
import threading
import time

from bench.common import Repetition, ms_since as _ms, wait_value as _wait
from bench.mechanisms import TAGS, Deployment
from tests.harness.clients import pairs_to_dict
from tests.harness.logs import log_events, log_times
from tests.harness.netns import MASTER_NAME, VIP_IP
from tests.harness.sampling import HolderSampler
from tests.harness.topology import Topology
from tests.harness.writer import VipWriter

SAMPLE_S = 0.01
LINK_DOWN_S = 8.0
SLEEP_S = 5
STOP_S = 10.0
FAILOVER_TIMEOUT_S = 30
# figure 12: Sentinel sends INFO to each instance every 10 s; the backup client must stay
# connected (its RDB held back by repl-diskless-sync-delay) until every Sentinel's INFO saw it
INFO_PERIOD_S = 10.0
BACKUP_DELAY_S = 20
BACKUP_LISTED_TIMEOUT_S = 18.0
BACKUP_HOLD_S = 3.0






class Rep(Repetition):
    """One repetition: a fresh topology with the mechanism deployed (n1 master and holding),
    the holder sampler, the ARP capture and the writer running; all stopped and removed on
    exit."""

    def __init__(self, mech: str, tag: str, keep: bool, down_after_ms: int, sentinels_apart: bool = False):
        self.mech = mech
        self.apart = sentinels_apart
        self.tag = tag
        self.keep = keep
        self.down_after_ms = down_after_ms
        self.topo: Topology | None = None
        self.sampler: HolderSampler | None = None
        self.writer: VipWriter | None = None
        self.cap = None

    def setup(self) -> None:
        self.topo = Topology(self.tag + TAGS[self.mech], nodes=3, keep_workdir=self.keep,
                             sentinel_hosts=3 if self.apart else 0)
        self.dep = Deployment(self.topo, self.mech, self.down_after_ms, sentinels_apart=self.apart).start()
        self.g = self.dep.group
        self.macs = {n: self.topo.mac(n) for n in self.g.nodes}
        self.cap = self.topo.capture("obs", filter="arp")
        self.sampler = HolderSampler(self.topo, nodes=list(self.g.nodes), interval=SAMPLE_S).start()
        self.writer = VipWriter(self.topo, prefix="bench", pause=0.01).start()
        if not _wait(lambda: len(self.writer.acked_by("n1")) >= 20, 15, 0.05):
            raise RuntimeError(f"{self.mech}: the writer gets no acknowledgement from n1 through the VIP "
                               f"({len(self.writer.acks)} acks, {self.writer.errors} errors)")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.stop()
        if self.sampler is not None:
            self.sampler.stop()
        if self.cap is not None:
            self.cap.stop()
        if self.topo is not None:
            self.topo.close()

    # -- waiting ------------------------------------------------------------------------------
    def first_promotion(self, after: float, timeout: float = FAILOVER_TIMEOUT_S) -> tuple[float, str] | None:
        got = _wait(lambda: self.dep.promotions(after), timeout, 0.05)
        return got[0] if got else None

    def converge(self, old: str = "n1", timeout: float = 60) -> tuple[str | None, bool]:
        """Wait until ``old`` is a replica, the Sentinels have settled on a master and that node
        alone has had the VIP for 3 s: (settled master or None, converged)."""
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(5.0, deadline - time.monotonic())

        demoted = _wait(lambda: self.g[old].role() == "replica", timeout, 0.1)
        final = self.dep.settled(left())
        alone = bool(final) and bool(_wait(lambda: self.sampler.stable_for((final,), 3.0), left(), 0.1))
        return final, bool(demoted) and alone

    # -- measuring ----------------------------------------------------------------------------
    def release_time(self, node: str, after: float, until: float) -> tuple[float | None, str | None]:
        """When ``node`` deleted the VIP after ``after``: the module's own "releasing" log line
        (ms) when it falls within the sampler's bracket, else the samples' midpoint (±5 ms)."""
        t_s = self.sampler.left_at(node, after, until)
        if t_s is None:
            return None, None
        if self.mech.startswith("vip-"):
            logged = [t + 0.0005 for t, msg in log_events(self.g[node], "releasing")
                      if t >= after - 0.001 and "<vip>" in msg]
            half = SAMPLE_S / 2 + 0.003
            near = [t for t in logged if t_s - half - SAMPLE_S <= t <= t_s + half]
            if near:
                return near[0], "module log"
        return t_s, "holder samples"

    def first_garp(self, node: str, after: float) -> float | None:
        ps = self.cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac == self.macs[node] and p.ts > after)
        return ps[0].ts if ps else None

    def outcome(self, t_fault: float, t_end: float, final: str | None, old: str = "n1") -> dict:
        """Promotions, split-brain writes, client gaps and lost writes after the fault. Stops
        the writer."""
        self.writer.stop()
        proms = self.dep.promotions(t_fault)
        t_promo = proms[0][0] if proms else None
        late = self.writer.acked_by(old, sent_after=t_promo) if t_promo else []
        acks = sorted(a.t_ack for a in self.writer.acks if t_fault - 1.0 <= a.t_ack <= t_end)
        out = {
            "promotions": len(proms),
            "promoted_nodes": [n for _t, n in proms],
            "second_failover": len(proms) > 1,
            "promotion_ms": _ms(t_promo, t_fault),
            "settled_master": final,
            "acked_by_old_after_promotion": len(late) if t_promo else None,
            "last_old_ack_ms_after_promotion": _ms(max(a.t_ack for a in late), t_promo) if late else None,
            "writes_acked": len(self.writer.acks),
            "write_errors": self.writer.errors,
            "writer_connects": self.writer.connects,
            # the longest time without an acknowledged write (the client's outage)
            "client_gap_ms": max((b - a for a, b in zip(acks, acks[1:])), default=0.0) * 1000 if acks else None,
        }
        if final and self.g[final].alive():
            try:
                out["writes_lost"] = len(self.writer.missing_from(self.g[final]))
            except Exception as exc:  # noqa: BLE001
                out["writes_lost_error"] = str(exc)
        return out

    def phases(self, res: dict, t_fault: float, t_mid: float, t_end: float) -> None:
        res["failover"] = self.sampler.durations(t_fault, t_mid)
        res["after_restart"] = self.sampler.durations(t_mid, t_end)  # after the restart / link up / wake-up
        res["total"] = self.sampler.durations(t_fault, t_end)

    def conclude(self, res: dict, t_fault: float, t_end: float, final: str | None) -> None:
        """n1's VIP.STATUS, then the outcome after the fault (which stops the writer), into res."""
        self.module_status(res)
        res.update(self.outcome(t_fault, t_end, final))

    def module_status(self, res: dict, node: str = "n1") -> None:
        st = self.dep.status(node)
        if st:
            res["n1_status"] = {k: st.get(k) for k in ("state", "holding", "claims", "releases", "fences",
                                                        "last_fence_reason", "reason", "error") if k in st}


def _new_master(dep: Deployment, old: str, among: list[str] | None = None) -> str | None:
    addr = dep.sentinel_master(among)
    if not addr or dep.node_of(addr) == old:
        return None
    name = dep.node_of(addr)
    return name if dep.group[name].role() == "master" else None


# ----------------------------------------------------------------------------------------------
# figure 3


def stale_restart_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """kill -9 of the master; once the new master holds the VIP for 1 s, the old one restarts
    from its config file (a master, empty data set) until Sentinel converts it."""
    res: dict = {"mech": mech, "scenario": "stale-restart", "down_after_ms": down_after_ms}
    with Rep(mech, "bs", keep, down_after_ms) as r:
        time.sleep(0.5)
        old = r.g["n1"]
        t_fault = time.time()
        old.kill9()
        new = _wait(lambda: _new_master(r.dep, "n1"), FAILOVER_TIMEOUT_S + down_after_ms / 1000, 0.05)
        res["new_master"] = new
        if new:
            _wait(lambda: r.sampler.stable_for((new,), 1.0), 20, 0.05)
        t_restart = time.time()
        old.start()
        old.wait_ready(15)
        res["restart_ready_ms"] = (time.time() - t_restart) * 1000
        final, res["converged"] = r.converge("n1")
        t_end = time.time()
        demoted = [t for t in log_times(old.log_text(), "Connecting to MASTER") if t >= t_restart]
        res["old_master_demoted_ms_after_restart"] = _ms(demoted[0], t_restart) if demoted else None
        res["restart_ms_after_fault"] = _ms(t_restart, t_fault)
        res["stale_held"] = any("n1" in x.holders for x in r.sampler.snapshot() if t_restart <= x.wall <= t_end)
        r.conclude(res, t_fault, t_end, final)
        r.phases(res, t_fault, t_restart, t_end)
        r.dep.check_alive()
    return res


def link_down_s(down_after_ms: int) -> float:
    """How long the isolation lasts: 8 s at down-after 1000; above, down-after + 8 s (a shorter
    isolation fails nothing over: the Sentinels never see the master down that long)."""
    return LINK_DOWN_S if down_after_ms <= 1000 else down_after_ms / 1000 + LINK_DOWN_S


def isolation_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """The master's bridge port down for 8 s (down-after + 8 s above down-after 1000; the
    majority fails over meanwhile), then up until Sentinel converts the old master."""
    res: dict = {"mech": mech, "scenario": "isolation", "down_after_ms": down_after_ms}
    down_s = link_down_s(down_after_ms)
    with Rep(mech, "bi", keep, down_after_ms) as r:
        time.sleep(0.5)
        with r.sampler.lock:
            t_fault = time.time()
            r.topo.link_down("n1")
            r.sampler.set_isolated("n1", True)
        # the majority side (n2, n3 and their Sentinels) fails over
        res["new_master"] = _wait(lambda: _new_master(r.dep, "n1", among=["n2", "n3"]), down_s - 0.5, 0.05)
        time.sleep(max(0.0, t_fault + down_s - time.time()))
        with r.sampler.lock:
            t_up = time.time()
            r.topo.link_up("n1")
            r.sampler.set_isolated("n1", False)
        res["link_down_ms"] = (t_up - t_fault) * 1000
        final, res["converged"] = r.converge("n1")
        t_end = time.time()
        rel, res["release_source"] = r.release_time("n1", t_fault, t_up)
        res["release_ms"] = _ms(rel, t_fault)  # None: it kept the VIP while cut off
        res["reclaims_after_release"] = len(r.sampler.came_back("n1", rel, t_end)) if rel else None
        r.conclude(res, t_fault, t_end, final)
        proms = r.dep.promotions(t_fault)
        if rel and proms:
            res["release_minus_promotion_ms"] = (rel - proms[0][0]) * 1000
        r.phases(res, t_fault, t_up, t_end)
        r.dep.check_alive()
    return res


# ----------------------------------------------------------------------------------------------
# figure 7


def planned_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """SENTINEL FAILOVER asked of n2's Sentinel (which then leads the failover) with every node
    healthy, until Sentinel has converted the old master."""
    res: dict = {"mech": mech, "scenario": "planned", "down_after_ms": down_after_ms}
    with Rep(mech, "bp", keep, down_after_ms) as r:
        time.sleep(0.5)
        t0 = time.time()
        r.g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
        first = r.first_promotion(t0)
        final, res["converged"] = r.converge("n1")
        t_end = time.time()
        chosen = [t for s in r.g.sentinels.values()
                  for t in log_times(s.log_text(), "+failover-state-send-slaveof-noone") if t >= t0 - 0.001]
        t_choice = min(chosen) + 0.0005 if chosen else None
        t_garp = r.first_garp(first[1], t0) if first else None
        rel, res["release_source"] = r.release_time("n1", t0, t_end)
        res["first_promoted"] = first[1] if first else None
        res["choice_ms"] = _ms(t_choice, t0)
        res["first_garp_ms"] = _ms(t_garp, t0)
        res["release_ms"] = _ms(rel, t0)
        res["release_minus_choice_ms"] = _ms(rel, t_choice)
        res["release_minus_garp_ms"] = _ms(rel, t_garp)
        res["release_minus_promotion_ms"] = _ms(rel, first[0]) if first else None
        r.conclude(res, t0, t_end, final)
        res["total"] = r.sampler.durations(t0, t_end)
        r.dep.check_alive()
    return res


# ----------------------------------------------------------------------------------------------
# figure 8


def busy_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """DEBUG SLEEP 5 on the master: its main thread blocked (a module's own threads keep
    running); the Sentinels fail over while it sleeps; after waking it is still a master until
    Sentinel converts it."""
    res: dict = {"mech": mech, "scenario": "busy", "down_after_ms": down_after_ms}
    with Rep(mech, "bb", keep, down_after_ms) as r:
        time.sleep(0.5)
        woke: list[float] = []
        client = r.g["n1"].client(socket_timeout=SLEEP_S + 30)

        def sleep() -> None:
            try:
                client.execute_command("DEBUG", "SLEEP", str(SLEEP_S))
            except Exception:  # noqa: BLE001 - the reply is all that matters
                pass
            woke.append(time.time())

        t0 = time.time()
        sleeper = threading.Thread(target=sleep, name="debug-sleep", daemon=True)
        sleeper.start()
        first = r.first_promotion(t0)
        sleeper.join(SLEEP_S + 30)
        t_wake = woke[0] if woke else t0 + SLEEP_S
        final, res["converged"] = r.converge("n1")
        t_end = time.time()
        rel, res["release_source"] = r.release_time("n1", t0, t_end)
        res["release_ms"] = _ms(rel, t0)
        res["wake_ms"] = _ms(t_wake, t0)
        res["release_minus_promotion_ms"] = _ms(rel, first[0]) if first else None
        res["released_before_promotion"] = bool(rel and first and rel < first[0])
        res["released_before_wake"] = bool(rel and rel < t_wake)
        # re-claims: n1 has the VIP again after its first release (after waking, by design)
        res["reclaims_after_release"] = len(r.sampler.came_back("n1", rel, t_end)) if rel else 0
        r.conclude(res, t0, t_end, final)
        r.phases(res, t0, t_wake, t_end)
        r.dep.check_alive()
    return res


# ----------------------------------------------------------------------------------------------
# figure 9


def sentinels_stopped_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """Two of the three Sentinels (n2's and n3's) SIGSTOPped for 10 s, every Redis node healthy;
    then SIGCONT, until n1 has held the VIP alone for 2 s again."""
    res: dict = {"mech": mech, "scenario": "sentinels-stopped", "down_after_ms": down_after_ms}
    with Rep(mech, "bx", keep, down_after_ms) as r:
        time.sleep(0.5)
        stopped = [r.g.sentinels[n] for n in ("n2", "n3")]
        t0 = time.time()
        try:
            for s in stopped:
                s.sigstop()
            time.sleep(STOP_S)
        finally:
            t_cont = time.time()
            for s in stopped:
                s.sigcont()
        back_alone = _wait(lambda: r.sampler.stable_for(("n1",), 2.0), 30, 0.1)
        t_end = time.time()
        rel, res["release_source"] = r.release_time("n1", t0, t_cont)
        back = r.sampler.came_back("n1", rel, t_end) if rel else []
        res["stopped_ms"] = (t_cont - t0) * 1000
        res["release_ms"] = _ms(rel, t0)  # None: it kept the VIP
        res["reclaim_ms_after_resume"] = _ms(back[0], t_cont) if back else None
        res["converged"] = bool(back_alone)
        r.conclude(res, t0, t_end, "n1")
        res["total"] = r.sampler.durations(t0, t_end)
        r.dep.check_alive()
    return res


# ----------------------------------------------------------------------------------------------
# figure 12: nothing failed


def _master_runids(dep: Deployment) -> list[str | None]:
    """The run id each live Sentinel shows for the master (None where it does not answer)."""
    out = []
    for s in dep.group.sentinels.values():
        if not s.alive():
            continue
        try:
            m = pairs_to_dict(s.execute("SENTINEL", "MASTER", MASTER_NAME))
            out.append(m.get("runid"))
        except Exception:  # noqa: BLE001
            out.append(None)
    return out


def crash_restart_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """kill -9 of the master's redis-server and an immediate start from the same config file,
    as systemd's Restart=always does; then until every Sentinel shows the new process's run id
    (their next INFO, within 10 s) and the master alone has held the VIP for 3 s. At down-after
    1000 Sentinel's reconnect (throttled to once a second) can outlast down-after and the
    Sentinels fail the master over; the run then waits for the settled master instead. The
    servers run without persistence: the restarted master comes back empty and its replicas
    resync from it, so the writes acknowledged before the crash are lost by Redis itself, with
    every mechanism."""
    res: dict = {"mech": mech, "scenario": "crash-restart", "down_after_ms": down_after_ms}
    with Rep(mech, "bc", keep, down_after_ms) as r:
        time.sleep(0.5)
        old = r.g["n1"]
        t_fault = time.time()
        old.kill9()
        old.start()
        old.wait_ready(15)
        t_polled = time.time()
        # when it answered: Redis' own "Ready to accept connections" line (ms), not the harness's
        # polling of it (every 50 ms)
        logged = [t for t in log_times(old.log_text(), "Ready to accept connections") if t >= t_fault - 0.001]
        t_ready = logged[0] + 0.0005 if logged else t_polled
        res["restart_ready_ms"] = (t_ready - t_fault) * 1000
        res["restart_ready_source"] = "redis log" if logged else "polling"
        res["restart_ready_polled_ms"] = (t_polled - t_fault) * 1000
        runid = old.client().info("server").get("run_id")

        def new_runid_everywhere() -> bool:
            ids = _master_runids(r.dep)
            return bool(ids) and all(i == runid for i in ids)

        # a failover (at down-after 1000) shows within a few seconds; otherwise wait for the
        # Sentinels' INFO, the moment a mechanism that waits for it would be back
        _wait(lambda: r.dep.promotions(t_fault) or new_runid_everywhere(), INFO_PERIOD_S + 10, 0.05)
        t_seen = time.time()
        if not r.dep.promotions(t_fault):
            res["sentinels_new_runid_ms"] = _ms(t_seen, t_ready) if new_runid_everywhere() else None
            final = r.dep.settled(40)
            if final == "n1" and not r.dep.promotions(t_fault):
                res["converged"] = bool(_wait(lambda: r.sampler.stable_for(("n1",), 3.0), 30, 0.1))
            else:
                final, res["converged"] = r.converge("n1")
        else:
            final, res["converged"] = r.converge("n1")
        t_end = time.time()
        proms = r.dep.promotions(t_fault)
        res["failed_over"] = bool(proms)
        # the VIP off n1 after the kill, and back on it after the restarted server answered
        # (without a failover; raw presence: no link goes down here)
        left = r.sampler.left_at("n1", t_fault - SAMPLE_S, t_end)
        res["vip_left"] = left is not None
        res["vip_left_ms"] = _ms(left, t_fault)
        back = r.sampler.came_back("n1", left, t_end) if left is not None else []
        res["vip_departures"] = r.sampler.departures("n1", t_fault - SAMPLE_S, t_end)
        if not proms:
            # from when n1 had the VIP for good (its last return), after the restarted server
            # answered; 0 when it never left or was back before the server answered (the
            # module claims when it loads, before Redis listens)
            res["vip_back_ms_after_ready"] = (max(0.0, _ms(back[-1], t_ready)) if back
                                              else (0.0 if left is None else None))
            # the VIP elsewhere than on the master (on no node, or on a replica)
            res["off_master_ms"] = r.sampler.off_ms(("n1",), t_fault, t_end)
        # Sentinel's own view: how many Sentinels called the master subjectively down (their
        # reconnect to the restarted server is throttled to once a second), and the module's
        # first claim after the restart with its reason
        sdown = [n for n, s in r.g.sentinels.items()
                 if any(t >= t_fault - 0.001 for t in log_times(s.log_text(), "+sdown master"))]
        res["sdown_sentinels"] = len(sdown)
        if mech.startswith("vip-"):
            claims = [(t, msg) for t, msg in log_events(old, "claiming") if t >= t_fault - 0.001]
            res["first_claim_ms_after_ready"] = _ms(claims[0][0], t_ready) if claims else None
            res["first_claim"] = claims[0][1] if claims else None
            rels = [(t, msg) for t, msg in log_events(old, "releasing") if t >= t_fault - 0.001]
            res["releases_after_restart"] = len(rels)
            res["first_release"] = rels[0][1] if rels else None
            # the restarted module found its previous process's address and deleted it at start;
            # from its log (ms): how long until its claim (often shorter than the 10 ms samples)
            dels = [t for t, _m in log_events(old, "must not hold it") if t >= t_fault - 0.001]
            res["deleted_at_start"] = bool(dels)
            again = [t for t, _m in claims if dels and t >= dels[0]]
            res["deleted_for_ms"] = _ms(again[0], dels[0]) if again else None
        acks_after = [a.t_ack for a in r.writer.acks if a.t_ack >= t_ready]
        res["first_ack_after_ready_ms"] = _ms(min(acks_after), t_ready) if acks_after else None
        acked_before = sum(1 for a in r.writer.acks if a.t_ack <= t_fault)
        r.conclude(res, t_fault, t_end, final)
        res["acked_before_crash"] = acked_before
        res["total"] = r.sampler.durations(t_fault, t_end)
        r.dep.check_alive()
    return res


def backup_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    """`redis-cli --rdb` from the client namespace against the master, kept waiting for its RDB
    (repl-diskless-sync-delay) until every Sentinel's INFO has seen it: the master's INFO lists
    it as a replica with port 0, and every Sentinel adds `ip:0` to SENTINEL REPLICAS for good.
    Then 3 s more with the entry in every answer, the client stopped, and 2 s more."""
    res: dict = {"mech": mech, "scenario": "backup", "down_after_ms": down_after_ms}
    with Rep(mech, "bk", keep, down_after_ms) as r:
        time.sleep(0.5)
        n1 = r.g["n1"]
        obs = r.topo.addr4("obs")
        n1.execute("CONFIG", "SET", "repl-diskless-sync-delay", str(BACKUP_DELAY_S))

        def listed() -> list[str]:
            out = []
            for name, s in r.g.sentinels.items():
                try:
                    if any(x.get("ip") == obs and str(x.get("port")) == "0" for x in s.replicas()):
                        out.append(name)
                except Exception:  # noqa: BLE001
                    pass
            return out

        t0 = time.time()
        cli = r.topo.popen("obs", "redis-cli", "-h", n1.address, "--rdb", str(r.topo.workdir / "backup.rdb"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            everywhere = _wait(lambda: len(listed()) == len(r.g.sentinels), BACKUP_LISTED_TIMEOUT_S, 0.2)
            t_listed = time.time()
            res["listed_everywhere_ms"] = _ms(t_listed, t0) if everywhere else None
            time.sleep(BACKUP_HOLD_S)
        finally:
            t_stop = time.time()
            cli.kill()
            cli.wait(timeout=10)
            n1.execute("CONFIG", "SET", "repl-diskless-sync-delay", "0")
        res["backup_client_s"] = t_stop - t0
        back_alone = _wait(lambda: r.sampler.stable_for(("n1",), 2.0), 30, 0.1)
        t_end = time.time()
        still = listed()
        res["listed_by_at_end"] = still
        res["listed_everywhere"] = len(still) == len(r.g.sentinels)
        res["converged"] = bool(back_alone)
        res["vip_left"] = r.sampler.left_at("n1", t0 - SAMPLE_S, t_end) is not None
        st = r.dep.status("n1")
        if st:
            res["sentinel_entries_skipped"] = st.get("sentinel_entries_skipped")
        r.conclude(res, t0, t_end, "n1")
        res["total"] = r.sampler.durations(t0, t_end)
        r.dep.check_alive()
    return res


SCENARIOS = {  # name -> (figure, function)
    "stale-restart": (3, stale_restart_rep),
    "isolation": (3, isolation_rep),
    "planned": (7, planned_rep),
    "busy": (8, busy_rep),
    "sentinels-stopped": (9, sentinels_stopped_rep),
    "crash-restart": (12, crash_restart_rep),
    "backup": (12, backup_rep),
}
# figure 12 runs at both settings: Sentinel's hardest (1000) and its default (30000)
NOTHING_FAILED = ["crash-restart", "backup"]
NOTHING_FAILED_DOWN_AFTER = [1000, 30000]
