"""Render the benchmark results as the markdown of docs/benchmarks.md (also printed).

Every figure is printed as numbers: median [min–max] over the repetitions, and ratios against
the peers where both sides are measured and non-zero. Issue 7's targets (and issue 11's, for the
routed mode of figure 11) are listed with the measured number beside each; nothing here decides
a pass or a failure of the run.
"""

from __future__ import annotations

from bench.common import summary
from bench.mechanisms import DOWN_AFTER_MS, LABELS, MECHANISMS

POLL_MS = 100  # vip.poll-interval-ms default
TARGET_ROUTED_MS = 20  # issue 11: planned switch, the route moves within 20 ms of the promotion
TARGET_KILL_SLACK_MS = 200  # issue 11: kill -9, within the address lifetime + 200 ms
FAST_POLL_MS = 10  # while any Sentinel shows a failover under way


def cell(s: dict | None, nd: int = 1, unit: str = "") -> str:
    """'median [min–max]' (+ how many runs gave no value)."""
    if not s or s.get("median") is None:
        if s and s.get("missing"):
            return f"— (none in {s['missing']} runs)" if s["missing"] > 1 else "—"
        return "—"
    f = f"{{:.{nd}f}}"
    if s["n"] == 1:
        out = f"{f.format(s['median'])}{unit}"
    else:
        out = f"{f.format(s['median'])}{unit} [{f.format(s['min'])}–{f.format(s['max'])}]"
    if s.get("missing"):
        out += f" ({s['missing']} of {s['n'] + s['missing']} runs: none)"
    return out


def num(v, nd: int = 1) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def repo_path(p: str) -> str:
    """The module's path as a checkout of the repository has it (`target/release/...`), not the
    measuring machine's absolute path; other paths unchanged."""
    parts = p.split("/")
    return "/".join(parts[parts.index("target"):]) if p.startswith("/") and "target" in parts else p


def ok_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if "not_ready" not in r and "harness_error" not in r]


def _status(rows: list[dict]) -> str | None:
    for r in rows:
        if "not_ready" in r:
            return "not measured: " + r["not_ready"]
        if "harness_error" in r:
            return "harness error: " + r["harness_error"]
    return None


def stat(rows: list[dict], get) -> dict:
    """summary() of get(row) over the rows (a key name or a function)."""
    f = (lambda r: r.get(get)) if isinstance(get, str) else get
    vals = []
    for r in rows:
        try:
            vals.append(f(r))
        except (KeyError, TypeError):
            vals.append(None)
    return summary(vals)


def med(s: dict | None):
    return (s or {}).get("median")


def ratio_matrix(get, mechs: list[str]) -> list[str]:
    """Rows: mechanism; columns: each peer; value = median(row) / median(column)."""
    have = [m for m in mechs if get(m) is not None]
    if len(have) < 2:
        return []
    lines = ["| ÷ | " + " | ".join(LABELS[m] for m in have) + " |", "|---|" + "---|" * len(have)]
    for a in have:
        row = []
        for b in have:
            ma, mb = get(a), get(b)
            if a == b:
                row.append("1")
            elif mb == 0 or ma == 0:
                row.append("—")
            else:
                r = ma / mb
                row.append(f"1/{1 / r:.0f}" if r < 0.01 else (f"{r:.3f}" if r < 0.1 else f"{r:.2f}"))
        lines.append(f"| **{LABELS[a]}** | " + " | ".join(row) + " |")
    return lines


def ratio_block(L: list[str], title: str, get, mechs: list[str]) -> None:
    """A ratio matrix of the mechanisms whose median is measured and non-zero, with the ones at
    0 named (a ratio to 0 has no meaning)."""
    vals = {m: get(m) for m in mechs}
    zero = [m for m, v in vals.items() if v == 0]
    nonzero = [m for m, v in vals.items() if v]
    at_zero = f"0 for {', '.join(LABELS[m] for m in zero)}" if zero else ""
    if len(nonzero) < 2:
        if zero and nonzero:
            L.append(f"{title}: no ratio ({at_zero}).")
            L.append("")
        return
    L.append(f"{title} (median of the row ÷ median of the column)" + (f"; {at_zero}" if zero else "") + ":")
    L.append("")
    L.extend(ratio_matrix(get, nonzero))
    L.append("")


def count_cell(rows: list[dict], key: str) -> str:
    """'median [min–max], total N' of a count."""
    s = stat(rows, key)
    if s["median"] is None or s["n"] == 1:
        return cell(s, 0)
    return f"{cell(s, 0)}, total {sum(s['values']):.0f}"


def runs_with(rows: list[dict], key: str) -> str:
    n = sum(1 for r in rows if r.get(key))
    return f"{n} of {len(rows)}"


# ----------------------------------------------------------------------------------------------
# statistics per figure


def failover_stats(results: dict) -> dict:
    out = {}
    for m, rows in results.get("failover", {}).items():
        ok = ok_rows(rows)
        out[m] = {
            "promo_garp": stat(ok, "promotion_to_garp_ms"),
            "claim_ms": stat(ok, lambda r: r["module_claim_latency_us"] / 1000),
            "rtt": stat(ok, "sentinel_rtt_ms"),
            "outage": stat(ok, "outage_ms"),
            "promotion": stat(ok, "sentinel_promotion_ms"),
            "switch": stat(ok, "switch_master_ms"),
            "excess": stat(ok, "outage_minus_promotion_ms"),
            "later_gap": stat(ok, "later_gap_ms"),
            "rate": stat(ok, "writer_rate_per_s"),
            "second": sum(1 for r in ok if r.get("second_failover")),
            "status": _status(rows),
            "runs": len(ok),
            "rows": ok,
        }
    return out


def scen(results: dict, name: str, m: str) -> list[dict]:
    return ok_rows(results.get("scenarios", {}).get(name, {}).get(m, []))


