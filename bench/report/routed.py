"""Figure 11: the routed mode (the VIP as a /32 over BGP), its reading and its targets."""

from __future__ import annotations

from bench.mechanisms import DOWN_AFTER_MS

from .cells import (TARGET_KILL_SLACK_MS, TARGET_ROUTED_MS, _status, _vs, cell, count_cell, med, none_, num, ok_rows,
                    runs_cell, runs_with, scen, stat, two)

# ----------------------------------------------------------------------------------------------
# figure 11: routed mode

SPEAKER_LABELS = {"bird": "routed, BIRD on the nodes", "frr": "routed, FRR on the nodes"}
L2 = "vip-sentinel"  # the layer-2 figures shown beside the routed ones


def routed_rows(results: dict, scenario: str, speaker: str) -> list[dict]:
    return ok_rows(((results.get("routed") or {}).get(scenario) or {}).get(speaker, []))


def routed_status(results: dict, scenario: str, speaker: str) -> str | None:
    return _status(((results.get("routed") or {}).get(scenario) or {}).get(speaker, []))


def routed_speakers(results: dict) -> list[str]:
    per = results.get("routed") or {}
    return [sp for sp in ("bird", "frr") if any(sp in (per.get(s) or {}) for s in per)]


def reason_totals(rows: list[dict], key: str = "writer_error_reasons") -> str:
    """'N ECONNRESET, M connect:ENETUNREACH' summed over the runs (most frequent first)."""
    tot: dict[str, int] = {}
    for r in rows:
        for k, v in (r.get(key) or {}).items():
            tot[k] = tot.get(k, 0) + v
    if not tot:
        return "none" if rows else "—"
    return ", ".join(f"{v} {k}" for k, v in sorted(tot.items(), key=lambda kv: -kv[1]))


def icmp_totals(rows: list[dict]) -> tuple[int, int] | None:
    """(packets the router could not route, ICMP unreachables it sent), summed over the runs."""
    got = [r["router_icmp"] for r in rows if r.get("router_icmp") and "InNoRoutes" in r["router_icmp"]]
    if not got:
        return None
    return sum(g.get("InNoRoutes", 0) for g in got), sum(g.get("OutDestUnreachs", 0) for g in got)


def icmp_cell(rows: list[dict]) -> str:
    t = icmp_totals(rows)
    return "—" if t is None else f"{t[0]} without a route, {t[1]} answered (totals)"


def _diff(a: str, b: str):
    """Per-row a − b (both keys present), for stat()."""
    return lambda r: None if r.get(a) is None or r.get(b) is None else r[a] - r[b]


