"""Figure 14: the failover figures (kill -9: 1-2; isolation: 3; planned failover: 7; two of
three Sentinels stopped: 9) at other Sentinel down-after settings, one table per figure with a
row group per setting.

A run with `--down-after 5000,30000` keeps those settings' results in
results["down_after"][<ms>] = {"failover": {mech: [rows]}, "scenarios": {name: {mech: [rows]}}};
down-after 1000, when the same results hold it, is the top level's "failover" and "scenarios".
"""

from __future__ import annotations

from bench.mechanisms import DOWN_AFTER_MS, LABELS

from .cells import _status, cell, count_cell, failover_stats, med, none_, ok_rows, runs_cell, runs_with, stat, two
from .nothing_failed import ms_setting, plural

KEEPALIVED_FAST = ("keepalived 0.1 s: `bench/peers/keepalived-fast.conf.in`, as keepalived's configuration but "
                   "VRRPv3 (`vrrp_version 3`, no authentication) with `advert_int 0.1`, so a backup takes over "
                   "about 0.35 s (3 × 0.1 s + skew) after the last advertisement it heard; the role check "
                   "script still runs every second (`interval 1`): keepalived 2.2.7 refuses a shorter script "
                   "interval.")


def settings_text(das) -> str:
    """1000, 5000 and 30 000."""
    das = [ms_setting(d) for d in das]
    return das[0] if len(das) == 1 else ", ".join(das[:-1]) + " and " + das[-1]


def _absent(da: str, figure: str) -> str:
    """The cell of a mechanism these results lack at a setting."""
    return f"see {figure}" if int(da) == DOWN_AFTER_MS else "not measured"


def _blocks(results: dict) -> dict[str, dict]:
    """{down-after (str): {"failover": ..., "scenarios": ...}} in increasing order, 1000 from the
    top level when these results have figures 1-2, 3 or 7 there."""
    out: dict[str, dict] = {}
    top = {k: results[k] for k in ("failover", "scenarios") if results.get(k)}
    if top:
        out[str(DOWN_AFTER_MS)] = top
    for da, block in (results.get("down_after") or {}).items():
        out[str(da)] = block
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def _per_setting(blocks: dict, ms: list[str], get) -> str:
    """'label a / b / c' per mechanism, one value per setting that has any (— where absent)."""
    parts = []
    for m in ms:
        vals = [get(b, m) for b in blocks.values()]
        if all(v is None for v in vals):
            continue
        parts.append(f"{LABELS[m]} " + " / ".join("—" if v is None else f"{v:.0f}" for v in vals))
    return "; ".join(parts)


def _total(rows: list[dict], key: str):
    vals = [r.get(key) for r in rows if r.get(key) is not None]
    return sum(vals) if vals else None


def down_after_settings(results: dict) -> list[str]:
    return [da for da in _blocks(results) if int(da) != DOWN_AFTER_MS]


def _scen_raw(block: dict, name: str, m: str) -> list[dict]:
    return ((block.get("scenarios") or {}).get(name) or {}).get(m, [])


def _mechs(blocks: dict, mechs: list[str], what) -> list[str]:
    return [m for m in mechs if any(what(b, m) for b in blocks.values())]


def _figures(args: dict) -> list[int]:
    try:
        return [int(x) for x in str(args.get("figures", "")).split(",") if x.strip()]
    except ValueError:
        return []


def _provenance(results: dict) -> list[str]:
    out = []
    for meta in results.get("meta_runs") or [results.get("meta", {})]:
        mc = meta.get("machine", {})
        args = meta.get("args", {})
        das = args.get("down_after_list") or [DOWN_AFTER_MS]
        out.append(
            f"`{meta.get('command', 'python3 -m bench.run')}` on {meta.get('started', '?')} "
            f"({meta.get('duration_s', 0) / 60:.0f} min; down-after {settings_text(das)}; "
            f"{', '.join(LABELS.get(m, m) for m in args.get('mech_list') or [])}; "
            + " and ".join(x for x in (
                plural(args.get("reps", 0), "kill -9 repetition") if {1, 2} & set(args.get("figure_set") or
                                                                              _figures(args)) else "",
                plural(args.get("scenario_reps", 0), "repetition") + " of "
                + (", ".join(args.get("scenario_list") or []) or "the other scenarios")
                if {3, 7} & set(_figures(args)) else "",
                plural(args.get("stop_reps", 0), "repetition") + " of the Sentinels' stop"
                if 9 in _figures(args) else "") if x)
            + " per cell), repository at "
            f"{mc.get('git_commit', '?')}" + (" (src/ had uncommitted changes)" if mc.get("git_dirty_src") else "")
            + f", module sha256 {mc.get('module_sha256', '?')}…, {mc.get('keepalived', '?')}, "
            f"{mc.get('cpus', '?')} CPUs, load average {meta.get('load_at_start', '?')} at the start and "
            f"{meta.get('load_at_end', '?')} at the end")
    return out


