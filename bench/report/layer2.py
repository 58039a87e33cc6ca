"""The layer-2 figures: failovers (1-2), a stale master isolated (3), planned failovers (7), a
busy master (8), a stopped master (9), start-up (10), and second failovers."""

from __future__ import annotations

from bench.common import summary
from bench.mechanisms import DOWN_AFTER_MS, LABELS

from .cells import (_status, cell, count_cell, med, none_, ok_rows, open_section, ratio_block, ratio_matrix, runs_cell,
                    runs_with, scen, scen_mechs, scen_status, stat, table, two)

# ----------------------------------------------------------------------------------------------
# figures 1-2


def failover_section(L: list[str], results: dict, fs: dict, mechs: list[str]) -> None:
    if not fs:
        return
    add = L.append
    ms = [m for m in mechs if m in fs]
    add("## Figures 1-2: kill -9 of the master")
    add("")
    add("Values: median [min–max] over the repetitions, in ms.")
    add("")
    man = (results.get("manual") or {}).get("vip-basic")

    def man_cell(m: str, key: str, scale: float = 1.0) -> str:
        if m != "vip-basic":
            return "n/a"
        if not man or key not in man:
            return "—"
        return cell(summary([None if v is None else v * scale for v in man[key]]), 2) + f" (n={len(man[key])})"

    rows = [
        ("runs", lambda m: runs_cell(fs[m]["runs"], fs[m]["status"])),
        ("**1** promotion → first GARP in the client ns", lambda m: cell(fs[m]["promo_garp"], 2)),
        ("1 (module's own: role event → first GARP sent)",
         lambda m: cell(fs[m]["claim_ms"], 2) if m.startswith("vip-") else "n/a"),
        ("1 one Sentinel round trip (SENTINEL MASTER, n2 → n3's Sentinel)", lambda m: cell(fs[m]["rtt"], 2)),
    ]
    if man:
        rows += [("1b REPLICAOF NO ONE by a local client → first GARP in the client ns",
                  lambda m: man_cell(m, "latency_ms")),
                 ("1b (module's own: role event → first GARP sent)", lambda m: man_cell(m, "module_claim_us", 0.001))]
    rows += [
        ("**2** client outage through the VIP", lambda m: cell(fs[m]["outage"], 0)),
        ("2 Sentinel's own promotion (kill → SLAVEOF NO ONE)", lambda m: cell(fs[m]["promotion"], 0)),
        ("2 outage − Sentinel's promotion", lambda m: cell(fs[m]["excess"], 0)),
        ("2 Sentinel +switch-master (kill →)", lambda m: cell(fs[m]["switch"], 0)),
        ("2 longest gap between writes after the client was back", lambda m: cell(fs[m]["later_gap"], 0)),
        ("runs in which Sentinel promoted a second time", lambda m: f"{fs[m]['second']} of {fs[m]['runs']}"),
        ("2 client writes per second achieved", lambda m: cell(fs[m]["rate"], 0)),
    ]
    table(L, ms, rows)
    add("")
    add("### Ratios against each peer (median of the row ÷ median of the column)")
    add("")
    for title, key in (("Figure 1, promotion → first GARP:", "promo_garp"), ("Figure 2, client outage:", "outage"),
                       ("Figure 2, outage beyond Sentinel's own promotion time (outage − promotion):", "excess")):
        mat = ratio_matrix(lambda m, k=key: med(fs.get(m, {}).get(k)), ms)
        if mat:
            add(title)
            add("")
            L.extend(mat)
            add("")


# ----------------------------------------------------------------------------------------------
# figure 3