def routed_section(L: list[str], results: dict, fs: dict) -> None:
    sps = routed_speakers(results)
    if not sps:
        return
    add = L.append
    l2_planned = scen(results, "planned", L2)
    l2_kill = (fs.get(L2) or {}).get("rows") or []
    cols = [(sp, SPEAKER_LABELS[sp]) for sp in sps] + [("l2", "layer 2, redis-vip sentinel (figures 1-2, 7)")]

    def tab(rows: list[tuple[str, object]]) -> None:
        add("| | " + " | ".join(c[1] for c in cols) + " |")
        add("|---|" + "---|" * len(cols))
        for label, fn in rows:
            add(f"| {label} | " + " | ".join(fn(c[0]) for c in cols) + " |")

    def rc(scenario: str, get, nd: int = 0, l2=None):
        """A cell per column: the routed rows' stat, or the layer-2 figure (l2: fn(col) -> text)."""
        def f(col: str) -> str:
            if col == "l2":
                return l2() if l2 else "n/a"
            return cell(stat(routed_rows(results, scenario, col), get), nd)
        return f

    def l2c(rows: list[dict], get, nd: int = 0):
        return lambda: cell(stat(rows, get), nd) if rows else "not run"

    def runs(scenario: str, l2_rows: list[dict]):
        return lambda col: (str(len(l2_rows)) if l2_rows else "not run") if col == "l2" else \
            runs_cell(len(routed_rows(results, scenario, col)), routed_status(results, scenario, col))

    def per_column(fn, scenario: str, key: str, l2_rows=None, l2_key=None):
        """fn(rows, key) for a speaker's column; for the layer-2 column, on l2_rows with l2_key."""
        def f(col: str) -> str:
            if col == "l2":
                if l2_rows is None:
                    return "n/a"
                return fn(l2_rows, l2_key or key) if l2_rows else "not run"
            return fn(routed_rows(results, scenario, col), key)
        return f

    def count(scenario: str, key: str, l2_rows=None, l2_key=None):
        return per_column(count_cell, scenario, key, l2_rows, l2_key)

    def runs_of(scenario: str, key: str, l2_rows=None, l2_key=None):
        return per_column(runs_with, scenario, key, l2_rows, l2_key)

    add("## Figure 11: routed mode (the VIP as a /32 over BGP), beside layer 2")
    add("")
    add("bench/routed_mode.py on tests/harness/routed.py's topology: a router namespace running BIRD 2 "
        "with an eBGP session to each of three nodes, and a client behind it. Each node runs redis-server "
        "with the module in the Sentinel-confirmed mode (`address 198.51.100.10/32 interface lo announce no "
        "sentinels ... master-name mymaster`, address lifetime 1 s), a Sentinel (down-after "
        f"{DOWN_AFTER_MS}, quorum 2) and BIRD (`protocol direct` on lo) or FRR (`redistribute connected` "
        "through a route-map) exporting the VIP alone. The router merges equal routes (ECMP, `merge paths "
        "yes`) only so that two nodes announcing at once would show as two next hops. Its kernel table is "
        "read over netlink every 5 ms and at every route notification; its RIB comes from its BIRD log "
        "(ms). Promotion = the new master's \"MASTER MODE enabled\" line (ms; Redis prints it just after the "
        "role event at which the module claims, so a route a fraction of a millisecond *before* it means "
        "at the promotion); leader's choice = `+failover-state-send-slaveof-noone`. Two clients write through the VIP: bench/writer.py (plain "
        "sockets, a SET every 5 ms, as in figure 2: the client outage and every failed attempt with its "
        "reason) and the tests' redis-py writer (one connection at a time, a SET every 5 ms, each write "
        "attributed to the node that acknowledged it: errors, lost and late writes). The last column repeats "
        "this run's layer-2 figures of the Sentinel-confirmed mode where one corresponds. Values: median "
        "[min–max] in ms over the repetitions; counts per run, with totals.")
    add("")
    add("### Planned `SENTINEL FAILOVER`")
    add("")
    tab([
        ("runs", runs("planned", l2_planned)),
        ("leader's choice (after the command)", rc("planned", "choice_ms", l2=l2c(l2_planned, "choice_ms"))),
        ("old master's route withdrawn at the router − leader's choice (layer 2: its release)",
         rc("planned", "withdrawn_minus_choice_ms", l2=l2c(l2_planned, "release_minus_choice_ms"))),
        ("same, in the router's RIB", rc("planned", "rib_withdrawn_minus_choice_ms")),
        ("promotion − leader's choice",
         rc("planned", "promotion_minus_choice_ms", l2=l2c(l2_planned, _diff("promotion_ms", "choice_ms")))),
        ("**promotion → new route at the router** (layer 2: → first GARP)",
         rc("planned", "route_minus_promotion_ms", 1, l2=l2c(l2_planned, _diff("first_garp_ms", "promotion_ms"), 1))),
        ("same, in the router's RIB", rc("planned", "rib_route_minus_promotion_ms")),
        ("**ms with no route**: old route withdrawn → new route (layer 2: ms with no holder)",
         rc("planned", "no_route_ms", l2=l2c(l2_planned, none_))),
        ("ms with no route in the whole run (a second failover adds its gap)", rc("planned", "no_route_total_ms")),
        ("**ms with two next hops** (layer 2: two holders)",
         rc("planned", "two_next_hops_ms", l2=l2c(l2_planned, two))),
        ("route dumps with two next hops; ms with two routes in the RIB",
         lambda col: "n/a" if col == "l2" else
         f"{count_cell(routed_rows(results, 'planned', col), 'two_next_hop_dumps')}; "
         f"{cell(stat(routed_rows(results, 'planned', col), 'rib_two_routes_ms'), 0)}"),
        ("largest interval between route dumps (the resolution)", rc("planned", "route_dump_max_gap_ms", 1)),
        ("**client errors** (redis-py writer: failed SETs and connects)",
         count("planned", "client_errors", l2_planned, "write_errors")),
        ("writer.py: failed attempts (one every 5 ms while failing)", count("planned", "writer_errors")),
        ("writer.py: their reasons, all runs",
         lambda col: "n/a" if col == "l2" else reason_totals(routed_rows(results, "planned", col))),
        ("router: packets for the VIP without a route; answered with ICMP unreachable",
         lambda col: "n/a" if col == "l2" else icmp_cell(routed_rows(results, "planned", col))),
        ("client outage: longest gap between acknowledged writes (writer.py)", rc("planned", "outage_ms")),
        ("the same, redis-py writer (layer 2: its writer at 10 ms)",
         rc("planned", "client_gap_ms", l2=l2c(l2_planned, "client_gap_ms"))),
        ("**writes lost** (acknowledged, missing from the settled master)",
         count("planned", "writes_lost", l2_planned)),
        ("writes acknowledged by the old master after the promotion",
         count("planned", "acked_by_old_after_promotion", l2_planned)),
        ("runs with a second promotion", runs_of("planned", "second_failover", l2_planned)),
        ("converged", runs_of("planned", "converged", l2_planned)),
    ])
    add("")
    add("### `kill -9` of the master's redis-server")
    add("")
    add("Its Sentinel and routing daemon stay up. Times after the kill. The target for the route "
        "to move is the address lifetime + 200 ms.")
    add("")
    tab([
        ("runs", runs("kill9", l2_kill)),
        ("address lifetime + 200 ms (the bound)", rc("kill9", "bound_ms")),
        ("VIP deleted on the killed node (kernel expiry; samples every 10 ms)", rc("kill9", "address_deleted_ms")),
        ("**old route withdrawn at the router**", rc("kill9", "withdrawn_ms")),
        ("same, in the router's RIB", rc("kill9", "rib_withdrawn_ms")),
        ("withdrawal − address deleted (the daemon's reaction; ±10 ms)", rc("kill9", "withdrawn_minus_deleted_ms")),
        ("Sentinel's promotion (layer 2: SLAVEOF NO ONE on the wire)",
         rc("kill9", "promotion_ms", l2=l2c(l2_kill, "sentinel_promotion_ms"))),
        ("**route moved to the new master** (layer 2: its first GARP)",
         rc("kill9", "route_ms", l2=l2c(l2_kill, "first_garp_ms_after_kill"))),
        ("promotion → new route (layer 2: → first GARP)",
         rc("kill9", "route_minus_promotion_ms", 1, l2=l2c(l2_kill, "promotion_to_garp_ms", 1))),
        ("same, in the router's RIB (kill →)", rc("kill9", "rib_route_ms")),
        ("runs: route withdrawn before the promotion", runs_of("kill9", "withdrawn_before_promotion")),
        ("ms with no route: withdrawn → moved", rc("kill9", "no_route_ms")),
        ("ms with two next hops", rc("kill9", "two_next_hops_ms")),
        ("**client outage** (writer.py, as figure 2)", rc("kill9", "outage_ms", l2=l2c(l2_kill, "outage_ms"))),
        ("outage − Sentinel's promotion",
         rc("kill9", "outage_minus_promotion_ms", l2=l2c(l2_kill, "outage_minus_promotion_ms"))),
        ("writer.py: reasons of the failed attempts, all runs",
         lambda col: "n/a" if col == "l2" else reason_totals(routed_rows(results, "kill9", col))),
        ("router: packets for the VIP without a route; answered with ICMP unreachable",
         lambda col: "n/a" if col == "l2" else icmp_cell(routed_rows(results, "kill9", col))),
        ("acknowledged writes lost (asynchronous replication at the kill included)", count("kill9", "writes_lost")),
        ("runs with a second promotion", runs_of("kill9", "second_failover", l2_kill)),
        ("converged", runs_of("kill9", "converged")),
    ])
    add("")
    add("What these figures say:")
    add("")
    for line in routed_reading(results, sps):
        add(f"- {line}")
    add("")


