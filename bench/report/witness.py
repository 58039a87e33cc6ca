"""Figure 15: the failsafe (the replicas as witnesses) and the asymmetric cases."""

from __future__ import annotations

from bench.mechanisms import DOWN_AFTER_MS, LABELS

from .cells import _status, cell, count_cell, med, none_, ok_rows, ratio_block, runs_cell, stat, table, two

# the failsafe's two settings side by side, the peers after them
ORDER = ["vip-basic", "vip-sentinel-nofs", "vip-sentinel", "sentinel-script", "keepalived", "keepalived-fast"]
TITLE = "## Figure 15: the failsafe (the replicas as witnesses) and the asymmetric cases"


def _rows(at: dict, name: str, m: str) -> list[dict]:
    return ok_rows(at.get("scenarios", {}).get(name, {}).get(m, []))


def _mechs(at: dict, name: str) -> list[str]:
    per = at.get("scenarios", {}).get(name, {})
    return [m for m in ORDER if m in per]


def _runs(at: dict, name: str, m: str) -> str:
    return runs_cell(len(_rows(at, name, m)), _status(at.get("scenarios", {}).get(name, {}).get(m, [])))


def _failed_over(rows: list[dict]) -> str:
    return f"{sum(1 for r in rows if r.get('promotions'))} of {len(rows)}"


def _s(at: dict, name: str, key, nd: int = 0):
    return lambda m: cell(stat(_rows(at, name, m), key), nd)


def _sum(at: dict, name: str, key) -> callable:
    def f(m: str) -> str:
        rows = _rows(at, name, m)
        vals = [v for v in (key(r) if callable(key) else r.get(key) for r in rows) if v is not None]
        return f"{sum(vals):.0f} in {len(rows)} run{'' if len(rows) == 1 else 's'}" if rows else "—"
    return f


def settings(results: dict) -> list[str]:
    return sorted((results.get("witness") or {}).keys(), key=int)


def witness_section(L: list[str], results: dict, provenance: bool = False) -> None:
    w = results.get("witness") or {}
    if not any(at.get("scenarios") for at in w.values()):
        return
    add = L.append
    add(TITLE)
    add("")
    if provenance:
        meta = results.get("meta", {})
        mc = meta.get("machine", {})
        add(f"Measured apart from the other figures, by `{meta.get('command', 'python3 -m bench.run')}` on "
            f"{meta.get('started', '?')} ({meta.get('duration_s', 0) / 60:.0f} min), repository at "
            f"{mc.get('git_commit', '?')}, module sha256 {mc.get('module_sha256', '?')}…, {mc.get('cpus', '?')} CPUs, "
            f"load average {meta.get('load_at_start', '?')} at the start and {meta.get('load_at_end', '?')} at the "
            "end. The machine has 2 cores and other test runs shared it: read the [min–max] ranges before the "
            "medians.")
        add("")
    add("The Sentinel-confirmed mode with `vip.failsafe yes` (the default: **redis-vip sentinel**) and with "
        "`vip.failsafe no` (**redis-vip sentinel, failsafe no**: the replicas are never asked, the mode as it "
        "was before), beside basic mode, keepalived and the Sentinel script where they apply. (a) is figure 9 "
        "again; (b) and (d) run the three Sentinels on hosts of their own (s1-s3, 192.0.2.31-33), so that "
        "nftables in n1's namespace can cut it off from the Sentinels and not from its replicas, or the "
        "reverse: the Sentinel script does not apply there (its recipe runs beside each Redis node). Values: "
        "median [min–max] over the runs, in ms; writes are counts.")
    add("")
    for da in settings(results):
        at = w[da]
        if not at.get("scenarios"):
            continue
        d = int(da)
        one = d != DOWN_AFTER_MS
        add(f"### Down-after {d if d < 10000 else f'{d:,}'.replace(',', ' ')}" + (" (one run per cell)" if one else ""))
        add("")
        _stopped(L, at)
        _cuts(L, at, d)
        _witness_failover(L, at)
        _forced(L, at)
    add("")


