"""At a glance, the targets with the measured number beside each, and notes drawn from the run."""

from __future__ import annotations

from bench.mechanisms import LABELS

from .cells import (FAST_POLL_MS, POLL_MS, _status, _vs, cell, count_cell, med, none_, num, ok_rows, runs_with, scen,
                    stat, two)
from .routed import routed_rows, routed_speakers

# ----------------------------------------------------------------------------------------------
# at a glance and targets


def at_a_glance(results: dict, fs: dict, mechs: list[str]) -> list[str]:
    """A few sentences computed from the medians (nothing here is typed in by hand)."""
    out = []

    def m_(rows, get):
        return med(stat(rows, get))

    for m in mechs:
        parts = []
        f = fs.get(m)
        if f and med(f["outage"]) is not None:
            parts.append(f"kill -9: outage {med(f['outage']):.0f} ms, {med(f['excess']):.0f} ms beyond "
                         f"Sentinel's own promotion" + (f", first GARP {med(f['promo_garp']):.1f} ms after the "
                                                        f"promotion" if med(f["promo_garp"]) is not None else ""))
        st = scen(results, "stale-restart", m)
        if st:
            parts.append(f"stale restart: two holders {m_(st, two):.0f} ms, "
                         f"{sum(stat(st, 'acked_by_old_after_promotion')['values']):.0f} writes acknowledged by the "
                         f"stale master")
        iso = scen(results, "isolation", m)
        if iso:
            rel = m_(iso, "release_ms")
            parts.append("isolation: " + (f"released {rel:.0f} ms after link down" if rel is not None
                                           else "kept the VIP while cut off")
                         + f", two holders {m_(iso, two):.0f} ms, "
                         f"{sum(stat(iso, 'acked_by_old_after_promotion')['values']):.0f} late writes")
        pl = scen(results, "planned", m)
        if pl:
            pause = ""
            if m == "vip-sentinel" and m_(pl, "client_gap_ms") is not None:
                script = m_(scen(results, "planned", "sentinel-script"), "client_gap_ms")
                pause = (f", clients paused {m_(pl, 'client_gap_ms'):.0f} ms"
                         + (f" (Sentinel script: {script:.0f} ms)" if script is not None else ""))
            parts.append(f"planned failover: {sum(stat(pl, 'acked_by_old_after_promotion')['values']):.0f} writes "
                         f"acknowledged by the old master after the promotion in {len(pl)} runs, two holders "
                         f"{m_(pl, two):.0f} ms" + pause)
        bu = scen(results, "busy", m)
        if bu:
            parts.append(f"busy master: two holders {m_(bu, two):.0f} ms, "
                         f"{sum(stat(bu, 'reclaims_after_release')['values']):.0f} re-claims")
        sx = scen(results, "sentinels-stopped", m)
        if sx:
            parts.append(f"two Sentinels stopped 10 s: VIP outage {m_(sx, none_):.0f} ms")
        su = ok_rows((results.get("startup") or {}).get(m, []))
        if su and m_(su, "vip_ms") is not None:
            parts.append(f"start-up {m_(su, 'vip_ms'):.0f} ms")
        if parts:
            out.append(f"- **{LABELS[m]}**: " + "; ".join(parts) + ".")
    routed = []
    for sp in routed_speakers(results):
        pl, k = routed_rows(results, "planned", sp), routed_rows(results, "kill9", sp)
        parts = []
        if pl and m_(pl, "route_minus_promotion_ms") is not None:
            parts.append(f"planned failover: route {m_(pl, 'route_minus_promotion_ms'):.1f} ms after the promotion, "
                         f"no route for {m_(pl, 'no_route_ms'):.0f} ms, two next hops "
                         f"{m_(pl, 'two_next_hops_ms'):.0f} ms, {sum(stat(pl, 'client_errors')['values']):.0f} client "
                         f"errors and {sum(stat(pl, 'writes_lost')['values']):.0f} lost writes in {len(pl)} runs")
        if k and m_(k, "route_ms") is not None:
            parts.append(f"kill -9: route withdrawn {m_(k, 'withdrawn_ms'):.0f} ms and moved {m_(k, 'route_ms'):.0f} ms "
                         f"after the kill, outage {m_(k, 'outage_ms'):.0f} ms")
        if parts:
            routed.append(f"- **redis-vip sentinel, routed over BGP with {sp.upper()} on the nodes**: "
                          + "; ".join(parts) + ".")
    out += routed
    if out:
        out.append("")
        out.append("Medians over the repetitions; counts are totals over the repetitions.")
    return out


