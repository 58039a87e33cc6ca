"""Figures 4-6: what the module costs the server.

4. throughput: redis-benchmark SET/GET (50 clients, pipeline 16) against servers without the
   module, with it in basic mode and in the Sentinel-confirmed mode, runs alternating in
   rotated order;
5. cost at rest: CPU time and wake-ups of the module's threads, server RSS with and without;
6. main-thread effect: PING round trips while REPLICAOF flips the role every 50 ms (a claim
   and a release per 100 ms with the module), with and without the module.

Servers are pinned to CPU 0 and the load generators to CPU 1 (when there are 2+ CPUs), so
the module's worker shares the core of the server's main thread: the worst case for figure 6.
In figures 4 and 5 every server is monitored by Sentinels (as in production, and so that the
Sentinel-confirmed mode is confirmed and holds): the same Sentinel traffic reaches every
configuration. The Sentinel-mode server uses its own VIP (192.0.2.101) so that two holders on
one bridge do not announce the same address.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import BENCH_DIR, ThreadSnapshot, log, percentile, summary
from bench.mechanisms import DOWN_AFTER_MS, module_path, sentinel_mode_args
from tests.harness.netns import VIP4, wait_until
from tests.harness.processes import SentinelNode
from tests.harness.topology import Topology

PINGER = BENCH_DIR / "pinger.py"
FLIPPER = BENCH_DIR / "flipper.py"
NCPU = os.cpu_count() or 1
SERVER_PIN = ["taskset", "-c", "0"] if NCPU >= 2 else []
LOAD_PIN = ["taskset", "-c", "1"] if NCPU >= 2 else []

CONFIGS = ["none", "basic", "sentinel"]  # without the module, basic mode, Sentinel-confirmed mode
MODULE_CONFIGS = ["basic", "sentinel"]
VIP4_SENTINEL = "192.0.2.101/24"


def _group(topo: Topology, nodes: list[str], cfg: str, **kw):
    """A group (first node master) in one configuration; the Sentinel mode asks the Sentinels
    that ``_sentinels`` starts in the same node namespaces."""
    if cfg == "none":
        return topo.redis(nodes=nodes, **kw)
    if cfg == "basic":
        return topo.redis(nodes=nodes, module=module_path(), vip=VIP4, **kw)
    return topo.redis(nodes=nodes, module=module_path(), vip=VIP4_SENTINEL,
                      module_args=sentinel_mode_args(topo, nodes), **kw)


def _sentinels(g, quorum: int) -> None:
    """One Sentinel per node of the group, monitoring its first node (started once the replicas
    are online: field notes)."""
    master = next(iter(g.nodes.values()))
    for name in g.nodes:
        s = SentinelNode(g.topo, name, master_addr=master.address, quorum=quorum, down_after_ms=DOWN_AFTER_MS)
        g.sentinels[name] = s
        s.start()
    for s in g.sentinels.values():
        s.wait_ready()
    if len(g.nodes) > 1:
        g.wait_sentinels_ready(40)


def _wait_holding(node, timeout: float = 30) -> None:
    wait_until(lambda: str(node.vip_status().get("holding")) == "1", timeout, 0.1,
               msg=lambda: f"{node.name} holding the VIP (VIP.STATUS {node.vip_status()})")


def _rotated(items: list, k: int) -> list:
    k %= len(items)
    return items[k:] + items[:k]


# ----------------------------------------------------------------------------------------------
# figure 4


def _redis_benchmark(topo: Topology, node: str, requests: int) -> dict[str, float]:
    cp = topo.run(node, *LOAD_PIN, "redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "-c", "50",
                  "-P", "16", "-n", str(requests), "-t", "set,get", "--csv", timeout=600)
    out = {}
    for line in cp.stdout.splitlines():
        parts = [p.strip('"') for p in line.split(",")]
        if len(parts) >= 2 and parts[0] in ("SET", "GET"):
            out[parts[0]] = float(parts[1])
    if set(out) != {"SET", "GET"}:
        raise RuntimeError(f"redis-benchmark output not understood: {cp.stdout!r} {cp.stderr!r}")
    return out


def throughput(reps: int, requests: int, keep: bool) -> dict:
    cfgs = list(CONFIGS)
    runs: dict[str, list[dict]] = {c: [] for c in cfgs}
    with Topology("bthr", nodes=len(cfgs), keep_workdir=keep) as topo:
        nodes = {c: f"n{i + 1}" for i, c in enumerate(cfgs)}
        groups = {c: _group(topo, [nodes[c]], c, wrapper=SERVER_PIN) for c in cfgs}
        for g in groups.values():
            g.start(wait_replication=False)
        for g in groups.values():
            _sentinels(g, quorum=1)
        _wait_holding(groups["sentinel"][nodes["sentinel"]])
        for c in cfgs:  # warm-up (allocator, page cache, CPU frequency)
            _redis_benchmark(topo, nodes[c], max(50_000, requests // 10))
        for rep in range(reps):
            for c in _rotated(cfgs, rep):
                pid = groups[c][nodes[c]].pid
                s0 = ThreadSnapshot(pid)
                r = _redis_benchmark(topo, nodes[c], requests)
                d = s0.delta(ThreadSnapshot(pid))
                # server CPU per request (SET and GET runs together): insensitive to time the
                # server spent descheduled by other load on the machine
                r["proc_cpu_ns_per_req"] = d["proc_cpu_ms"] * 1e6 / (2 * requests)
                main = d["threads"].get("<main>", {}).get("cpu_ms")
                r["main_cpu_ns_per_req"] = main * 1e6 / (2 * requests) if main is not None else None
                r["rep"] = rep
                runs[c].append(r)
            log(f"  throughput rep {rep + 1}/{reps}: " + ", ".join(
                f"{c} SET {runs[c][-1]['SET']:.0f} GET {runs[c][-1]['GET']:.0f}" for c in cfgs))
        status = {}
        for c in MODULE_CONFIGS:
            try:
                st = groups[c][nodes[c]].vip_status()
                status[c] = {k: st.get(k) for k in ("state", "mode", "holding", "reason")}
            except Exception as exc:  # noqa: BLE001
                status[c] = {"error": str(exc)}
    res: dict = {"requests": requests, "reps": reps, "runs": runs, "module_status": status}
    for c in cfgs:
        res[f"{c}_main_cpu_ns_per_req"] = summary([r["main_cpu_ns_per_req"] for r in runs[c]])
    for c in MODULE_CONFIGS:
        res[f"ratio_{c}_main_cpu"] = summary([ (a["main_cpu_ns_per_req"] / b["main_cpu_ns_per_req"])
                                               if a["main_cpu_ns_per_req"] and b["main_cpu_ns_per_req"] else None
                                               for a, b in zip(runs[c], runs["none"])])
    for test in ("SET", "GET"):
        for c in cfgs:
            res[f"{c}_{test}"] = summary([r[test] for r in runs[c]])
        for c in MODULE_CONFIGS:
            # ratio within each repetition (the runs of one repetition are back to back)
            res[f"ratio_{c}_{test}"] = summary([a[test] / b[test] for a, b in zip(runs[c], runs["none"])])
    return res


# ----------------------------------------------------------------------------------------------
# figure 5


def at_rest(window_s: float, keep: bool) -> dict:
    """Module-less and module pairs (master + replica, one Sentinel per node) side by side,
    idle for window_s."""
    res: dict = {"window_s": window_s}
    with Topology("brst", nodes=6, keep_workdir=keep) as topo:
        pairs = {"none": ["n1", "n2"], "basic": ["n3", "n4"], "sentinel": ["n5", "n6"]}
        groups = {cfg: _group(topo, nodes, cfg) for cfg, nodes in pairs.items()}
        for g in groups.values():
            g.start()
        for g in groups.values():
            _sentinels(g, quorum=2)
        _wait_holding(groups["sentinel"]["n5"])
        time.sleep(2.0)  # let the claims and the first announcement bursts finish
        first = {}
        for cfg, nodes in pairs.items():
            for role, n in zip(("master", "replica"), nodes):
                first[(cfg, role)] = ThreadSnapshot(groups[cfg][n].pid)
        time.sleep(window_s)
        for cfg, nodes in pairs.items():
            for role, n in zip(("master", "replica"), nodes):
                node = groups[cfg][n]
                d = first[(cfg, role)].delta(ThreadSnapshot(node.pid))
                if cfg != "none":
                    try:
                        st = node.vip_status()
                        d["vip_state"] = st.get("state")
                        d["vip_reason"] = st.get("reason")
                    except Exception as exc:  # noqa: BLE001
                        d["vip_state"] = f"error: {exc}"
                res[f"{cfg}_{role}"] = d
    return res


# ----------------------------------------------------------------------------------------------
# figure 6 (and the flapping half of figure 5)


def _latencies(path) -> list[float]:
    try:
        return sorted(float(x) for x in open(path).read().split())
    except FileNotFoundError:
        return []


def _pct(lat: list[float]) -> dict:
    return {"n": len(lat), "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99),
            "max_us": lat[-1] if lat else None}


def main_thread(reps: int, duration_s: float, keep: bool) -> dict:
    cfgs = ["none", "basic"]
    runs: dict[str, list[dict]] = {f"{c}_{load}": [] for c in cfgs for load in ("rest", "flap")}
    with Topology("bmt", nodes=2, keep_workdir=keep) as topo:
        nodes = {"none": "n1", "basic": "n2"}
        groups = {c: _group(topo, [nodes[c]], c, wrapper=SERVER_PIN) for c in cfgs}
        for g in groups.values():
            g.start(wait_replication=False)
        time.sleep(1.0)
        py = sys.executable
        for rep in range(reps):
            for c in _rotated(cfgs, rep):
                node = groups[c][nodes[c]]
                for load in ("rest", "flap"):
                    tag = f"{c}-{load}-{rep}"
                    pfile = topo.workdir / f"ping-{tag}.txt"
                    ffile = topo.workdir / f"flip-{tag}.txt"
                    st0 = node.vip_status() if c != "none" else {}
                    snap0 = ThreadSnapshot(node.pid)
                    pinger = topo.popen(nodes[c], *LOAD_PIN, py, str(PINGER), "--duration-s", str(duration_s),
                                        "--out", str(pfile), stderr=subprocess.PIPE)
                    flipper = None
                    if load == "flap":
                        time.sleep(0.1)
                        flipper = topo.popen(nodes[c], *LOAD_PIN, py, str(FLIPPER), "--period-ms", "50",
                                             "--duration-s", str(max(0.5, duration_s - 0.3)), "--out", str(ffile),
                                             stderr=subprocess.PIPE)
                    for p in (pinger, flipper):
                        if p is not None:
                            rc = p.wait(timeout=duration_s + 30)
                            if rc != 0:
                                raise RuntimeError(f"{tag}: probe exited {rc}: {p.stderr.read().decode()[-500:]}")
                    time.sleep(0.3)  # the last release/claim settles
                    snap1 = ThreadSnapshot(node.pid)
                    r = {"rep": rep, **_pct(_latencies(pfile)), "cost": snap0.delta(snap1)}
                    if load == "flap":
                        flips = _latencies(ffile)
                        r["flips"] = len(flips)
                        r["replicaof_us"] = _pct(flips)
                    if c != "none":
                        st1 = node.vip_status()
                        r["claims"] = int(st1.get("claims", 0)) - int(st0.get("claims", 0))
                        r["releases"] = int(st1.get("releases", 0)) - int(st0.get("releases", 0))
                        r["announcements"] = (int(st1.get("announcements_sent", 0))
                                              - int(st0.get("announcements_sent", 0)))
                    runs[f"{c}_{load}"].append(r)
            log(f"  main-thread rep {rep + 1}/{reps}: " + ", ".join(
                f"{k} p99 {v[-1]['p99_us']:.0f}us max {v[-1]['max_us']:.0f}us" for k, v in runs.items() if v))
    res: dict = {"duration_s": duration_s, "reps": reps, "runs": runs}
    for k, rs in runs.items():
        for m in ("p50_us", "p99_us", "max_us"):
            res[f"{k}_{m}"] = summary([r[m] for r in rs])
        if k.endswith("flap"):
            res[f"{k}_replicaof_p99_us"] = summary([r["replicaof_us"]["p99_us"] for r in rs])
            res[f"{k}_replicaof_max_us"] = summary([r["replicaof_us"]["max_us"] for r in rs])
            res[f"{k}_main_cpu_ms"] = summary([r["cost"]["threads"].get("<main>", {}).get("cpu_ms") for r in rs])
            res[f"{k}_proc_cpu_ms"] = summary([r["cost"]["proc_cpu_ms"] for r in rs])
    fl = runs["basic_flap"]
    res["basic_flap_worker_cpu_ms_per_flip"] = summary(
        [r["cost"]["threads"].get("vip-worker", {}).get("cpu_ms", 0) / r["flips"] for r in fl if r.get("flips")])
    res["basic_flap_worker_wakeups_per_flip"] = summary(
        [r["cost"]["threads"].get("vip-worker", {}).get("wakeups", 0) / r["flips"] for r in fl if r.get("flips")])
    res["basic_flap_rss_growth_kib"] = summary(
        [r["cost"]["rss_kib_after"] - r["cost"]["rss_kib_before"] for r in fl])
    res["basic_flap_claims"] = summary([r.get("claims") for r in fl])
    res["basic_flap_releases"] = summary([r.get("releases") for r in fl])
    return res