def _stopped(L: list[str], at: dict) -> None:
    name = "sentinels-stopped"
    ms = _mechs(at, name)
    if not ms:
        return
    add = L.append
    add("**(a) Two of three Sentinels stopped for 10 s** (figure 9's scenario: SIGSTOP of n2's and n3's "
        "Sentinels, every Redis node healthy). With the failsafe, n1 keeps the VIP while n2 and n3 confirm "
        "that they follow it.")
    add("")
    table(L, ms, [
        ("runs", lambda m: _runs(at, name, m)),
        ("**VIP outage: ms with no holder**", lambda m: cell(stat(_rows(at, name, m), none_), 0)),
        ("**client's longest gap between acknowledged writes**", _s(at, name, "client_gap_ms")),
        ("n1's release after the stop (— : kept it)", _s(at, name, "release_ms")),
        ("ms with two holders", lambda m: cell(stat(_rows(at, name, m), two), 0)),
        ("promotions", lambda m: count_cell(_rows(at, name, m), "promotions")),
    ])
    add("")
    ratio_block(L, "Ratios, client's longest gap", lambda m: med(stat(_rows(at, name, m), "client_gap_ms")), ms)


def _cuts(L: list[str], at: dict, d: int) -> None:
    add = L.append
    cut_s = 8 if d <= DOWN_AFTER_MS else d / 1000 + 8
    for name, title in (("cut-sentinels", f"**(b) n1 cut off from the three Sentinels, not from its replicas** "
                                          f"({cut_s:g} s; the Sentinels fail it over)"),
                        ("cut-replicas", f"**(b) n1 cut off from its replicas, not from the Sentinels** "
                                         f"({cut_s:g} s; no failover is expected)")):
        ms = _mechs(at, name)
        if not ms:
            continue
        add(title)
        add("")
        table(L, ms, [
            ("runs", lambda m, n=name: _runs(at, n, m)),
            ("runs with a failover", lambda m, n=name: _failed_over(_rows(at, n, m))),
            ("**ms with two holders**", lambda m, n=name: cell(stat(_rows(at, n, m), two), 0)),
            ("**acknowledged writes lost** (missing from the settled master), sum",
             _sum(at, name, "writes_lost")),
            ("writes n1 acknowledged after the promotion, sum", _sum(at, name, "acked_by_old_after_promotion")),
            ("ms with no holder", lambda m, n=name: cell(stat(_rows(at, n, m), none_), 0)),
            ("client's longest gap between acknowledged writes", _s(at, name, "client_gap_ms")),
            ("n1's release after the cut began (— : kept it)", _s(at, name, "release_ms")),
            ("n1's release − the promotion", _s(at, name, "release_minus_promotion_ms")),
            ("the new master's claim − its promotion (module log)",
             _s(at, name, "new_master_claim_minus_promotion_ms")),
        ])
        add("")