def reason_kinds(rows: list[dict]) -> dict[str, int]:
    """writer.py's failed attempts summed over the runs, by kind: 'broken' (a SET on an open
    connection failed: timeout, reset, closed), 'refused' (connect refused: a node had the
    address but no Redis), 'unreachable' (connect rejected with ICMP unreachable by the router),
    'other'."""
    out = {"broken": 0, "refused": 0, "unreachable": 0, "other": 0}
    for r in rows:
        for why, n in (r.get("writer_error_reasons") or {}).items():
            if why.startswith("connect:"):
                k = ("refused" if "ECONNREFUSED" in why else
                     "unreachable" if ("UNREACH" in why) else "other")
            else:
                k = "broken"
            out[k] += n
    return out


def icmp_text(rows: list[dict]) -> str:
    t = icmp_totals(rows)
    if t is None or not t[0]:
        return ""
    if t[1] >= t[0]:
        return (f" The router received {t[0]} packets for the VIP while it had no route (all these runs) and "
                "answered every one with ICMP unreachable.")
    return (f" The router received {t[0]} packets for the VIP while it had no route (all these runs) and answered "
            f"{t[1]} of them with ICMP unreachable: Linux rate-limits these answers per source "
            "(net.ipv4.route.error_cost and error_burst, then net.ipv4.icmp_ratelimit), so only the first few "
            "of a burst are answered; both clients share one address. The rest were dropped silently: a connect "
            "whose SYN was dropped waits for the route (writer.py starts a new connect every 5 ms; a client with "
            "a single connect retransmits its SYN after 1 s).")