def down_after_section(L: list[str], results: dict, mechs: list[str], provenance: bool = False) -> None:
    blocks = _blocks(results)
    if not down_after_settings(results) and not any(m == "keepalived-fast" for b in blocks.values()
                                                    for m in (b.get("failover") or {})):
        return
    add = L.append
    settings = settings_text(list(blocks))
    add("## Figure 14: failover at other down-after settings, and keepalived with sub-second timers")
    add("")
    if provenance:
        runs = _provenance(results)
        add("Measured apart from the other figures, by " + "; and by ".join(runs) + ". 3 nodes, 3 Sentinels "
            "(quorum 2). The machine has 2 cores and another benchmark ran on it at the same time: read the "
            "[min–max] ranges before the medians.")
        add("")
    add(f"Figures 1-2 (kill -9 of the master), 7 (planned `SENTINEL FAILOVER`) and, where measured, 3 "
        f"(isolation) and 9 (two of three Sentinels stopped) again at Sentinel down-after {settings}, "
        "measured as in those figures, with every mechanism side by side; one table per figure, a row group "
        "per setting. Sentinel's default is 30 000 and many deployments use 5 000-10 000. An isolation "
        "shorter than down-after fails nothing over: above 1000 the link stays down for down-after + 8 s; "
        "the Sentinels' stop stays 10 s at every setting. " + KEEPALIVED_FAST + " Values: median "
        "[min–max] in ms over the repetitions; counts per run.")
    add("")

    def header(ms: list[str]) -> None:
        add("| | " + " | ".join(LABELS[m] for m in ms) + " |")
        add("|---|" + "---|" * len(ms))

    def group(da: str, ms: list[str]) -> None:
        add(f"| **down-after {ms_setting(da)}** |" + " |" * len(ms))

    def row(label: str, ms: list[str], fn) -> None:
        add(f"| {label} | " + " | ".join(fn(m) for m in ms) + " |")

    # kill -9 (figures 1-2)
    ms = _mechs(blocks, mechs, lambda b, m: m in (b.get("failover") or {}))
    if ms:
        add("### kill -9 of the master (figures 1-2)")
        add("")
        header(ms)
        for da, b in blocks.items():
            if not b.get("failover"):
                continue
            fs = failover_stats({"failover": b["failover"]})
            na = {"runs": _absent(da, "figures 1-2")}

            def c(key: str, nd: int = 0):
                return lambda m: cell(fs[m][key], nd) if m in fs else na.get(key, "—")

            group(da, ms)
            row("runs", ms, lambda m: runs_cell(fs[m]["runs"], fs[m]["status"]) if m in fs else na["runs"])
            row("**2 client outage through the VIP**", ms, c("outage"))
            row("Sentinel's promotion (kill → SLAVEOF NO ONE)", ms, c("promotion"))
            row("outage − Sentinel's promotion", ms, c("excess"))
            row("1 promotion → first GARP in the client ns", ms, c("promo_garp", 2))
            row("longest gap between writes after the client was back", ms, c("later_gap"))
            row("runs in which Sentinel promoted a second time", ms,
                lambda m: f"{fs[m]['second']} of {fs[m]['runs']}" if m in fs else "—")
        add("")

        per = _per_setting({da: b for da, b in blocks.items() if b.get("failover")}, ms,
                           lambda b, m: med(failover_stats({"failover": b.get("failover") or {}})
                                                        .get(m, {}).get("excess")))
        if per:
            add("The outage beyond Sentinel's own promotion (median ms, down-after " + settings_text(
                [da for da in blocks if blocks[da].get("failover")]) + "): " + per + ". Sentinel's promotion "
                "comes down-after plus its election after the kill, the same for every mechanism; the rows "
                "\"outage − Sentinel's promotion\" and \"promotion → first GARP\" are what a mechanism adds.")
            add("")

    # planned failover (figure 7)
    ms = _mechs(blocks, mechs, lambda b, m: bool(_scen_raw(b, "planned", m)))
    if ms:
        add("### Planned failover, `SENTINEL FAILOVER` (figure 7)")
        add("")
        header(ms)
        for da, b in blocks.items():
            if not any(_scen_raw(b, "planned", m) for m in ms):
                continue

            def rows_(m: str, b=b) -> list[dict]:
                return ok_rows(_scen_raw(b, "planned", m))

            def s(key: str, b=b):
                return lambda m: cell(stat(rows_(m), key), 0) if _scen_raw(b, "planned", m) else "—"

            group(da, ms)
            row("runs", ms, lambda m: runs_cell(len(rows_(m)), _status(_scen_raw(b, "planned", m)))
                if _scen_raw(b, "planned", m) else _absent(da, "figure 7"))
            row("leader's choice", ms, s("choice_ms"))
            row("new master's first GARP", ms, s("first_garp_ms"))
            row("old master's release", ms, s("release_ms"))
            row("**release − new master's first GARP**", ms, s("release_minus_garp_ms"))
            row("**writes acknowledged by the old master after the promotion**", ms,
                lambda m: count_cell(rows_(m), "acked_by_old_after_promotion") if rows_(m) else "—")
            row("ms with two holders", ms, lambda m: cell(stat(rows_(m), two), 0) if rows_(m) else "—")
            row("ms with no holder", ms, lambda m: cell(stat(rows_(m), none_), 0) if rows_(m) else "—")
            row("client's longest gap between acknowledged writes", ms, s("client_gap_ms"))
            row("acknowledged writes missing from the settled master", ms,
                lambda m: count_cell(rows_(m), "writes_lost") if rows_(m) else "—")
            row("converged", ms, lambda m: runs_with(rows_(m), "converged") if rows_(m) else "—")
        add("")

        per = _per_setting({da: b for da, b in blocks.items() if any(_scen_raw(b, "planned", m) for m in ms)}, ms,
                           lambda b, m: _total(ok_rows(_scen_raw(b, "planned", m)),
                                                           "acked_by_old_after_promotion"))
        if per:
            add("Writes the old master acknowledged after the promotion, all runs together (down-after "
                + settings_text([da for da in blocks if any(_scen_raw(blocks[da], "planned", m) for m in ms)])
                + "): " + per + ". `SENTINEL FAILOVER` does not wait for down-after; the Sentinel-confirmed "
                "mode's lease is half of it.")
            add("")

    # isolation (figure 3)
    ms = _mechs(blocks, mechs, lambda b, m: bool(_scen_raw(b, "isolation", m)))
    if ms:
        add("### Isolation of the master (figure 3)")
        add("")
        header(ms)
        for da, b in blocks.items():
            if not any(_scen_raw(b, "isolation", m) for m in ms):
                continue

            def irows(m: str, b=b) -> list[dict]:
                return ok_rows(_scen_raw(b, "isolation", m))

            def si(key: str, b=b):
                return lambda m: cell(stat(irows(m), key), 0) if irows(m) else "—"

            group(da, ms)
            row("runs", ms, lambda m: runs_cell(len(irows(m)), _status(_scen_raw(b, "isolation", m)))
                if _scen_raw(b, "isolation", m) else _absent(da, "figure 3"))
            row("link down", ms, si("link_down_ms"))
            row("**old master's release after link down**", ms, si("release_ms"))
            row("release − first promotion (negative: before)", ms, si("release_minus_promotion_ms"))
            row("**ms with two holders**", ms, lambda m: cell(stat(irows(m), two), 0) if irows(m) else "—")
            row("ms with no holder", ms, lambda m: cell(stat(irows(m), none_), 0) if irows(m) else "—")
            row("**writes acknowledged by the old master after the promotion**", ms,
                lambda m: count_cell(irows(m), "acked_by_old_after_promotion") if irows(m) else "—")
            row("acknowledged writes missing from the settled master at the end", ms,
                lambda m: count_cell(irows(m), "writes_lost") if irows(m) else "—")
            row("client's longest gap between acknowledged writes", ms, si("client_gap_ms"))
            row("first promotion after the fault", ms, si("promotion_ms"))
            row("converged", ms, lambda m: runs_with(irows(m), "converged") if irows(m) else "—")
        add("")
        add("\"—\" as release: the old master kept the VIP for the whole time it was cut off. As in figure 3, "
            "taking the bridge port down also takes the carrier away from n1's eth0, so keepalived enters its "
            "FAULT state and drops the VIP at once; the Sentinel-confirmed mode releases when its lease (half of "
            "down-after) runs out without the Sentinels' confirmation.")
        add("")

    stopped_table(L, blocks, mechs, header, group, row)