def stale_isolation_section(L: list[str], results: dict, mechs: list[str]) -> None:
    names = [n for n in ("stale-restart", "isolation") if n in results.get("scenarios", {})]
    if not names:
        return
    add = L.append
    add("## Figure 3: stale restart and isolation")
    add("")
    add("Stale restart: kill -9 of the master, failover, then the old master restarted from its config "
        "file (a master, empty data set) until Sentinel converts it. Isolation: the master's link down for "
        "8 s, then up until Sentinel converts it. Holders sampled every 10 ms; writes through the VIP "
        "every 10 ms, each attributed to the node that acknowledged it. Phase 1: fault → restart / link "
        "up; phase 2: then until the old master is a replica and the settled master alone has held the "
        "VIP for 3 s. Values: median [min–max] in ms, counts per run.")
    add("")
    for name in names:
        ms = scen_mechs(results, name, mechs)
        title = "Stale restart" if name == "stale-restart" else "Isolation (link down 8 s)"
        add(f"### {title}")
        add("")
        rows = [
            ("runs", lambda m: runs_cell(len(scen(results, name, m)), scen_status(results, name, m))),
            ("**ms with two holders**", lambda m: cell(stat(scen(results, name, m), two), 0)),
            ("ms with two holders, phase 1 / phase 2",
             lambda m: f"{cell(stat(scen(results, name, m), lambda r: two(r, 'failover')), 0)} / "
                       f"{cell(stat(scen(results, name, m), lambda r: two(r, 'after_restart')), 0)}"),
            ("ms with no holder", lambda m: cell(stat(scen(results, name, m), none_), 0)),
            ("**writes acknowledged by the old master after the promotion**",
             lambda m: count_cell(scen(results, name, m), "acked_by_old_after_promotion")),
            ("acknowledged writes missing from the settled master at the end",
             lambda m: count_cell(scen(results, name, m), "writes_lost")),
            ("client's longest gap between acknowledged writes", lambda m: cell(stat(scen(results, name, m),
                                                                                    "client_gap_ms"), 0)),
        ]
        if name == "isolation":
            rows[1:1] = [
                ("**old master's release after link down**",
                 lambda m: cell(stat(scen(results, name, m), "release_ms"), 0)),
                ("release − first promotion (negative: before)",
                 lambda m: cell(stat(scen(results, name, m), "release_minus_promotion_ms"), 0)),
            ]
        else:
            rows.append(("runs in which the restarted master had the VIP",
                         lambda m: runs_with(scen(results, name, m), "stale_held")))
        rows += [
            ("first promotion after the fault", lambda m: cell(stat(scen(results, name, m), "promotion_ms"), 0)),
            ("runs with a second promotion", lambda m: runs_with(scen(results, name, m), "second_failover")),
            ("converged", lambda m: runs_with(scen(results, name, m), "converged")),
        ]
        table(L, ms, rows)
        add("")
        ratio_block(L, "Ratios, ms with two holders", lambda m: med(stat(scen(results, name, m), two)), ms)
        ratio_block(L, "Ratios, client's longest gap", lambda m: med(stat(scen(results, name, m), "client_gap_ms")), ms)
        if name == "isolation":
            ratio_block(L, "Ratios, release after link down",
                        lambda m: med(stat(scen(results, name, m), "release_ms")), ms)
            add("\"—\" as release: the old master kept the VIP for the whole time it was cut off. Taking the "
                "bridge port down also takes the carrier away from n1's eth0: keepalived enters its FAULT "
                "state and drops the VIP itself; a partition that leaves the carrier up (a fault further "
                "away) was not measured.")
            add("")


# ----------------------------------------------------------------------------------------------
# figure 7