def scen_status(results: dict, name: str, m: str) -> str | None:
    return _status(results.get("scenarios", {}).get(name, {}).get(m, []))


def scen_mechs(results: dict, name: str, mechs: list[str]) -> list[str]:
    per = results.get("scenarios", {}).get(name, {})
    return [m for m in mechs if m in per]


def two(r: dict, phase: str = "total") -> float:
    return r[phase]["two_holders_ms"]


def none_(r: dict, phase: str = "total") -> float:
    return r[phase]["no_holder_ms"]


# ----------------------------------------------------------------------------------------------
# the document


def render(results: dict, json_path: str) -> str:
    meta = results.get("meta", {})
    mc = meta.get("machine", {})
    args = meta.get("args", {})
    mechs = [m for m in MECHANISMS if m in (args.get("mech_list") or MECHANISMS)]
    fs = failover_stats(results)
    L: list[str] = []
    add = L.append
    add("# Benchmarks: redis-vip (basic and Sentinel-confirmed) vs a Sentinel reconfig script vs keepalived")
    add("")
    add(f"Generated by `bench/run.py` on {meta.get('started', '?')}; the run took "
        f"{meta.get('duration_s', 0) / 60:.1f} min. Reproduce (as root, from the repository root):")
    add("")
    add("```")
    add("make bench            # = scripts/install-deps.sh, cargo build --release, python3 -m bench.run")
    add(f"{meta.get('command', 'python3 -m bench.run')}")
    add("```")
    add("")
    add(f"Every mechanism runs with Sentinel `down-after-milliseconds {DOWN_AFTER_MS}`, three Sentinels, "
        "quorum 2. Sentinel's default is 30 000, and many deployments use 5 000–10 000; "
        f"{DOWN_AFTER_MS} is the hardest setting for redis-vip's safety (the shortest lease, and the least "
        "time for a dead node's 1 s address lifetime to run out before the promotion). "
        + (nothing_failed_setting(results) or "No other setting was measured. ")
        + "`python3 -m bench.run --quick` is a smoke run (2 kill -9 "
        "repetitions, 1 of every other scenario, 2 of each routed one, short throughput and probe runs, no "
        "callgrind) that "
        "prints the tables without writing this file. `--figures 7,8`, `--mechanisms vip-sentinel,keepalived`, "
        "`--keep` (keep logs and captures) narrow a run; raw results of every run go to "
        f"`target/bench/results-<time>.json` (this one: `{json_path}`).")
    add("")
    add("## Machine")
    add("")
    add(f"- {mc.get('os', '?')}, kernel `{mc.get('kernel', '?')}`, {mc.get('cpus', '?')} CPUs "
        f"({mc.get('cpu_model', '?')}), {mc.get('mem_gib', '?')} GiB RAM")
    add(f"- redis-server {mc.get('redis', '?')} (and its Sentinel), {mc.get('keepalived', '?')}, "
        f"{mc.get('arping', '?')}, Python {mc.get('python', '?')}")
    add(f"- module: `{repo_path(mc.get('module', '?'))}` sha256 {mc.get('module_sha256', '?')}… built "
        f"{mc.get('module_mtime', '?')}, repository at {mc.get('git_commit', '?')}"
        + (" (src/ had uncommitted changes)" if mc.get("git_dirty_src") else ""))
    if results.get("routed"):
        add(f"- routed mode (figure 11): {mc.get('bird', '?')}, FRR {mc.get('frr', '?')}")
    samples = meta.get("load_samples", [])
    busy = max([int(x[2]) for x in samples] + [int(meta.get("other_netns_at_start", 0))])
    add(f"- load average at start {meta.get('load_at_start', '?')}, at end {meta.get('load_at_end', '?')}; "
        f"up to {busy} network namespaces of other test runs existed at the sample points.")
    add("")
    add("**The machine is shared** (2 cores): other engineers' test suites may run beside the "
        "benchmark, and every figure carries that noise, most visibly the throughput (figure 4) and "
        "latency (figure 6) spreads. The failover figures are timed from packet captures and logs "
        "and are affected less. Compare medians and look at the [min–max] ranges before reading "
        "anything into differences of a few percent.")
    add("")

    glance = at_a_glance(results, fs, mechs)
    if glance:
        add("## At a glance")
        add("")
        L.extend(glance)
        add("")
    tl = targets(results, fs)
    if tl:
        add("## The Sentinel-confirmed mode's targets, measured")
        add("")
        add("Each target set for the Sentinel-confirmed mode that a benchmark can measure, with what this run "
            "measured for it (median [min–max] over the repetitions). Targets 7 "
            "(authentication), 8 (a stopped Sentinel delays nothing) and 9 (forged hellos) are checked by "
            "tests/integration/test_sentinel.py, not here.")
        add("")
        L.extend(tl)
        add("")
    rt = routed_targets(results)
    if rt:
        add("## The routed mode's targets, measured")
        add("")
        add("The targets for the routed mode (figure 11: the VIP as a /32 announced over BGP by BIRD or "
            "FRR on the nodes, redis-vip in the Sentinel-confirmed mode), with what this run measured: median "
            "[min–max] over the repetitions.")
        add("")
        L.extend(rt)
        add("")

    failover_section(L, results, fs, mechs)
    stale_isolation_section(L, results, mechs)
    planned_section(L, results, mechs)
    busy_section(L, results, mechs)
    stopped_section(L, results, mechs)
    startup_section(L, results, mechs)
    routed_section(L, results, fs)
    nothing_failed_section(L, results, mechs)
    second_failover_section(L, results, fs, mechs)
    overhead_section(L, results)

    errs = meta.get("harness_errors") or []
    notes = auto_notes(results, fs, mechs)
    if notes or errs:
        add("## Notes from this run")
        add("")
        for n in notes:
            add(f"- {n}")
        for e in errs:
            add(f"- harness error: `{e.splitlines()[0]}`")
        add("")
    L.append(METHOD.replace(METHOD_ANCHOR, METHOD_12 + METHOD_ANCHOR) if results.get("nothing_failed") else METHOD)
    return "\n".join(L) + "\n"