def targets(results: dict, fs: dict) -> list[str]:
    m = "vip-sentinel"
    out = []
    add = out.append
    f = fs.get(m)
    if f and f["runs"]:
        pg, rtt = f["promo_garp"], f["rtt"]
        bound = 1.0 + (med(rtt) or 0.0)
        add(f"1. **kill -9, promoted node's role event → first GARP on the wire ≤ 1 ms + one Sentinel round "
            f"trip**: {cell(pg, 2)} ms (SLAVEOF NO ONE reaching the node → GARP in the client namespace); one "
            f"round trip measured {cell(rtt, 2)} ms, so the bound is {bound:.2f} ms: median "
            f"{_vs(med(pg), round(bound, 2), nd=2)}; {sum(1 for v in pg['values'] if v <= bound)} of "
            f"{pg['n']} runs within it. The module's own role event → GARP sent: {cell(f['claim_ms'], 2)} ms.")
        peers = [f"{LABELS[p]} {med(fs[p]['outage']):.0f} ms (×{med(fs[p]['outage']) / med(f['outage']):.2f})"
                 for p in fs if p != m and med(fs[p]["outage"]) and med(f["outage"])]
        add(f"   **Client outage ≤ Sentinel's own promotion + 20 ms**: outage − promotion {cell(f['excess'], 0)} ms: "
            f"median {_vs(med(f['excess']), 20)}; outage {cell(f['outage'], 0)} ms"
            + (f"; the others' outages (× this mode's): {', '.join(peers)}" if peers else "") + ".")
    st = scen(results, "stale-restart", m)
    if st:
        held = sum(1 for r in st if r.get("stale_held"))
        add(f"2. **Stale restart: 0 ms with two holders, 0 writes acknowledged by the stale master**: "
            f"{cell(stat(st, two), 0)} ms with two holders, {count_cell(st, 'acked_by_old_after_promotion')} "
            f"writes; the restarted master had the VIP in {held} of {len(st)} runs.")
    iso = scen(results, "isolation", m)
    if iso:
        rel = stat(iso, "release_ms")
        add(f"3. **Isolation: release ≤ 700 ms after link down**: {cell(rel, 0)} ms: median {_vs(med(rel), 700)}; "
            f"max {num(rel.get('max'), 0)} ms. **After link-up 0 ms with two holders and 0 late writes**: "
            f"{cell(stat(iso, lambda r: two(r, 'after_restart')), 0)} ms with two holders after link-up "
            f"({cell(stat(iso, two), 0)} ms in all), {count_cell(iso, 'acked_by_old_after_promotion')} writes "
            f"acknowledged by the old master after the promotion.")
    pl = scen(results, "planned", m)
    if pl:
        rc, rg = stat(pl, "release_minus_choice_ms"), stat(pl, "release_minus_garp_ms")
        gap, script = stat(pl, "client_gap_ms"), stat(scen(results, "planned", "sentinel-script"), "client_gap_ms")
        price = ""
        if med(gap) is not None:
            price = (f" Their price, the client's longest gap between acknowledged writes: {cell(gap, 0)} ms"
                     + (f", against {cell(script, 0)} ms for the Sentinel script" if med(script) is not None else "")
                     + " (figure 7).")
        add(f"4. **Planned failover: release within one poll period of the leader's choice**: release − choice "
            f"{cell(rc, 0)} ms: median {_vs(med(rc), POLL_MS)} (poll period {POLL_MS} ms; {FAST_POLL_MS} ms while "
            f"a failover is under way: {_vs(med(rc), FAST_POLL_MS)}). **No later than 100 ms after the new "
            f"master's first GARP**: release − first GARP {cell(rg, 0)} ms: median {_vs(med(rg), 100)}. **Writes "
            f"acknowledged by the old master after the promotion (target 0)**: "
            f"{count_cell(pl, 'acked_by_old_after_promotion')} over {len(pl)} runs." + price)
    bu = scen(results, "busy", m)
    if bu:
        add(f"5. **Busy master: releases once a Sentinel reports a failover promoting another node, never "
            f"re-claims after waking**: released before the promotion in "
            f"{runs_with(bu, 'released_before_promotion')} runs (release − promotion "
            f"{cell(stat(bu, 'release_minus_promotion_ms'), 0)} ms), re-claims "
            f"{count_cell(bu, 'reclaims_after_release')}, two holders {cell(stat(bu, two), 0)} ms.")
    sx = scen(results, "sentinels-stopped", m)
    if sx:
        peers = [p for p in results.get("scenarios", {}).get("sentinels-stopped", {}) if p != m]
        add(f"6. **Two of three Sentinels stopped for 10 s** (the price of safety): VIP outage "
            f"{cell(stat(sx, none_), 0)} ms, release {cell(stat(sx, 'release_ms'), 0)} ms after the stop, "
            f"re-claim {cell(stat(sx, 'reclaim_ms_after_resume'), 0)} ms after SIGCONT (one poll period is "
            f"{POLL_MS} ms: {_vs(med(stat(sx, 'reclaim_ms_after_resume')), POLL_MS)}); "
            + ", ".join(f"{LABELS[p]} {cell(stat(scen(results, 'sentinels-stopped', p), none_), 0)} ms"
                        for p in peers) + ".")
    su = ok_rows((results.get("startup") or {}).get(m, []))
    if su:
        s = stat(su, "vip_ms")
        add(f"- **Start-up: claims within 300 ms when the Sentinels confirm**: MODULE LOAD → first GARP {cell(s, 1)} "
            f"ms: median {_vs(med(s), 300, nd=1)}; max {num(s.get('max'), 1)} ms.")
    cg = results.get("callgrind") or {}
    rows = {(r["cfg"], r.get("pipeline", 16)): r for r in cg.get("rows", [])}
    if ("none", 16) in rows:
        parts = []
        for cfg in ("sentinel", "basic"):
            for p in (16, 1):
                a, b = rows.get((cfg, p)), rows.get(("none", p))
                if a and b:
                    parts.append(f"{cfg} mode, pipeline {p}: {a['module_main_ir']:.2f} instructions per request in the "
                                 f"module's code on the main thread, {a['filters_ir'] - b['filters_ir']:.1f} more in "
                                 f"Redis' command-filter dispatch (whole main thread "
                                 f"×{a['ir_per_request'] / b['ir_per_request']:.4f}, which includes time-proportional "
                                 "work)")
        if parts:
            add("10. **Cost per command: 0 instructions added in the Sentinel-confirmed mode**: " + "; ".join(parts) + ".")
    return out


