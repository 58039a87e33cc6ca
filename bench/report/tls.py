"""Figure 13: TLS to the Sentinels against plaintext (bench/tls_cost.py)."""

from __future__ import annotations

from bench.common import summary

from .cells import cell, num, ok_rows, stat

KINDS = ("tls", "plaintext")


def _ratio_cell(a: dict, b: dict, nd: int = 2) -> str:
    ma, mb = a.get("median"), b.get("median")
    if ma is None or mb is None or mb == 0:
        return "—"
    return f"{ma / mb:.{nd}f}"


def _row(L: list[str], label: str, t: dict, p: dict, nd: int = 1, ratio: bool = True) -> None:
    L.append(f"| {label} | {cell(t, nd)} | {cell(p, nd)} | {_ratio_cell(t, p) if ratio else ''} |")


def _pooled(rows: list[dict], key: str) -> dict:
    """Every Sentinel's value of a per-Sentinel dict, pooled over the runs."""
    return summary(v for r in rows for v in (r.get(key) or {}).values())


def _first_odown(r: dict):
    vals = [v for v in (r.get("odown_ms") or {}).values() if v is not None]
    return min(vals) if vals else None


def _sentinel_us_per_poll(r: dict):
    """What the polls cost one Sentinel per poll it answered (µs, schedstat)."""
    polls = r.get("polls") or 0
    if polls <= 0:
        return None
    return r["extra_sentinel_sched_ms_per_s"] * r["polling"]["seconds"] * 1000 / (polls / 3)


def _count(rows: list[dict], pred) -> str:
    return f"{sum(1 for r in rows if pred(r))} of {len(rows)}"


def tls_provenance(results: dict) -> str:
    meta = results.get("meta", {})
    mc = meta.get("machine", {})
    t = results.get("tls") or {}
    return (f"Run: `{meta.get('command', 'python3 -m bench.run')}` on {meta.get('started', '?')}, repository at "
            f"{mc.get('git_commit', '?')}" + (" (src/ had uncommitted changes)" if mc.get("git_dirty_src") else "")
            + f", module sha256 {mc.get('module_sha256', '?')}…, redis-server {mc.get('redis', '?')} (and its "
            f"Sentinel), {mc.get('cpus', '?')} CPUs; {t.get('reps', '?')} repetitions, TLS and plaintext "
            f"alternating which goes first; load average {t.get('load_at_start', '?')} at the start of the figure "
            f"and {t.get('load_at_end', '?')} at its end. The machine was shared: another benchmark ran beside "
            "this one, so the CPU rows carry its noise (compare the [min–max] ranges); the instruction counts do "
            "not depend on it.")


CAUSE = (
    "Why TLS calls the master down sooner, from Redis's src/sentinel.c: `sentinelCheckSubjectivelyDown` "
    "measures the silence from `link->act_ping_time` (the oldest PING still unanswered) when there is one, and "
    "otherwise, while the link is disconnected, from `link->last_avail_time` (the last PONG). kill -9 closes "
    "the Sentinel's connections to the node; `sentinelReconnectInstance` then opens a new non-blocking "
    "connection. In plaintext the connect is still in progress when it returns, so the link counts as "
    "connected and a PING is queued at once: `act_ping_time` becomes the reconnection time, and +sdown "
    "follows down-after-milliseconds after it (about 1 s after the kill). With `tls-replication yes` it "
    "also calls `instanceLinkNegotiateTLS`, whose `SSL_connect` runs at once on that socket; the node's "
    "kernel has already refused the connection (the namespace is alive, only the process died), "
    "`SSL_connect` fails, the Sentinel logs `-cmd-link-reconnection ... #Failed to initialize TLS`, closes "
    "the link and queues no PING. `act_ping_time` stays 0 (the last PING had been answered), so the silence "
    "is counted from the last PONG, which can be up to one PING period (1 s at this down-after) before the "
    "kill: +sdown comes down-after-milliseconds after the last PONG, anywhere from just after the kill "
    "to about down-after after it (a Sentinel whose last PONG came just before the kill calls it down as "
    "late as in plaintext). "
    "The runs count those failed TLS reconnections before each Sentinel's +sdown (its log at `loglevel "
    "debug`). A host that is gone (no RST) would leave the TLS connect pending, as in plaintext; this "
    "measures a dead process on a live host.")