def table(L: list[str], mechs: list[str], rows: list[tuple[str, object]]) -> None:
    """A figure-by-mechanism table; each row is (label, fn(mech) -> text)."""
    L.append("| | " + " | ".join(LABELS[m] for m in mechs) + " |")
    L.append("|---|" + "---|" * len(mechs))
    for label, fn in rows:
        L.append(f"| {label} | " + " | ".join(fn(m) for m in mechs) + " |")


def runs_cell(n: int, status: str | None) -> str:
    return str(n) if not status else f"{n} ({status[:80]}…)"


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
    ms = scen_mechs(results, "planned", mechs)
    if not ms:
        return
    add = L.append
    add("## Figure 7: planned failover (`SENTINEL FAILOVER`)")
    add("")
    add("`SENTINEL FAILOVER mymaster` sent to n2's Sentinel (which then runs the failover) with every node "
        "healthy. Times in ms after the command: the leader's choice (`+failover-state-send-slaveof-noone` "
        "in its log), the promoted node's \"MASTER MODE enabled\" line, its first GARP (capture in the client "
        "namespace), and the old master's release (redis-vip: its own \"releasing\" log line; the peers: "
        "the holder samples, ±5 ms). Negative differences: the release came first.")
    add("")

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
    ms = scen_mechs(results, "busy", mechs)
    if not ms:
        return
    add = L.append
    add("## Figure 8: busy master (`DEBUG SLEEP 5`)")
    add("")
    add("`DEBUG SLEEP 5` on the master blocks its main thread (a module's own threads keep running); the "
        "Sentinels fail over while it sleeps; after waking it is still a master until Sentinel converts it. "
        "Times in ms after DEBUG SLEEP was sent. Re-claims: how often the old master had the VIP again "
        "after its first release. Phase 1: the sleep; phase 2: after waking, until converged.")
    add("")

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
    ms = scen_mechs(results, "sentinels-stopped", mechs)
    if not ms:
        return
    add = L.append
    name = "sentinels-stopped"
    add("## Figure 9: two of three Sentinels stopped for 10 s")
    add("")
    add("SIGSTOP of n2's and n3's Sentinels for 10 s (each accepts TCP and never answers), every Redis node "
        "healthy, then SIGCONT, until n1 has held the VIP alone for 2 s. VIP outage = ms with no holder "
        "(holder samples); the client's longest gap is the same seen through the writer.")
    add("")

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

    def count(scenario: str, key: str, l2_rows=None, l2_key=None):
        def f(col: str) -> str:
            if col == "l2":
                if l2_rows is None:
                    return "n/a"
                return count_cell(l2_rows, l2_key or key) if l2_rows else "not run"
            return count_cell(routed_rows(results, scenario, col), key)
        return f

    def runs_of(scenario: str, key: str, l2_rows=None, l2_key=None):
        def f(col: str) -> str:
            if col == "l2":
                if l2_rows is None:
                    return "n/a"
                return runs_with(l2_rows, l2_key or key) if l2_rows else "not run"
            return runs_with(routed_rows(results, scenario, col), key)
        return f

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


# ----------------------------------------------------------------------------------------------
# figure 12: nothing failed

NF_TITLES = {"crash-restart": "A crash restarted at once (`kill -9` of the master's redis-server, started again "
                              "at once)",
             "backup": "A backup client (`redis-cli --rdb` against the master)"}
TARGET_BACK_MS = 200  # the restarted master has the VIP again within 200 ms of accepting connections


def nf_down_afters(results: dict) -> list[str]:
    return sorted((results.get("nothing_failed") or {}), key=int)


def nf(results: dict, da: str, name: str, m: str) -> list[dict]:
    return ok_rows(((results.get("nothing_failed") or {}).get(da) or {}).get(name, {}).get(m, []))


def nf_raw(results: dict, da: str, name: str, m: str) -> list[dict]:
    return ((results.get("nothing_failed") or {}).get(da) or {}).get(name, {}).get(m, [])


def nf_mechs(results: dict, mechs: list[str]) -> list[str]:
    per = results.get("nothing_failed") or {}
    return [m for m in mechs if any(m in (per[da].get(n) or {}) for da in per for n in per[da])]


def ms_setting(da) -> str:
    """1000, 30 000: as the rest of the document writes down-after."""
    v = int(da)
    return f"{v:,}".replace(",", " ") if v >= 10000 else str(v)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def nothing_failed_setting(results: dict) -> str:
    das = [d for d in nf_down_afters(results) if int(d) != DOWN_AFTER_MS]
    if not das:
        return ""
    return ("Figure 12 is measured at " + " and ".join(ms_setting(d) for d in nf_down_afters(results))
            + "; no other setting was measured. ")


def failovers_cell(rows: list[dict]) -> str:
    if not rows:
        return "—"
    n = sum(1 for r in rows if r.get("promotions"))
    total = sum(r.get("promotions") or 0 for r in rows)
    return f"{n} of {len(rows)} runs" + (f" ({total} promotions)" if total else "")


