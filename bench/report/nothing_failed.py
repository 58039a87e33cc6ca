"""Figure 12: nothing failed (a crash restarted at once, a backup client)."""

from __future__ import annotations

from bench.mechanisms import DOWN_AFTER_MS, LABELS

from .cells import _status, _vs, cell, count_cell, med, none_, ok_rows, runs_cell, runs_with, stat, two

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