def _stopped_findings(da: str, rows_of: dict[str, list[dict]]) -> str:
    """One sentence on a setting of figure 9, from its rows: who kept the VIP through the stop,
    who released it (when, for how long there was no holder, when it came back), promotions."""
    kept, released = [], []
    for m, rows in rows_of.items():
        if not rows:
            continue
        rel = [r["release_ms"] for r in rows if r.get("release_ms") is not None]
        if not rel:
            kept.append(LABELS[m])
            continue
        gap = med(stat(rows, none_))
        back = med(stat(rows, "reclaim_ms_after_resume"))
        early = sum(1 for r in rows if (r.get("reclaim_ms_after_resume") or 0) < 0)
        released.append(
            f"{LABELS[m]} released it in {len(rel)} of {len(rows)} runs (median {med(stat(rows, 'release_ms')):.0f} "
            "ms after the stop began" + (f", {gap:.0f} ms with no holder" if gap is not None else "")
            + (f", back {back:.0f} ms after SIGCONT" if back is not None else "")
            + (f"; in {early} of them it claimed it again while the two were still stopped (negative re-claim)"
               if early else "") + ")")
    proms = sum(_total(rows, "promotions") or 0 for rows in rows_of.values())
    parts = []
    if kept:
        parts.append(", ".join(kept) + " kept the VIP on n1 through the stop in every run")
    parts += released
    if not parts:
        return ""
    stop = med(stat([r for rows in rows_of.values() for r in rows], "stopped_ms"))
    return (f"At down-after {ms_setting(da)} (the Sentinel-confirmed mode's lease {ms_setting(int(da) // 2)} ms"
            + (f", the stop {stop / 1000:.1f} s" if stop is not None else "") + "): "
            + "; ".join(parts) + "; "
            + ("no Sentinel promoted anyone." if not proms else f"{plural(proms, 'promotion')} in all.")
            )