def nf_provenance(results: dict) -> str:
    """A line naming the run (for a section pasted beside the figures of another run)."""
    meta = results.get("meta", {})
    mc = meta.get("machine", {})
    args = meta.get("args", {})
    return (f"Measured apart from the other figures, by `{meta.get('command', 'python3 -m bench.run')}` on "
            f"{meta.get('started', '?')} "
            f"({meta.get('duration_s', 0) / 60:.0f} min), repository at {mc.get('git_commit', '?')}"
            + (" (src/ had uncommitted changes)" if mc.get("git_dirty_src") else "")
            + f", module sha256 {mc.get('module_sha256', '?')}…; redis-server {mc.get('redis', '?')}, "
            f"{mc.get('keepalived', '?')}; {mc.get('cpus', '?')} CPUs, load average {meta.get('load_at_start', '?')} "
            f"at the start and {meta.get('load_at_end', '?')} at the end. 3 nodes, 3 Sentinels (quorum 2), "
            f"down-after {' and '.join(ms_setting(d) for d in nf_down_afters(results))}, "
            + (plural(args["nothing_failed_reps"], "repetition") if "nothing_failed_reps" in args else "? repetitions")
            + " per cell.")


def nothing_failed_section(L: list[str], results: dict, mechs: list[str], provenance: bool = False) -> None:
    das = nf_down_afters(results)
    ms = nf_mechs(results, mechs)
    if not das or not ms:
        return
    add = L.append
    add("## Figure 12: nothing failed: a crash restarted at once, and a backup client")
    add("")
    if provenance:
        add(nf_provenance(results))
        add("")
    add("Two events after which Sentinel keeps the master where it is, each at down-after "
        + " and ".join(ms_setting(d) for d in das) + " (Sentinel's default is 30 000). **Crash restarted at "
        "once**: `kill -9` of n1's redis-server and a start from the same config file at once, as systemd's "
        "`Restart=always` does; the run ends when every Sentinel shows the new process's run id (their next "
        "`INFO`, sent every 10 s) and n1 alone has held the VIP for 3 s, or, after a failover, when the "
        "Sentinels have settled and the settled master alone has held it for 3 s. **Backup client**: "
        "`redis-cli --rdb` from the client namespace against n1, its RDB held back "
        "(`repl-diskless-sync-delay`) until every Sentinel lists it as a replica `ip:0` (then 3 s more); "
        "the client is stopped, and the run ends when n1 alone has held the VIP for 2 s. Holders sampled every "
        "10 ms; a client writes through the VIP every 10 ms (as in figure 3). Values: median [min–max] in ms "
        "over the repetitions; counts per run, with totals.")
    add("")
    for name in ("crash-restart", "backup"):
        if not any(nf_raw(results, da, name, m) for da in das for m in ms):
            continue
        add(f"### {NF_TITLES[name]}")
        add("")
        add("| | " + " | ".join(LABELS[m] for m in ms) + " |")
        add("|---|" + "---|" * len(ms))
        for da in das:
            def row(label: str, fn) -> None:
                add(f"| {label} | " + " | ".join(fn(m) for m in ms) + " |")

            def rows_(m: str) -> list[dict]:
                return nf(results, da, name, m)

            add(f"| **down-after {ms_setting(da)}** |" + " |" * len(ms))
            row("runs", lambda m: runs_cell(len(rows_(m)), _status(nf_raw(results, da, name, m))))
            row("**client's longest gap between acknowledged writes**",
                lambda m: cell(stat(rows_(m), "client_gap_ms"), 0))
            row("**ms with no holder**", lambda m: cell(stat(rows_(m), none_), 0))
            row("ms with two holders", lambda m: cell(stat(rows_(m), two), 0))
            row("failovers (runs with a promotion)", lambda m: failovers_cell(rows_(m)))
            if name == "crash-restart":
                row("kill → the restarted server answers (its \"Ready to accept connections\" line)",
                    lambda m: cell(stat(rows_(m), "restart_ready_ms"), 0))
                row("**VIP on n1 for good, after the restarted server answered** (0: it was there when the server "
                    "answered; runs without a failover)", lambda m: cell(stat(rows_(m), "vip_back_ms_after_ready"), 0))
                row("times the VIP left n1", lambda m: count_cell(rows_(m), "vip_departures"))
                row("runs in which the restarted module deleted, at start, the address its previous process left",
                    lambda m: runs_with(rows_(m), "deleted_at_start") if m.startswith("vip-") else "n/a")
                row("ms with the VIP on no node or on a replica (runs without a failover)",
                    lambda m: cell(stat(rows_(m), "off_master_ms"), 0))
                row("Sentinels that called n1 down (`+sdown`), of 3", lambda m: count_cell(rows_(m), "sdown_sentinels"))
                row("every Sentinel shows the new run id (its next `INFO`), after the restarted server answered",
                    lambda m: cell(stat(rows_(m), "sentinels_new_runid_ms"), 0))
                row("writes lost: acknowledged, missing from the settled master (Redis' own loss, see below)",
                    lambda m: count_cell(rows_(m), "writes_lost"))
                row("of which acknowledged before the crash", lambda m: count_cell(rows_(m), "acked_before_crash"))
            else:
                row("backup client listed as `ip:0` by every Sentinel, after it connected",
                    lambda m: cell(stat(rows_(m), "listed_everywhere_ms"), 0))
                row("runs in which every Sentinel still listed it at the end",
                    lambda m: runs_with(rows_(m), "listed_everywhere"))
                row("runs in which the VIP left n1", lambda m: runs_with(rows_(m), "vip_left"))
                row("writes lost: acknowledged, missing from n1", lambda m: count_cell(rows_(m), "writes_lost"))
            row("converged", lambda m: runs_with(rows_(m), "converged"))
        add("")
    add("How to read it: in both events a mechanism that follows Sentinel should keep clients writing through "
        "the VIP as Sentinel keeps them on the master. The client's longest gap should be no longer than the "
        "Sentinel script's (which does nothing when nothing fails over), and with the backup client no "
        "mechanism should leave the VIP on no node. The crash's gap includes the restart itself (kill → the "
        "server answers) and the reconnect. At down-after 1000 Sentinel's reconnect to the restarted server "
        "(once a second at most) can outlast down-after: the Sentinels then call the master down (the row "
        "`+sdown`) and may fail it over, as they would with any mechanism (the row \"failovers\"). keepalived, the "
        "Sentinel script and basic mode do not read down-after: at 30 000 they behave as at 1000 but for "
        "those failovers. The Sentinel-confirmed mode is the one that depends on it (its lease is half of "
        "down-after, and it reads the Sentinels' view of the restarted process). **Writes lost in the crash "
        "are Redis' own**: the servers run without persistence, so the restarted master comes back empty and "
        "its replicas resync from it; every write acknowledged before the crash is lost whatever holds the "
        "VIP. The row is there so that a loss of another kind would show beside it.")
    add("")
    ready = {k: [r for da in das for mm in ms if mm.startswith("vip-") == (k == "with")
                 for r in nf(results, da, "crash-restart", mm)] for k in ("with", "without")}
    if ready["with"] and ready["without"]:
        add("The restart itself: the restarted server logged \"Ready to accept connections\" "
            f"{cell(stat(ready['with'], 'restart_ready_ms'), 0)} ms after the kill with the module loaded (both modes, "
            f"both settings) and {cell(stat(ready['without'], 'restart_ready_ms'), 0)} ms without it (the Sentinel "
            "script's and keepalived's nodes); the client's longest gap in the crash includes that difference.")
        add("")
    m = "vip-sentinel"
    crash = {da: nf(results, da, "crash-restart", m) for da in das if nf(results, da, "crash-restart", m)}
    quiet = [r for rows in crash.values() for r in rows if not r.get("promotions")]
    # (1) a brief absence at start: deleted and claimed again before the server answered
    blips = [r for r in quiet if r.get("deleted_at_start") and r.get("vip_back_ms_after_ready") == 0]
    caught = [r for r in blips if r.get("vip_departures")]
    # (2) fenced after the restart: released, or not claimed again until later
    late = {da: [r for r in rows if not r.get("promotions")
                 and (r.get("releases_after_restart") or (r.get("vip_back_ms_after_ready") or 0) > 0)]
            for da, rows in crash.items()}
    late = {da: rows for da, rows in late.items() if rows}
    if m in ms and blips:
        deleted = [r for r in quiet if r.get("deleted_at_start")]
        add(f"Why the Sentinel-confirmed mode has the VIP on no node for a moment after the crash: in {len(deleted)} of "
            f"{len(quiet)} runs without a failover the restarted module found the address its "
            "previous process left on the interface and, holding only once the Sentinels confirm it, deleted it at "
            "start (its log: \"… is on eth0 but this node must not hold it (role unknown): deleting it\"). In "
            f"{len(blips)} of them it claimed it again as soon as they confirmed it, "
            f"{cell(stat(blips, 'deleted_for_ms'), 0)} ms later by its log "
            f"({cell(stat(blips, 'first_claim_ms_after_ready'), 0)} ms after the server's \"Ready to accept "
            "connections\"). The holder samples (10 ms apart) caught that moment in "
            f"{len(caught)} of these runs. A client that connects in that moment gets no answer and waits for its "
            "connect timeout (500 ms for this client); the client's longest gap in these runs: "
            f"{cell(stat(blips, 'client_gap_ms'), 0)} ms.")
        add("")
    if m in ms and late:
        add("Why it is sometimes off the restarted master for longer, at down-after "
            + " and ".join(ms_setting(d) for d in late) + " ("
            + "; ".join(f"{len(rows)} of {len([r for r in crash[da] if not r.get('promotions')])} runs at "
                        f"{ms_setting(da)}: {cell(stat(rows, none_), 0)} ms with no holder, on n1 for good "
                        f"{cell(stat(rows, 'vip_back_ms_after_ready'), 0)} ms after the server answered, Sentinels "
                        f"calling n1 down {count_cell(rows, 'sdown_sentinels')}" for da, rows in late.items())
            + "): it holds only while two Sentinels confirm the node as master, each confirmation lasting the "
            "lease (half of down-after: 500 ms at 1000) and never past the moment that Sentinel could call the "
            "master down (down-after after its last reply, while its link is broken). Sentinel retries a lost link "
            "to an instance once a second; when fewer than two Sentinels have reconnected to the restarted server "
            "in time, the module releases the VIP, or does not claim it again after deleting it at start "
            "(`VIP.STATUS`: \"fenced: 1 of 3 Sentinels confirm this node as master within the lease, 2 needed\"), "
            "until two have, together with their own `-sdown`. At down-after "
            "30 000 the lease (15 s) outlasts that second.")
        add("")
    if m in ms:
        parts = []
        for da in das:
            cr = [r for r in nf(results, da, "crash-restart", m) if not r.get("promotions")]
            if cr:
                b = stat(cr, "vip_back_ms_after_ready")
                within = sum(1 for v in b["values"] if v <= TARGET_BACK_MS)
                parts.append(f"at down-after {ms_setting(da)}, the VIP on the restarted master {cell(b, 0)} ms after "
                             f"it answered: median {_vs(med(b), TARGET_BACK_MS)}; {within} of {b['n']} runs without a "
                             "failover within it")
        for da in das:
            bk = nf(results, da, "backup", m)
            if bk:
                parts.append(f"backup client at down-after {ms_setting(da)}: {cell(stat(bk, none_), 0)} ms with no "
                             f"holder (target 0)")
        if parts:
            add("The Sentinel-confirmed mode against its targets here (the VIP back on a master restarted at once "
                f"within {TARGET_BACK_MS} ms of it accepting connections, at either setting; 0 ms without a holder "
                "with a backup client): " + "; ".join(parts) + ".")
            add("")


