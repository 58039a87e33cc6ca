"""Figures 4-6: the module's overhead (CPU, latency, instruction counts)."""

from __future__ import annotations

from .cells import cell, num

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