def routed_reading(results: dict, sps: list[str]) -> list[str]:
    """The explanation under figure 11, with this run's numbers."""
    out = []
    gaps, errs, outages, gaps_py = [], [], [], []
    lost = 0.0
    two_max = 0.0
    planned: list[dict] = []
    for sp in sps:
        pl = routed_rows(results, "planned", sp)
        if not pl:
            continue
        planned += pl
        gaps.append(f"{cell(stat(pl, 'no_route_ms'), 0)} ms with {sp.upper()}")
        errs.append(f"{cell(stat(pl, 'client_errors'), 0)} per switch with {sp.upper()}")
        outages.append(f"{cell(stat(pl, 'outage_ms'), 0)} ms with {sp.upper()}")
        gaps_py.append(f"{cell(stat(pl, 'client_gap_ms'), 0)} ms")
        lost += sum(stat(pl, "writes_lost")["values"])
        two_max = max([two_max] + stat(pl, "two_next_hops_ms")["values"])
    if planned:
        k = reason_kinds(planned)
        out.append("**A planned switch leaves the VIP unrouted for a moment, by design.** The old master "
                   "releases, and its daemon withdraws the route, when the Sentinel leader chooses the replica. "
                   "The new master claims, and its daemon announces, at its promotion, which the leader sends "
                   f"about one Sentinel timer tick later ({cell(stat(planned, 'promotion_minus_choice_ms'), 0)} ms "
                   "here). So the router has no route for the VIP for " + "; ".join(gaps) + f". That order is what keeps two nodes from announcing at once: the "
                   f"longest time with two next hops in any planned run was {two_max:.0f} ms, and "
                   f"{lost:.0f} acknowledged writes were lost in all planned runs.")
        l2 = scen(results, "planned", L2)
        l2_errs = (f" Errors per switch of figure 7's writer in layer 2: {count_cell(l2, 'write_errors')}."
                   if l2 else "")
        out.append("**The target of 0 client errors is missed.** Client errors: " + "; ".join(errs) +
                   f". Of writer.py's failed attempts in the {len(planned)} planned runs, {k['broken']} were a SET on the "
                   f"connection open to the old master (timed out or reset), {k['unreachable']} were new "
                   f"connections the router rejected with ICMP unreachable, {k['refused'] + k['other']} other. The "
                   "first kind comes from the VIP moving, not from the gap: packets of a connection to the old "
                   "master go nowhere while there is no route, then to the new master, which knows nothing of "
                   "that connection and resets it. In layer 2 the same happens once the client follows the new "
                   "master's GARP." + l2_errs + " So a client holding a connection sees an error at a switch "
                   "whatever the router does with the gap. A router that drops packets for the VIP "
                   "instead of rejecting them would turn only the second kind into waits: a connection opened during "
                   "the gap would then succeed, but only when its SYN is retransmitted, 1 s later."
                   + icmp_text(planned))
        out.append("The client's outage is set by its own timers, not by the route's gap: writer.py "
                   "(200 ms reply timeout) " + "; ".join(outages) + "; the redis-py writer, whose write waits for "
                   "TCP's retransmission (at least 200 ms) before the new master resets it, "
                   + ", ".join(gaps_py) + ".")
    frr = routed_rows(results, "planned", "frr")
    if frr and med(stat(frr, "route_minus_promotion_ms")) is not None:
        met = {sp: (med(stat(routed_rows(results, "planned", sp), "route_minus_promotion_ms")) or 1e9) <= TARGET_ROUTED_MS
               for sp in sps if routed_rows(results, "planned", sp)}
        verdict = ", ".join(f"{'met' if ok else 'missed'} with {sp.upper()}" for sp, ok in met.items())
        out.append(f"FRR adds about {med(stat(frr, 'route_minus_promotion_ms')):.0f} ms to the announcement "
                   "(and as much to the withdrawal): zebra and bgpd batch route processing in work queues "
                   "that wait 10 ms and 50 ms before they run, bgpd's fixed in FRR 8.4 (docs/routed.md). "
                   f"The {TARGET_ROUTED_MS} ms target (median): "
                   f"{verdict}.")
    kill = {sp: routed_rows(results, "kill9", sp) for sp in sps if routed_rows(results, "kill9", sp)}
    if kill:
        every = [r for rows in kill.values() for r in rows]
        k = reason_kinds(every)

        def per(key: str, nd: int = 0) -> str:
            return "; ".join(f"{cell(stat(rows, key), nd)} ms with {sp.upper()}" for sp, rows in kill.items())

        out.append(f"**kill -9.** After the kill, the kernel deleted the dead node's VIP at {per('address_deleted_ms')} "
                   "(its 1 s lifetime, refreshed every 250 ms, plus the kernel's expiry slack). The router's route "
                   f"was withdrawn at {per('withdrawn_ms')}, and moved to the new master at {per('route_ms')}; "
                   f"relative to Sentinel's promotion: {per('route_minus_promotion_ms', 1)}. The route cannot move before the promotion, which comes at down-after "
                   f"({DOWN_AFTER_MS} ms) plus the election; by design the dead node's route is gone first. Within "
                   f"the lifetime + {TARGET_KILL_SLACK_MS} ms bound: the withdrawal in "
                   + ", ".join(f"{runs_with(rows, 'withdrawn_within_bound')} runs with {sp.upper()}"
                               for sp, rows in kill.items())
                   + "; the move in "
                   + ", ".join(f"{runs_with(rows, 'route_within_bound')} with {sp.upper()}" for sp, rows in kill.items())
                   + f". writer.py's failed connects in all kill -9 runs: {k['refused']} refused by the dead node's "
                   f"kernel while it still had the address, {k['unreachable']} rejected by the router with ICMP "
                   "unreachable once the route was gone." + icmp_text(every))
    return out