def render_figures(results: dict, json_path: str, figures: list[int]) -> str:
    """Only the sections of the named figures, each with a line naming the run: for a partial
    run pasted into docs/benchmarks.md beside the figures of the last full run."""
    unknown = [f for f in figures if f != 12]
    if unknown:
        raise ValueError(f"only figure 12 renders on its own, not {unknown}")
    args = results.get("meta", {}).get("args", {})
    mechs = [m for m in MECHANISMS if m in (args.get("mech_list") or MECHANISMS)]
    L: list[str] = []
    nothing_failed_section(L, results, mechs, provenance=True)
    if L:
        L.append(f"Raw results: `{json_path}`.")
        L.append("")
    return "\n".join(L)


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


# ----------------------------------------------------------------------------------------------
# overhead (figures 4-6)


def overhead_section(L: list[str], results: dict) -> None:
    add = L.append
    thr = results.get("throughput")
    rest = results.get("at_rest")
    mt = results.get("main_thread")
    cg = results.get("callgrind")
    if not (thr or rest or mt or cg):
        return
    add("## Overhead")
    add("")
    if thr and "runs" in thr:
        add(f"### Figure 4: throughput (redis-benchmark -c 50 -P 16 -n {thr['requests']}, SET and GET, "
            f"{thr['reps']} alternating rounds)")
        add("")
        add("Three servers, one per namespace, pinned to CPU 0, each watched by its own Sentinel; "
            "redis-benchmark on CPU 1 against 127.0.0.1. Each round runs the three back to back in a rotated "
            "order; the ratio is taken within a round. Both modes hold their VIP during the runs (the "
            "Sentinel-confirmed mode confirmed by its Sentinel). Main-thread CPU per request is the server "
            "thread's run time (schedstat) divided by the requests: unlike requests/s it does not move when "
            "other load takes the CPU away.")
        add("")
        add("| | without module | basic mode | Sentinel mode | ratio basic/without | ratio Sentinel/without |")
        add("|---|---|---|---|---|---|")
        for t in ("SET", "GET"):
            add(f"| {t} requests/s | {cell(thr.get(f'none_{t}'), 0)} | {cell(thr.get(f'basic_{t}'), 0)} | "
                f"{cell(thr.get(f'sentinel_{t}'), 0)} | {cell(thr.get(f'ratio_basic_{t}'), 3)} | "
                f"{cell(thr.get(f'ratio_sentinel_{t}'), 3)} |")
        if thr.get("none_main_cpu_ns_per_req"):
            add(f"| main-thread CPU ns/request | {cell(thr.get('none_main_cpu_ns_per_req'), 0)} | "
                f"{cell(thr.get('basic_main_cpu_ns_per_req'), 0)} | "
                f"{cell(thr.get('sentinel_main_cpu_ns_per_req'), 0)} | "
                f"{cell(thr.get('ratio_basic_main_cpu'), 3)} | {cell(thr.get('ratio_sentinel_main_cpu'), 3)} |")
        st = thr.get("module_status") or {}
        add("")
        add("Module state during the runs: " + ", ".join(f"{c} mode {v.get('state', v.get('error'))}"
                                                         for c, v in st.items()) + ".")
        add("")
    elif thr:
        add(f"Figure 4: {thr}")
        add("")
    if cg and "text" in cg:
        add("### Figure 4b: cost per command (callgrind; independent of the machine's load)")
        add("")
        add("`bench/callgrind.py`: redis-server under valgrind --tool=callgrind, the same redis-benchmark load "
            "(SET+GET, 50 clients), without the module, in basic mode, and in the Sentinel-confirmed mode "
            "(confirmed by one Sentinel in the namespace, holding; the same Sentinel watches every "
            "configuration). Two runs of different lengths are differenced, so start-up and shutdown cancel "
            "out. \"In the module's code\": instructions executed in the module's object file itself (self "
            "cost, read from the callgrind output), per request — what the module adds to each command. "
            "`moduleCallCommandFilters` is Redis' loop over module command filters (inclusive). The whole "
            "main-thread difference also holds time-proportional work (cron, the Sentinel's PINGs and "
            "hellos, the module's timers) and noise. Only user-space instructions are counted.")
        add("")
        add(cg["text"])
        add("")
    if rest and "window_s" in rest:
        add(f"### Figure 5: cost at rest ({rest['window_s']:.0f} s idle window)")
        add("")
        add("Master + replica pairs without the module, in basic mode, and in the Sentinel-confirmed mode, "
            "each pair watched by two Sentinels (one per node). CPU from /proc/<pid>/task/<tid>/schedstat; "
            "wake-ups = voluntary context switches of the thread (a netlink round trip also counts as one). "
            "`vip-sentinel-*`: the Sentinel-mode pollers together (one thread per Sentinel asked, 10 polls "
            "a second each).")
        add("")
        add("| server | state | vip-worker CPU ms/min | vip-worker wake-ups/s | vip-watch CPU ms/min | "
            "vip-watch wake-ups/s | vip-sentinel-* CPU ms/min | vip-sentinel-* wake-ups/s | RSS KiB |")
        add("|---|---|---|---|---|---|---|---|---|")
        for cfg in ("none", "basic", "sentinel"):
            for role in ("master", "replica"):
                d = rest.get(f"{cfg}_{role}")
                if not d:
                    continue
                th = d["threads"]
                per_min = 60.0 / d["seconds"]
                cells = []
                for name in ("vip-worker", "vip-watch", "vip-sentinel-*"):
                    t = th.get(name)
                    cells += [num(t["cpu_ms"] * per_min, 2) if t else "—", num(t["wakeups_per_s"], 2) if t else "—"]
                add(f"| {cfg} {role} | {d.get('vip_state', 'no module')} | " + " | ".join(cells)
                    + f" | {d['rss_kib_after']} |")
        add("")
    if mt and "runs" in mt:
        add(f"### Figures 5 and 6: role flapping (REPLICAOF every 50 ms) and PING latency "
            f"({mt['reps']} alternating rounds of {mt['duration_s']:.0f} s)")
        add("")
        add("One server without and one with the module (basic mode: in the Sentinel-confirmed mode a "
            "promotion no Sentinel asked for never claims), each pinned to CPU 0 with its worker thread: "
            "the worst case for the main thread. A probe on CPU 1 sends a PING every 1 ms; in the "
            "`flapping` runs a second process flips the role every 50 ms (REPLICAOF to an address nobody "
            "has, then REPLICAOF NO ONE: with the module, a release and a claim with its announcements every "
            "100 ms). p50/p99/max are per run; the table gives median [min–max] over the rounds, in µs.")
        add("")
        add("| load | module | PING p50 µs | PING p99 µs | PING max µs | REPLICAOF p99 µs | server CPU ms per run |")
        add("|---|---|---|---|---|---|---|")
        for load in ("rest", "flap"):
            for cfg in ("none", "basic"):
                k = f"{cfg}_{load}"
                add(f"| {'at rest' if load == 'rest' else 'flapping'} | {'without' if cfg == 'none' else 'basic'} | "
                    f"{cell(mt.get(f'{k}_p50_us'), 0)} | {cell(mt.get(f'{k}_p99_us'), 0)} | "
                    f"{cell(mt.get(f'{k}_max_us'), 0)} | "
                    f"{cell(mt.get(f'{k}_replicaof_p99_us'), 0) if load == 'flap' else ''} | "
                    f"{cell(mt.get(f'{k}_proc_cpu_ms'), 0) if load == 'flap' else ''} |")
        add("")
        add(f"Under flapping the worker used {cell(mt.get('basic_flap_worker_cpu_ms_per_flip'), 3)} ms CPU "
            f"and {cell(mt.get('basic_flap_worker_wakeups_per_flip'), 1)} wake-ups per role change; "
            f"claims per run {cell(mt.get('basic_flap_claims'), 0)}, releases {cell(mt.get('basic_flap_releases'), 0)}; "
            f"server RSS grew by {cell(mt.get('basic_flap_rss_growth_kib'), 0)} KiB per run.")
        add("")


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