def _witness_failover(L: list[str], at: dict) -> None:
    a, b = "witness-failover", "planned-all-up"
    ms = [m for m in ORDER if m in _mechs(at, a) or m in _mechs(at, b)]
    if not ms:
        return
    add = L.append
    add("**(c) A failover while the replicas' confirmations are valid**: n3's Sentinel stopped 2 s before "
        "`SENTINEL FAILOVER` to n2's (n1 then has no spare supporter and asks n2 and n3, which promise not to "
        "claim for the lease they grant), against the same failover with every Sentinel up (nobody asked). "
        "Claim − promotion: \"MASTER MODE enabled\" → the module's \"claiming\" line on the new master.")
    add("")
    table(L, ms, [
        ("runs, one Sentinel stopped / all up", lambda m: f"{_runs(at, a, m)} / {_runs(at, b, m)}"),
        ("**claim − promotion, one Sentinel stopped**", _s(at, a, "new_master_claim_minus_promotion_ms")),
        ("**claim − promotion, every Sentinel up**", _s(at, b, "new_master_claim_minus_promotion_ms")),
        ("promotion → first GARP in obs, one stopped", _s(at, a, "promotion_to_garp_ms")),
        ("promotion → first GARP in obs, all up", _s(at, b, "promotion_to_garp_ms")),
        ("n1's confirmed witnesses before the failover (one stopped)", _s(at, a, "n1_witnesses_confirmed")),
        ("ms with no holder, one stopped / all up",
         lambda m: f"{cell(stat(_rows(at, a, m), none_), 0)} / {cell(stat(_rows(at, b, m), none_), 0)}"),
        ("ms with two holders, one stopped / all up",
         lambda m: f"{cell(stat(_rows(at, a, m), two), 0)} / {cell(stat(_rows(at, b, m), two), 0)}"),
    ])
    add("")
    lines = []
    for m in ms:
        x = med(stat(_rows(at, a, m), "new_master_claim_minus_promotion_ms"))
        y = med(stat(_rows(at, b, m), "new_master_claim_minus_promotion_ms"))
        if x is not None and y is not None:
            lines.append(f"{LABELS[m]}: {x:.0f} ms vs {y:.0f} ms ({x - y:+.0f} ms"
                         + (f", × {x / y:.1f}" if y > 0 else "") + ")")
    if lines:
        add("Claim − promotion, one Sentinel stopped vs every Sentinel up (medians): " + "; ".join(lines) + ".")
        add("")


def _forced(L: list[str], at: dict) -> None:
    add = L.append
    for name, title in (
            ("forced-unreachable", "**(d) A failover forced by a Sentinel n1 cannot reach** (n1 cut off from "
                                   "Sentinel s2, `SENTINEL FAILOVER` to it 2 s later; the cut lasts until the "
                                   "failover is done plus 3 s)"),
            ("forced-at-once", "**(d) The same, `SENTINEL FAILOVER` at once after the cut** (before n1 can "
                               "notice that it lost s2)"),
            ("crash-promotion", "**(d) Crash after the promotion** (`SENTINEL SIMULATE-FAILURE "
                                "crash-after-promotion` and `SENTINEL FAILOVER` to s2, which exits "
                                "right after its replica's promotion; restarted 5 s later)")):
        ms = _mechs(at, name)
        if not ms:
            continue
        add(title)
        add("")
        rows = [
            ("runs", lambda m, n=name: _runs(at, n, m)),
            ("**ms with two holders**", lambda m, n=name: cell(stat(_rows(at, n, m), two), 0)),
            ("**acknowledged writes lost**, sum", _sum(at, name, "writes_lost")),
            ("ms with no holder", lambda m, n=name: cell(stat(_rows(at, n, m), none_), 0)),
            ("client's longest gap between acknowledged writes", _s(at, name, "client_gap_ms")),
        ]
        if name.startswith("forced"):
            rows += [("n1's release − the promotion", _s(at, name, "release_minus_promotion_ms")),
                     ("the new master's claim − its promotion (module log)",
                      _s(at, name, "new_master_claim_minus_promotion_ms")),
                     ("writes n1 acknowledged after the promotion, sum",
                      _sum(at, name, "acked_by_old_after_promotion"))]
        else:
            rows += [("runs in which the Sentinel crashed", lambda m: f"{sum(1 for r in _rows(at, name, m) if r.get('sentinel_crashed'))} of {len(_rows(at, name, m))}"),
                     ("the promoted node's claims, sum", _sum(at, name, "promoted_claims")),
                     ("settled master n1 (promotion undone)",
                      lambda m: f"{sum(1 for r in _rows(at, name, m) if r.get('settled_master') == 'n1')} of "
                                f"{len(_rows(at, name, m))}")]
        table(L, ms, rows)
        add("")