def tls_section(L: list[str], results: dict, provenance: bool = True) -> None:
    t = results.get("tls")
    if not t:
        return
    add = L.append
    add("## Figure 13: TLS to the Sentinels, against plaintext")
    add("")
    if provenance:
        add(tls_provenance(results))
        add("")
    if t.get("not_ready"):
        add(f"Not measured: {t['not_ready']}.")
        add("")
        return
    add("The TLS deployment of tests/integration/test_tls.py (`bench/tls_cost.py`): every node `port 0`, "
        "`tls-port`, `tls-replication yes`; every Sentinel `port 0`, `tls-port 26379`, `tls-replication yes`; "
        "`tls-auth-clients yes` everywhere; the module with `vip.sentinel-tls yes` and the server's own "
        "certificate files (P-256 keys, one CA). Plaintext: the same without the tls-* lines. Three Sentinels, "
        "quorum 2, down-after 1000, `vip.poll-interval-ms` 100 (the default). A fresh topology per run. Values: "
        "median [min–max] over the runs; the ratio is of the medians, TLS ÷ plaintext.")
    add("")
    fo = t.get("failover") or {}
    ft, fp = ok_rows(fo.get("tls") or []), ok_rows(fo.get("plaintext") or [])
    if ft or fp:
        add("### kill -9 of the master")
        add("")
        add("kill -9 of n1's redis-server (its Sentinel stays up). Times in ms after the kill, from the "
            "Sentinels' and the promoted node's logs (ms resolution) and a capture in the client namespace; the "
            "claim is figure 1's: the promoted node's first gratuitous ARP after its `MASTER MODE enabled` line "
            "(the command that promotes it is encrypted in the TLS runs, so the log line is the anchor in both; "
            "the line is printed after the role change the module acts on, so a claim can come out slightly "
            "negative). The VIP's holders in every node's kernel sampled every 20 ms (the harness's "
            "HolderSampler); the dead node's address has a 1 s lifetime.")
        add("")
        add("| kill -9, down-after 1000 | TLS | plaintext | TLS ÷ plaintext |")
        add("|---|---|---|---|")
        _row(L, "first +sdown (any Sentinel)", stat(ft, "first_sdown_ms"), stat(fp, "first_sdown_ms"), 0)
        _row(L, "+sdown, each Sentinel", _pooled(ft, "sdown_ms"), _pooled(fp, "sdown_ms"), 0)
        _row(L, "first +odown", stat(ft, _first_odown), stat(fp, _first_odown), 0)
        _row(L, "promotion (`MASTER MODE enabled`)", stat(ft, "promotion_ms"), stat(fp, "promotion_ms"), 0)
        _row(L, "first +switch-master", stat(ft, "switch_master_ms"), stat(fp, "switch_master_ms"), 0)
        _row(L, "claim: first GARP − promotion", stat(ft, "claim_ms"), stat(fp, "claim_ms"), 1, ratio=False)
        _row(L, "the module's own claim latency (µs, VIP.STATUS)", stat(ft, "module_claim_latency_us"),
             stat(fp, "module_claim_latency_us"), 0)
        _row(L, "the dead node's VIP gone from its kernel", stat(ft, "dead_node_vip_gone_ms"),
             stat(fp, "dead_node_vip_gone_ms"), 0)
        add(f"| runs where the dead node's kernel still had the VIP at the claim | "
            f"{_count(ft, lambda r: r.get('dead_node_held_at_claim'))} | "
            f"{_count(fp, lambda r: r.get('dead_node_held_at_claim'))} | |")
        _row(L, "ms with the VIP in two kernels (the dead node's and the new master's)", stat(ft, "two_holders_ms"),
             stat(fp, "two_holders_ms"), 0, ratio=False)
        add(f"| Sentinels' reconnections that failed \"to initialize TLS\" before their +sdown (all runs) | "
            f"{sum(sum((r.get('tls_init_failed_until_sdown') or {}).values()) for r in ft)} | "
            f"{sum(sum((r.get('tls_init_failed_until_sdown') or {}).values()) for r in fp)} | |")
        add(f"| runs with a second failover | {_count(ft, lambda r: (r.get('promotions') or 0) > 1)} | "
            f"{_count(fp, lambda r: (r.get('promotions') or 0) > 1)} | |")
        add("")
        held_t = [r for r in ft if r.get("dead_node_held_at_claim")]
        if ft and fp:
            add(f"With TLS the promotion came {cell(stat(ft, 'promotion_ms'), 0)} ms after the kill, before the dead "
                f"node's address ran out ({cell(stat(ft, 'dead_node_vip_gone_ms'), 0)} ms): in {len(held_t)} of "
                f"{len(ft)} TLS runs the dead node's kernel still had the VIP when the new master claimed, for "
                f"{cell(stat(ft, 'two_holders_ms'), 0)} ms of samples with the address in both kernels (no process "
                f"behind it on the dead node). In plaintext the promotion came at "
                f"{cell(stat(fp, 'promotion_ms'), 0)} ms, after the address had gone "
                f"({cell(stat(fp, 'dead_node_vip_gone_ms'), 0)} ms), in "
                f"{len(fp) - sum(1 for r in fp if r.get('dead_node_held_at_claim'))} of {len(fp)} runs.")
            add("")
        add(CAUSE)
        add("")
    loads = t.get("load") or {}
    if loads:
        add("### Polling cost: the Sentinels' CPU, the module's, connections")
        add("")
        add(f"Groups of 3 nodes (a master and 2 replicas, each group its own master name, VIP and port) on ONE set "
            f"of 3 Sentinels; every node polls every Sentinel every 100 ms. For {num(t.get('seconds'), 0)} s with "
            "every module polling, then (after 2 s) for as long with `vip.enabled no` on every node (the module's "
            "connections closed; the Sentinels keep watching the same nodes): the Sentinel processes' CPU "
            "(/proc/<pid>/stat utime+stime, 10 ms ticks; schedstat, ns, beside it), per Sentinel, and the "
            "difference, which is what the polls cost. Polls counted on the Sentinels: their commands processed "
            "(INFO stats) with the module polling, less the same without, over 2.02 commands per poll (SENTINEL "
            "MASTER and REPLICAS, SENTINELS every 5 s). The module's CPU per poll: the run time (schedstat) of "
            "every node's pollers and worker over those polls. Connections: `ss -tnp` in each node's namespace "
            "(the server's established connections to port 26379), and clients named `redis-vip` in each "
            "Sentinel's CLIENT LIST.")
        add("")
        add("| | TLS | plaintext | TLS ÷ plaintext |")
        add("|---|---|---|---|")
        for g in sorted(loads, key=int):
            lt, lp = ok_rows(loads[g].get("tls") or []), ok_rows(loads[g].get("plaintext") or [])
            n = 3 * int(g)
            add(f"| **{n} nodes** ({g} group{'s' if int(g) > 1 else ''}) | | | |")
            _row(L, "one Sentinel's CPU, modules polling (ms/s)", stat(lt, lambda r: r["polling"]["sentinel_ms_per_s"]),
                 stat(lp, lambda r: r["polling"]["sentinel_ms_per_s"]))
            _row(L, "one Sentinel's CPU, `vip.enabled no` (ms/s)",
                 stat(lt, lambda r: r["disabled"]["sentinel_ms_per_s"]),
                 stat(lp, lambda r: r["disabled"]["sentinel_ms_per_s"]))
            _row(L, f"**what the polls of {n} nodes cost one Sentinel (ms/s)**", stat(lt, "extra_sentinel_ms_per_s"),
                 stat(lp, "extra_sentinel_ms_per_s"))
            _row(L, "the same from schedstat (ms/s)", stat(lt, "extra_sentinel_sched_ms_per_s"),
                 stat(lp, "extra_sentinel_sched_ms_per_s"))
            _row(L, "the same per poll answered (µs)", stat(lt, _sentinel_us_per_poll), stat(lp, _sentinel_us_per_poll))
            _row(L, "polls measured ÷ nominal (10 per s per node and Sentinel)",
                 stat(lt, lambda r: r["polls"] / r["polls_nominal"]),
                 stat(lp, lambda r: r["polls"] / r["polls_nominal"]), 2, ratio=False)
            _row(L, "the module's worker + pollers per poll (ms, every node)", stat(lt, "module_ms_per_poll"),
                 stat(lp, "module_ms_per_poll"), 3)
            _row(L, "connections each node keeps (`ss`)",
                 summary(v for r in lt for v in r["conns_ss"].values()),
                 summary(v for r in lp for v in r["conns_ss"].values()), 0, ratio=False)
            _row(L, "`redis-vip` clients on each Sentinel (CLIENT LIST)",
                 summary(v for r in lt for v in r["conns_client_list"].values()),
                 summary(v for r in lp for v in r["conns_client_list"].values()), 0, ratio=False)
        add("")
    cg = t.get("callgrind") or {}
    if cg.get("not_ready"):
        add(f"Instructions per poll: not measured ({cg['not_ready']}).")
        add("")
    elif cg:
        ct, cp = cg.get("tls") or {}, cg.get("plaintext") or {}
        add("### Instructions per poll (callgrind)")
        add("")
        add("One node (`bench/callgrind.py`'s set-up) with the module under `valgrind --tool=callgrind "
            "--separate-threads=yes` and one Sentinel in its namespace (quorum 1), holding the VIP; two runs of "
            "different lengths, differenced (start-up, the TLS handshake and shutdown cancel out): the "
            "instructions of every thread but the main one (the module's worker, its poller and its "
            "address watcher `vip-watch`; Redis' bio threads sleep) over the polls the Sentinel answered in between (its commands processed, over "
            "2.02 per poll: it has no peers and watches no replica, so every command is a poll's).")
        add("")
        add("| | TLS | plaintext | TLS ÷ plaintext |")
        add("|---|---|---|---|")

        def polls(c: dict) -> str:
            a, b = c.get("short") or {}, c.get("long") or {}
            if "polls" not in a or "polls" not in b:
                return "—"
            return f"{b['polls'] - a['polls']:.0f} ({a['seconds']:.0f} s and {b['seconds']:.0f} s runs)"

        ir_t, ir_p = ct.get("ir_per_poll"), cp.get("ir_per_poll")
        add(f"| instructions per poll, worker + poller | {num(ir_t, 0)} | {num(ir_p, 0)} | "
            f"{num(ir_t / ir_p, 2) if ir_t and ir_p else '—'} |")
        add(f"| polls differenced | {polls(ct)} | {polls(cp)} | |")
        for k, c in (("TLS", ct), ("plaintext", cp)):
            if c.get("harness_error"):
                add(f"| {k}: harness error | {c['harness_error']} | | |")
        add("")