def _vs(value: float | None, target: float, unit: str = "ms", nd: int = 0) -> str:
    if value is None:
        return "not measured"
    if value <= target:
        return f"within the target ({value:.{nd}f} {unit} ≤ {target:g} {unit})"
    return f"**misses the target**: {value:.{nd}f} {unit} > {target:g} {unit}"


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
            st = _status(rows)
            if st:
                notes.append(f"{LABELS[m]}, {name}: {st}")
            ok = ok_rows(rows)
            bad = sum(1 for r in ok if not r.get("converged"))
            if bad:
                notes.append(f"{LABELS[m]}, {name}: {bad} of {len(ok)} runs did not converge within the wait "
                             "(old master not a replica, Sentinels not settled, or the VIP not on the settled "
                             "master alone for 3 s).")
    for m, rows in (results.get("startup") or {}).items():
        st = _status(rows)
        if st:
            notes.append(f"{LABELS[m]}, start-up: {st}")
    for scenario, per in (results.get("routed") or {}).items():
        for sp, rows in per.items():
            st = _status(rows)
            if st:
                notes.append(f"Figure 11, routed {scenario} with {sp.upper()}: {st}")
            ok = ok_rows(rows)
            bad = sum(1 for r in ok if not r.get("converged"))
            if bad:
                notes.append(f"Figure 11, routed {scenario} with {sp.upper()}: {bad} of {len(ok)} runs did not "
                             "converge (no settled master, or the router never routed to it).")
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