def planned_section(L: list[str], results: dict, mechs: list[str]) -> None:
    ms = open_section(
        L, results, "planned", mechs, "## Figure 7: planned failover (`SENTINEL FAILOVER`)",
        "`SENTINEL FAILOVER mymaster` sent to n2's Sentinel (which then runs the failover) with every node "
        "healthy. Times in ms after the command: the leader's choice (`+failover-state-send-slaveof-noone` "
        "in its log), the promoted node's \"MASTER MODE enabled\" line, its first GARP (capture in the client "
        "namespace), and the old master's release (redis-vip: its own \"releasing\" log line; the peers: "
        "the holder samples, ±5 ms). Negative differences: the release came first.")
    if not ms:
        return
    add = L.append

    def s(key):
        return lambda m: cell(stat(scen(results, "planned", m), key), 0)

    table(L, ms, [
        ("runs", lambda m: runs_cell(len(scen(results, "planned", m)), scen_status(results, "planned", m))),
        ("leader's choice", s("choice_ms")),
        ("promotion (MASTER MODE enabled)", s("promotion_ms")),
        ("new master's first GARP", s("first_garp_ms")),
        ("old master's release", s("release_ms")),
        ("**release − leader's choice**", s("release_minus_choice_ms")),
        ("**release − new master's first GARP**", s("release_minus_garp_ms")),
        ("release − promotion", s("release_minus_promotion_ms")),
        ("**writes acknowledged by the old master after the promotion**",
         lambda m: count_cell(scen(results, "planned", m), "acked_by_old_after_promotion")),
        ("ms with two holders", lambda m: cell(stat(scen(results, "planned", m), two), 0)),
        ("ms with no holder", lambda m: cell(stat(scen(results, "planned", m), none_), 0)),
        ("client's longest gap between acknowledged writes", s("client_gap_ms")),
        ("acknowledged writes missing from the settled master",
         lambda m: count_cell(scen(results, "planned", m), "writes_lost")),
        ("runs with a second promotion", lambda m: runs_with(scen(results, "planned", m), "second_failover")),
        ("converged", lambda m: runs_with(scen(results, "planned", m), "converged")),
    ])
    add("")
    ratio_block(L, "Ratios, writes acknowledged by the old master after the promotion (totals)",
                lambda m: sum(stat(scen(results, "planned", m), "acked_by_old_after_promotion")["values"])
                if scen(results, "planned", m) else None, ms)
    ratio_block(L, "Ratios, ms with two holders", lambda m: med(stat(scen(results, "planned", m), two)), ms)
    add("What bounds the old master's acknowledged writes in the Sentinel-confirmed mode: a write is "
        "counted when it was *sent* after the promotion and the old master acknowledged it. The old master "
        "releases when its poll (every 10 ms while a Sentinel shows a failover under way) sees the leader "
        "flag another replica `promoted`, which the leader does when it sends `REPLICAOF NO ONE`, before "
        "the replica's role changes; so the count is bounded by how long the release may trail the "
        "promotion (the row \"release − promotion\": positive values are that window) times the write rate, "
        "plus writes on a TCP connection that reaches the old master after the release until the client "
        "follows the new master's GARP.")
    add("")
    pl = scen(results, "planned", "vip-sentinel")
    if pl and med(stat(pl, "client_gap_ms")) is not None:
        acked = sum(stat(pl, "acked_by_old_after_promotion")["values"])
        peers = [(how, scen(results, "planned", p)) for p, how in
                 (("sentinel-script", "with the Sentinel script"), ("vip-basic", "in basic mode"))
                 if med(stat(scen(results, "planned", p), "client_gap_ms")) is not None]
        took = [sum(stat(r, "acked_by_old_after_promotion")["values"]) for _, r in peers]
        lost = [sum(stat(r, "writes_lost")["values"]) for _, r in peers]
        kept = ""
        if peers and all(took):
            kept = (f", whose old master{'s' if len(peers) > 1 else ''} kept taking writes"
                    + (" (all lost)" if all(lo >= t for lo, t in zip(lost, took)) else ""))
        add((f"What those {acked:.0f} writes cost the client" if acked == 0 else
             f"What keeping those writes to {acked:.0f} cost the client")
            + f": its longest gap between acknowledged writes was {cell(stat(pl, 'client_gap_ms'), 0)} ms in the "
            "Sentinel-confirmed mode"
            + (", against " + " and ".join(f"{cell(stat(r, 'client_gap_ms'), 0)} ms {how}" for how, r in peers)
               if peers else "")
            + kept + ". The old master lets go of the VIP at the leader's choice, before the new master claims "
            f"it at its promotion (ms with no holder: {cell(stat(pl, none_), 0)}); a write on a connection to the "
            "old master is then retransmitted after TCP's minimum retransmission timeout (200 ms on Linux) and "
            "reset by the new master, and the client reconnects.")
        add("")


# ----------------------------------------------------------------------------------------------
# figure 8