def _count_target(rows: list[dict], key: str, what: str) -> str:
    tot = sum(stat(rows, key)["values"])
    if not rows:
        return "not measured"
    if tot == 0:
        return f"within the target (0 {what} in {len(rows)} runs)"
    return f"**misses the target**: {tot:.0f} {what} in {len(rows)} runs ({cell(stat(rows, key), 0)} per run)"


def routed_targets(results: dict) -> list[str]:
    out = []
    for sp in routed_speakers(results):
        pl = routed_rows(results, "planned", sp)
        k = routed_rows(results, "kill9", sp)
        name = sp.upper()
        if pl:
            rp = stat(pl, "route_minus_promotion_ms")
            within = sum(1 for v in rp["values"] if v <= TARGET_ROUTED_MS)
            add_two = stat(pl, "two_next_hops_ms")
            two_max = max(add_two["values"]) if add_two["values"] else None
            out.append(
                f"- **{name}, planned switch: the route moves within {TARGET_ROUTED_MS} ms of the promotion**: "
                f"{cell(rp, 1)} ms: median {_vs(med(rp), TARGET_ROUTED_MS, nd=1)}; {within} of {rp['n']} runs "
                f"within it. **0 ms of two next hops**: {cell(add_two, 0)} ms: "
                + ("not measured" if two_max is None else
                   "within the target (0 ms in every run)" if two_max == 0 else
                   f"**misses the target**: up to {two_max:.0f} ms")
                + f" ({count_cell(pl, 'two_next_hop_dumps')} route dumps with two next hops). **0 client errors**: "
                + _count_target(pl, "client_errors", "errors")
                + f"; the VIP had no route for {cell(stat(pl, 'no_route_ms'), 0)} ms (see figure 11).")
        if k:
            b = stat(k, "bound_ms")
            bound = med(b)
            rm, wd = stat(k, "route_ms"), stat(k, "withdrawn_ms")
            out.append(
                f"- **{name}, kill -9: the route moves within the address lifetime + {TARGET_KILL_SLACK_MS} ms** "
                f"({num(bound, 0)} ms): route moved {cell(rm, 0)} ms after the kill: median "
                + (_vs(med(rm), bound) if bound is not None else "not measured")
                + f"; {runs_with(k, 'route_within_bound')} runs within it. It moves at Sentinel's promotion "
                f"({cell(stat(k, 'promotion_ms'), 0)} ms), never before. The old route's withdrawal, which the "
                f"lifetime bounds: {cell(wd, 0)} ms: median "
                + (_vs(med(wd), bound) if bound is not None else "not measured")
                + f"; {runs_with(k, 'withdrawn_within_bound')} runs within it.")
    return out