METHOD = """## How each figure is measured

Topology (tests/harness/topology.py): a bridge namespace and namespaces n1, n2, n3 (Redis
7.0 + Sentinel each, 192.0.2.11-13) and obs (the client, 192.0.2.50); VIP 192.0.2.100/24.
n1 starts as master, n2 and n3 replicate it; one Sentinel per node (quorum 2,
down-after-milliseconds 1000 for every mechanism, failover-timeout 10000). Every repetition
builds a fresh topology, so no Sentinel state carries over. Mechanisms:

- **redis-vip basic**: `loadmodule libredis_vip.so address 192.0.2.100/24 interface eth0`,
  defaults (address lifetime 1 s, check interval 1000 ms, 5 GARPs 200 ms apart).
- **redis-vip sentinel**: the same plus `sentinels 192.0.2.11:26379,192.0.2.12:26379,192.0.2.13:26379
  master-name mymaster`, defaults otherwise: polls every 100 ms (10 ms while a Sentinel shows a
  failover under way), quorum = the larger of a majority of the Sentinels and N − q + 1 (2),
  lease = half of down-after (500 ms). It holds only while the Sentinels confirm it
  (docs/safety.md).
- **Sentinel script**: `sentinel client-reconfig-script mymaster bench/peers/sentinel-reconfig-vip.sh`
  on every Sentinel, the widely circulated recipe (new master: `ip addr add` + `arping -q -c 3 -A`;
  every other host: `ip addr del`); the VIP is put on n1 by hand at setup, as the recipe says.
- **keepalived**: on every node, `bench/peers/keepalived.conf.in`: state BACKUP, priority 100,
  advert_int 1, preemption on (the default; no nopreempt), `vrrp_script` =
  `bench/peers/keepalived-check-redis-master.sh` (redis-cli INFO replication | grep role:master)
  with interval 1, weight 20. One keepalived per namespace (`--dont-fork --vrrp`, own pid
  files and log), so VRRP multicast stays on the test bridge. This is one configuration, the
  common one with 1 s timers. keepalived accepts fractional timers (`advert_int` in seconds,
  such as 0.92 in its manual; script intervals below a second from keepalived 2.3.2); faster
  settings were not measured, and keepalived's figures here hold for 1 s timers only.

Figures 1 and 2 come from the same failovers: a writer in obs (bench/writer.py, plain
sockets) sends a SET through the VIP every 5 ms (reply timeout 200 ms). After an error it
starts a new non-blocking connect on every tick while earlier ones stay pending (up to 1 s),
so a SYN lost while no node answered for the VIP does not hold it back until TCP's 1 s
retransmission; the first connect to complete carries the next SET. The rate it achieved in
the second before the fault is printed per run. Then `kill -9` of the n1 redis-server; its
Sentinel stays up. Each run ends once the Sentinels have settled on a master (all name it,
none shows a failover or the master down, unchanged for 3 s).

1. **Promotion → first GARP**: promotion = the moment the Sentinel leader's `SLAVEOF NO ONE`
   reaches the first promoted node (tcpdump on all interfaces of each node namespace, µs
   timestamps; the role event follows within microseconds). First GARP = first ARP with
   sender IP = target IP = the VIP from that node's MAC, captured by tcpdump in obs. Same
   machine, same clock. The module's own figure (VIP.STATUS `last_claim_latency_us`: role
   event → first announcement sent) is shown beside it. One Sentinel round trip: `SENTINEL
   MASTER mymaster` from n2 to n3's Sentinel with redis-py, median of 20 before the fault (an
   upper bound: the client's own time is included). 1b: the same path without Sentinel, basic
   mode only: a client in n1 sends `REPLICAOF NO ONE` (after `REPLICAOF <nobody>`), from its
   send time to the first GARP in obs.
2. **Client outage**: last successful SET answered before the killed process was reaped to
   the first successful SET sent after that (reply times). Sentinel's own promotion time =
   kill → `SLAVEOF NO ONE` at the new master (as above); the difference is what the VIP
   mechanism adds. "Longest gap after the client was back": a second failover shows there.

Figures 3 and 7-9 (bench/scenarios.py) share one harness: holders sampled every 10 ms
(rtnetlink address dumps in each node namespace); a node counts as a holder while the VIP is
on its interface and its link is up (an isolated node cannot take client traffic), whether or
not its Redis runs: after kill -9 the dead node's kernel keeps the address until its
lifetime (1 s with redis-vip) runs out or someone deletes it. A client in obs
(tests/harness/writer.py `VipWriter`, redis-py) writes through the VIP every 10 ms on
one connection at a time and asks `CONFIG GET dir` once per connection, so each acknowledged
write is attributed to the node that executed it. **Writes acknowledged by the old master
after the promotion** = writes n1 acknowledged that were *sent* after the first promotion's
"MASTER MODE enabled" log line (so n1 certainly executed them after it): split-brain writes.
"Missing from the settled master" also counts what asynchronous replication loses at a kill.
Release times: redis-vip's own "releasing" log line (ms) when it falls within the samples'
bracket, else the midpoint of the last sample with the VIP and the first without (±5 ms).
Each run ends once the old master is a replica, the Sentinels have settled, and the settled
master alone has held the VIP for 3 s.

3. **Stale restart**: kill -9 of the master; once the new master has held the VIP for 1 s, the
   old one restarts from its config file (a master, empty data set) until Sentinel converts
   it. **Isolation**: the master's bridge port down for 8 s, then up. Taking the bridge port
   down also takes the carrier away from n1's eth0: keepalived then enters its FAULT state
   and drops the VIP itself.
7. **Planned failover**: `SENTINEL FAILOVER mymaster` sent to n2's Sentinel, every node
   healthy; the leader's choice is `+failover-state-send-slaveof-noone` in its log.
8. **Busy master**: `DEBUG SLEEP 5` on n1 (`enable-debug-command yes`), sent on its own
   connection.
9. **Stopped Sentinels**: SIGSTOP of n2's and n3's Sentinels for 10 s, then SIGCONT; the run
   ends when n1 has held the VIP alone for 2 s.

10. **Start-up** (bench/startup.py): Redis and the Sentinels running and settled, then
   `MODULE LOAD` on n1 (redis-vip) or keepalived started on the three nodes; to the first GARP
   from n1 in obs.

11. **Routed mode** (bench/routed_mode.py; tests/harness/routed.py's topology, imported): a
   router namespace (BIRD 2, AS 65000, ECMP on only so that an overlap would show) with a
   point-to-point link and an eBGP session to each of n1-n3 (BIRD, or FRR's zebra + bgpd,
   exporting only 198.51.100.10/32) and to the client namespace; Redis 7.0 + the module
   (`address 198.51.100.10/32 interface lo announce no sentinels ... master-name mymaster`,
   lifetime 1 s) and a Sentinel (down-after 1000, quorum 2) on each node. A fresh topology per
   repetition, BIRD and FRR interleaved. The router's kernel table for the VIP is dumped over
   netlink every 5 ms and at once on every route notification; each change is timed
   (time.time()), and the time with two next hops or none is summed from the changes. The
   router's RIB is read from its BIRD log (`debug { routes }`, ms). Planned: `SENTINEL
   FAILOVER` to n2's Sentinel. kill -9: of n1's redis-server (its Sentinel and daemon stay up);
   the address's deletion on n1 is sampled every 10 ms. Clients: bench/writer.py (5 ms; the
   outage as in figure 2, or for the planned switch the longest gap between acknowledged
   writes) and the harness's VipWriter through the VIP (5 ms; errors, lost writes, writes the old
   master acknowledged after the promotion).

4-6 are described with their tables. Timeouts in the harness are upper bounds against hangs;
nothing here asserts on a timing.
"""

# figure 12's paragraph of the method, before the line that ends it (only when it was measured)
METHOD_ANCHOR = "4-6 are described with their tables."
METHOD_12 = """12. **Nothing failed** (bench/scenarios.py, at down-after 1000 and at 30 000, the figure 3
   harness): a crash restarted at once (`kill -9` of n1's redis-server, then a start from the
   same config file at once) and a backup client (`redis-cli --rdb` from obs against n1, its RDB
   held back by `repl-diskless-sync-delay 20` until every Sentinel lists it as `ip:0`).

"""