def busy_section(L: list[str], results: dict, mechs: list[str]) -> None:
    ms = open_section(
        L, results, "busy", mechs, "## Figure 8: busy master (`DEBUG SLEEP 5`)",
        "`DEBUG SLEEP 5` on the master blocks its main thread (a module's own threads keep running); the "
        "Sentinels fail over while it sleeps; after waking it is still a master until Sentinel converts it. "
        "Times in ms after DEBUG SLEEP was sent. Re-claims: how often the old master had the VIP again "
        "after its first release. Phase 1: the sleep; phase 2: after waking, until converged.")
    if not ms:
        return
    add = L.append

    def s(key, nd=0):
        return lambda m: cell(stat(scen(results, "busy", m), key), nd)

    table(L, ms, [
        ("runs", lambda m: runs_cell(len(scen(results, "busy", m)), scen_status(results, "busy", m))),
        ("old master's release", s("release_ms")),
        ("release − first promotion (negative: before)", s("release_minus_promotion_ms")),
        ("promotion", s("promotion_ms")),
        ("runs in which it released before the promotion",
         lambda m: runs_with(scen(results, "busy", m), "released_before_promotion")),
        ("**re-claims after its release**", lambda m: count_cell(scen(results, "busy", m), "reclaims_after_release")),
        ("**ms with two holders**", lambda m: cell(stat(scen(results, "busy", m), two), 0)),
        ("ms with two holders, phase 1 / phase 2",
         lambda m: f"{cell(stat(scen(results, 'busy', m), lambda r: two(r, 'failover')), 0)} / "
                   f"{cell(stat(scen(results, 'busy', m), lambda r: two(r, 'after_restart')), 0)}"),
        ("ms with no holder", lambda m: cell(stat(scen(results, "busy", m), none_), 0)),
        ("writes acknowledged by the old master after the promotion",
         lambda m: count_cell(scen(results, "busy", m), "acked_by_old_after_promotion")),
        ("client's longest gap between acknowledged writes", s("client_gap_ms")),
        ("acknowledged writes missing from the settled master",
         lambda m: count_cell(scen(results, "busy", m), "writes_lost")),
        ("runs with a second promotion", lambda m: runs_with(scen(results, "busy", m), "second_failover")),
        ("converged", lambda m: runs_with(scen(results, "busy", m), "converged")),
    ])
    add("")
    ratio_block(L, "Ratios, ms with two holders", lambda m: med(stat(scen(results, "busy", m), two)), ms)
    ratio_block(L, "Ratios, client's longest gap", lambda m: med(stat(scen(results, "busy", m), "client_gap_ms")), ms)


# ----------------------------------------------------------------------------------------------
# figure 9


def stopped_section(L: list[str], results: dict, mechs: list[str]) -> None:
    ms = open_section(
        L, results, "sentinels-stopped", mechs, "## Figure 9: two of three Sentinels stopped for 10 s",
        "SIGSTOP of n2's and n3's Sentinels for 10 s (each accepts TCP and never answers), every Redis node "
        "healthy, then SIGCONT, until n1 has held the VIP alone for 2 s. VIP outage = ms with no holder "
        "(holder samples); the client's longest gap is the same seen through the writer.")
    if not ms:
        return
    add = L.append
    name = "sentinels-stopped"

    def s(key):
        return lambda m: cell(stat(scen(results, name, m), key), 0)

    table(L, ms, [
        ("runs", lambda m: runs_cell(len(scen(results, name, m)), scen_status(results, name, m))),
        ("**VIP outage: ms with no holder**", lambda m: cell(stat(scen(results, name, m), none_), 0)),
        ("client's longest gap between acknowledged writes", s("client_gap_ms")),
        ("n1's release after the stop (— : kept it)", s("release_ms")),
        ("n1's re-claim after SIGCONT", s("reclaim_ms_after_resume")),
        ("ms with two holders", lambda m: cell(stat(scen(results, name, m), two), 0)),
        ("promotions", lambda m: count_cell(scen(results, name, m), "promotions")),
    ])
    add("")
    base = {m: med(stat(scen(results, name, m), none_)) for m in ms}
    diffs = []
    for m in ms:
        for p in ms:
            if m == p or not m.startswith("vip-") or p.startswith("vip-") or not base[m] or base[p] is None:
                continue
            diffs.append(f"{LABELS[m]} {base[m]:.0f} ms vs {LABELS[p]} {base[p]:.0f} ms "
                         f"({base[m] - base[p]:+.0f} ms)")
    if diffs:
        add("Against the peers (median VIP outage): " + "; ".join(diffs) + ".")
        add("")
    ratio_block(L, "Ratios, VIP outage", lambda m: base[m], ms)
    ratio_block(L, "Ratios, client's longest gap", lambda m: med(stat(scen(results, name, m), "client_gap_ms")), ms)