def stopped_table(L: list[str], blocks: dict, mechs: list[str], header, group, row) -> None:
    """Figure 9 (n2's and n3's Sentinels SIGSTOPped for 10 s) per setting."""
    name = "sentinels-stopped"
    ms = _mechs(blocks, mechs, lambda b, m: bool(_scen_raw(b, name, m)))
    if not ms:
        return
    add = L.append
    add("### Two of three Sentinels stopped for 10 s (figure 9)")
    add("")
    header(ms)
    findings = []
    for da, b in blocks.items():
        if not any(_scen_raw(b, name, m) for m in ms):
            continue

        def srows(m: str, b=b) -> list[dict]:
            return ok_rows(_scen_raw(b, name, m))

        def ss(key: str, b=b):
            return lambda m: cell(stat(srows(m), key), 0) if srows(m) else "—"

        group(da, ms)
        row("runs", ms, lambda m: runs_cell(len(srows(m)), _status(_scen_raw(b, name, m)))
            if _scen_raw(b, name, m) else _absent(da, "figure 9"))
        row("**VIP outage: ms with no holder**", ms, lambda m: cell(stat(srows(m), none_), 0) if srows(m) else "—")
        row("client's longest gap between acknowledged writes", ms, ss("client_gap_ms"))
        row("n1's release after the stop (— : kept it)", ms, ss("release_ms"))
        row("n1's re-claim after SIGCONT", ms, ss("reclaim_ms_after_resume"))
        row("ms with two holders", ms, lambda m: cell(stat(srows(m), two), 0) if srows(m) else "—")
        row("promotions", ms, lambda m: count_cell(srows(m), "promotions") if srows(m) else "—")
        f = _stopped_findings(da, {m: srows(m) for m in ms})
        if f:
            findings.append(f)
    add("")
    for f in findings:
        add(f)
        add("")