def run_notes(notes: list[str], label: str, rows: list[dict], unconverged: str) -> None:
    """A note for rows that did not all run, and one for runs that did not converge."""
    st = _status(rows)
    if st:
        notes.append(f"{label}: {st}")
    ok = ok_rows(rows)
    bad = sum(1 for r in ok if not r.get("converged"))
    if bad:
        notes.append(f"{label}: {bad} of {len(ok)} runs {unconverged}")


def auto_notes(results: dict, fs: dict, mechs: list[str]) -> list[str]:
    notes = []
    for m, d in fs.items():
        if d.get("status"):
            notes.append(f"{LABELS[m]}, figures 1–2: {d['status']}")
        r = d.get("rate", {})
        if r.get("min") is not None and r["min"] < 100:
            notes.append(f"{LABELS[m]}: the writer reached only {r['min']:.0f} writes/s in some run "
                         "(target 100–200/s): the machine was busy.")
    for name, per in (results.get("scenarios") or {}).items():
        for m, rows in per.items():
            run_notes(notes, f"{LABELS[m]}, {name}", rows, "did not converge within the wait (old master not a "
                      "replica, Sentinels not settled, or the VIP not on the settled master alone for 3 s).")
    for m, rows in (results.get("startup") or {}).items():
        st = _status(rows)
        if st:
            notes.append(f"{LABELS[m]}, start-up: {st}")
    for scenario, per in (results.get("routed") or {}).items():
        for sp, rows in per.items():
            run_notes(notes, f"Figure 11, routed {scenario} with {sp.upper()}", rows,
                      "did not converge (no settled master, or the router never routed to it).")
            ok = ok_rows(rows)
            for r in ok:
                for c in r.get("crashes") or []:
                    notes.append(f"Figure 11, routed {scenario} with {sp.upper()}: a crash: `{c.splitlines()[0]}`")
                if r.get("route_watch_errors"):
                    notes.append(f"Figure 11, routed {scenario} with {sp.upper()}: route watcher errors "
                                 f"{r['route_watch_errors']}")
    thr = results.get("throughput") or {}
    st = (thr.get("module_status") or {}).get("sentinel") or {}
    if st.get("state") and st.get("state") != "holding":
        notes.append(f"Figure 4, Sentinel-mode server state: {st.get('state')} ({st.get('reason')}): it was not "
                     "confirmed during the runs.")
    return notes