# ----------------------------------------------------------------------------------------------
# figure 10


def startup_section(L: list[str], results: dict, mechs: list[str]) -> None:
    su = results.get("startup") or {}
    ms = [m for m in mechs if m in su]
    if not ms:
        return
    add = L.append
    add("## Figure 10: start-up")
    add("")
    add("Redis (n1 master, n2 and n3 replicas) and the three Sentinels already running and settled. "
        "redis-vip: `MODULE LOAD` on n1 with the loadmodule line's arguments → first GARP for the VIP from "
        "n1 in the client namespace (the Sentinel-confirmed mode claims only once the Sentinels confirm "
        "n1). keepalived: started on the three nodes at once → first GARP from n1. The Sentinel script is "
        "not measured: its recipe puts the VIP on the first master by hand. Values in ms.")
    add("")
    all_ms = [m for m in mechs]
    rows_of = {m: ok_rows(su.get(m, [])) for m in all_ms}
    table(L, all_ms, [
        ("runs", lambda m: runs_cell(len(rows_of[m]), _status(su.get(m, []))) if m in su else "n/a"),
        ("**start → VIP claimed (first GARP from n1)**",
         lambda m: cell(stat(rows_of[m], "vip_ms"), 1) if m in su else "n/a (installed by hand)"),
        ("MODULE LOAD reply", lambda m: cell(stat(rows_of[m], "module_load_reply_ms"), 1)
         if m.startswith("vip-") and m in su else "n/a"),
        ("module's \"claiming\" log line", lambda m: cell(stat(rows_of[m], "claim_log_ms"), 0)
         if m.startswith("vip-") and m in su else "n/a"),
        ("runs in which another node announced the VIP first",
         lambda m: f"{sum(1 for r in rows_of[m] if r.get('first_garp_node') not in (None, 'n1'))} of "
                   f"{len(rows_of[m])}" if m in su else "n/a"),
    ])
    add("")
    mat = ratio_matrix(lambda m: med(stat(rows_of.get(m, []), "vip_ms")) if m in su else None, ms)
    if mat:
        add("Ratios (median of the row ÷ median of the column):")
        add("")
        L.extend(mat)
        add("")


# ----------------------------------------------------------------------------------------------
# second failovers


def second_failover_section(L: list[str], results: dict, fs: dict, mechs: list[str]) -> None:
    cols = []
    if fs:
        cols.append(("kill -9", lambda m: (fs[m]["second"], fs[m]["runs"]) if m in fs else None))
    for name, title in (("stale-restart", "stale restart"), ("isolation", "isolation"), ("planned", "planned"),
                        ("busy", "busy")):
        if name in results.get("scenarios", {}):
            cols.append((title, lambda m, n=name: (sum(1 for r in scen(results, n, m) if r.get("second_failover")),
                                                   len(scen(results, n, m)))))
    if not cols:
        return
    add = L.append
    add("## Second failovers by Sentinel")
    add("")
    add(f"At down-after-milliseconds {DOWN_AFTER_MS} a Sentinel sometimes fails the NEW master over again "
        "about a second after +switch-master (its reconnect to the new master waits out a 1 s throttle, "
        "as docs/safety.md explains). Runs with more than one promotion after the fault, out of the runs; "
        "every figure above waits for the settled master and measures against it.")
    add("")
    add("| scenario | " + " | ".join(LABELS[m] for m in mechs) + " | all |")
    add("|---|" + "---|" * (len(mechs) + 1))
    for title, fn in cols:
        vals = [fn(m) for m in mechs]
        tot = [v for v in vals if v]
        add(f"| {title} | " + " | ".join(f"{v[0]} of {v[1]}" if v else "—" for v in vals)
            + f" | {sum(v[0] for v in tot)} of {sum(v[1] for v in tot)} |")
    add("")
