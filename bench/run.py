#!/usr/bin/env python3
"""redis-vip benchmarks, basic and Sentinel-confirmed mode, side by side with a Sentinel
reconfig script and keepalived, all at Sentinel down-after-milliseconds 1000 (figure 12 also at
30000, Sentinel's default; figure 14, with --down-after, the failover figures at other settings).

    python3 -m bench.run            # full run (~77 min on 2 cores, and figure 15 ~2.5 h more: 20 runs
                                    # per cell; --witness-reps 3 makes that ~35 min), writes docs/benchmarks.md
    python3 -m bench.run --quick    # smoke run (~17 min), prints the tables only
    make bench ARGS="--quick"

Run as root from the repository root; the module must be built (`cargo build --release`).
Everything runs inside network namespaces built by tests/harness/topology.py (documentation
addresses only; nothing in the root namespace). Figures (see docs/benchmarks.md):
  1  promotion -> first gratuitous ARP from the new master, seen by the client namespace
  2  client outage through the VIP in a Sentinel failover after kill -9 of the master
  3  stale restart of the old master, isolation of the master (link down 8 s): ms with two
     holders / no holder, writes the old master acknowledged after the promotion, release time
  4  redis-benchmark throughput with vs without the module (basic, Sentinel mode); 4b callgrind
  5  cost at rest (thread CPU, wake-ups, RSS) and under role flapping
  6  PING latency on the main thread during a burst of claims and releases
  7  planned SENTINEL FAILOVER: the old master's release against the leader's choice and the
     new master's first GARP; writes the old master acknowledged after the promotion
  8  busy master (DEBUG SLEEP 5): two holders, re-claims after waking
  9  two of three Sentinels stopped for 10 s: VIP outage
 10  start-up: module load (keepalived start) -> VIP claimed
 11  routed mode (BGP; bench/routed_mode.py): planned SENTINEL FAILOVER and kill -9 with BIRD, then
     FRR, on the nodes: promotion -> new route at the router, the old route's withdrawal, ms with
     two next hops / no route, client errors, writes lost, client outage (redis-vip Sentinel mode)
 12  nothing failed, at down-after 1000 and 30000: the master's redis-server killed and started
     again at once, and a backup client (redis-cli --rdb) against the master: client gap, ms with
     no holder / two holders, failovers, writes lost
 13  TLS to the Sentinels against plaintext (bench/tls_cost.py): kill -9 timings (+sdown, promotion,
     claim, the dead node's address), the Sentinels' CPU from 3 and 30 polling nodes, connections
     per node, the module's instructions per poll (callgrind)
 14  figures 1-2, 3, 7 and 9 at the other settings of --down-after (e.g. 1000,5000,30000; an
     isolation there lasts down-after + 8 s, the Sentinels' stop stays 10 s), a row group per
     setting; with
     --mechanisms ...,keepalived-fast also keepalived with sub-second VRRP timers
 15  the failsafe (the replicas as witnesses; redis-vip sentinel with vip.failsafe yes and no) and
     the asymmetric cases (bench/witness.py): (a) figure 9 again; (b) the master cut off from the
     Sentinels but not its replicas, and from its replicas but not the Sentinels; (c) a failover
     while the replicas' confirmations are valid vs every Sentinel up; (d) a failover forced by a
     Sentinel the master cannot reach, and a Sentinel crashing after the promotion. At
     --witness-down-after 1000 and 30000 (one run per cell at 30000)
The benchmark exits non-zero only when the harness itself breaks; a mechanism that never
converges is a result and shows in the table.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

from bench.common import log
from bench.mechanisms import DOWN_AFTER_MS
from tests.harness.netns import REPO_ROOT, list_netns, sweep_stale_namespaces

TOOLS = {  # command -> Debian package
    "ip": "iproute2", "tcpdump": "tcpdump", "redis-server": "redis-server", "redis-benchmark": "redis-tools",
    "redis-cli": "redis-tools", "keepalived": "keepalived", "arping": "iputils-arping", "taskset": "util-linux",
}
# figure 11 only; installed by scripts/install-deps.sh alone (it keeps their packaged services
# from starting: nothing may run in the root namespace)
ROUTED_PACKAGES = ["bird2", "frr"]


# ----------------------------------------------------------------------------------------------
# environment


def arping_is_iputils() -> bool:
    try:
        out = subprocess.run(["arping", "-V"], capture_output=True, text=True, timeout=5)
        return "iputils" in (out.stdout + out.stderr)
    except (OSError, subprocess.TimeoutExpired):
        return False


def routed_missing() -> str | None:
    from bench import routed_mode
    return routed_mode.available()


def check_environment(install: bool, routed: bool = False) -> None:
    if os.geteuid() != 0:
        sys.exit("bench/run.py needs root (it builds network namespaces)")
    missing = sorted({pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None})
    if shutil.which("arping") and not arping_is_iputils():
        missing.append("iputils-arping")
    if routed and routed_missing() and install:
        script = REPO_ROOT / "scripts" / "install-deps.sh"
        log(f"figure 11 needs {' and '.join(ROUTED_PACKAGES)}: installing with {script.name}")
        subprocess.run(["bash", str(script)], check=False, env=dict(os.environ, SKIP_PIP="1"))
    if routed and routed_missing():
        log(f"figure 11 will be reported as not measured: {routed_missing()}")
    if missing:
        if not install:
            sys.exit(f"missing packages: {' '.join(missing)} (apt-get install -y {' '.join(missing)})")
        script = REPO_ROOT / "scripts" / "install-deps.sh"
        log(f"missing {' '.join(missing)}: installing")
        if script.exists():
            subprocess.run(["bash", str(script)], check=False, env=dict(os.environ, SKIP_PIP="1"))
        still = sorted({pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None})
        if still:
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-q"], check=False, env=env)
            subprocess.run(["apt-get", "install", "-y", "-q", *still], check=True, env=env)
    if importlib.util.find_spec("redis") is None:
        sys.exit("python package 'redis' missing: python3 -m pip install -r tests/integration/requirements.txt")
    from bench.mechanisms import module_path
    so = Path(module_path())
    if not so.exists():
        log(f"{so} missing: cargo build --release")
        subprocess.run(["cargo", "build", "--release"], cwd=REPO_ROOT, check=True)


def machine() -> dict:
    def cmd(*a: str) -> str:
        try:
            cp = subprocess.run(list(a), capture_output=True, text=True, timeout=10)
            return (cp.stdout.strip() or cp.stderr.strip())
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    osname = "?"
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    from bench.mechanisms import module_path
    so = Path(module_path())
    sha = hashlib.sha256(so.read_bytes()).hexdigest()[:12] if so.exists() else "?"
    mem_kib = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "os": osname, "kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": cpu,
        "mem_gib": round(mem_kib / 1048576, 1),
        "redis": cmd("redis-server", "--version").split(" v=")[1].split()[0] if " v=" in cmd("redis-server", "--version") else "?",
        "keepalived": (cmd("keepalived", "--version") or "?").splitlines()[0] if shutil.which("keepalived") else "?",
        "arping": (cmd("arping", "-V") or "?").splitlines()[0],
        "bird": (cmd("bird", "--version") or "?").splitlines()[0] if shutil.which("bird") else "?",
        "frr": (cmd("/usr/lib/frr/zebra", "--version") or "?").splitlines()[0]
        if os.access("/usr/lib/frr/zebra", os.X_OK) else "?",
        "python": platform.python_version(),
        "git_commit": cmd("git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"),
        "git_dirty_src": bool(cmd("git", "-C", str(REPO_ROOT), "status", "--porcelain", "src")),
        "module": str(so), "module_sha256": sha,
        "module_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(so.stat().st_mtime)) if so.exists() else "?",
    }


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def other_netns() -> int:
    """Namespaces of other sessions' tests running now (a hint that the machine was shared)."""
    mine = str(os.getpid())
    return len([n for n in list_netns() if mine not in n])


# ----------------------------------------------------------------------------------------------
# running the figures


# (full run, --quick) of each option that sizes the run
RUN_SIZES = {
    "reps": (7, 2), "scenario_reps": (5, 1), "stop_reps": (3, 1), "startup_reps": (5, 1), "routed_reps": (5, 2),
    "nothing_failed_reps": (3, 1), "tls_reps": (5, 1), "tls_seconds": (10.0, 3.0), "manual_count": (30, 10), "throughput_reps": (12, 2),
    "requests": (1_000_000, 200_000), "idle_s": (30.0, 5.0), "flap_s": (5.0, 2.0), "flap_reps": (5, 2),
}


class Runner:
    def __init__(self, args):
        self.args = args
        self.harness_errors: list[str] = []
        self.load_samples: list[tuple[str, str, int]] = []

    def sample_load(self, what: str) -> None:
        self.load_samples.append((what, loadavg(), other_netns()))

    def attempt(self, what: str, fn, *a, **kw):
        """Run one repetition; a NotReady is a result; anything else is retried once and then
        recorded as a harness error."""
        from bench.mechanisms import NotReady
        for attempt in (1, 2):
            try:
                return fn(*a, **kw)
            except NotReady as exc:
                log(f"  {what}: not ready: {exc}")
                return {"not_ready": str(exc)}
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001
                tb = traceback.format_exc(limit=6)
                log(f"  {what}: attempt {attempt} failed: {type(exc).__name__}: {exc}")
                if attempt == 2:
                    self.harness_errors.append(f"{what}: {type(exc).__name__}: {exc}\n{tb}")
                    return {"harness_error": f"{type(exc).__name__}: {exc}"}
                time.sleep(2)

    def interleaved(self, reps: int, keys: list, name: Callable[[Any], str], run: Callable[[Any], dict],
                    rows: Callable[[Any], list], describe: Callable[[Any, dict], Optional[str]],
                    load: Callable[[int], str]) -> None:
        """``reps`` repetitions of run(key), every key in turn within a repetition; each result goes
        to rows(key), and a key whose set-up was not ready is skipped from then on. describe(key,
        result) is logged with the repetition's time (None: nothing logged)."""
        skip: set = set()
        for rep in range(reps):
            for k in keys:
                if k in skip:
                    continue
                t0 = time.time()
                r = self.attempt(f"{name(k)} rep {rep + 1}", run, k)
                rows(k).append(r)
                if "not_ready" in r:
                    skip.add(k)
                    continue
                text = describe(k, r)
                if text is not None:
                    log(f"  {name(k)} rep {rep + 1}/{reps}: {text}  [{time.time() - t0:.0f} s]")
            self.sample_load(load(rep))

    def failovers(self, mechs: list[str], reps: int, down_after_ms: int = DOWN_AFTER_MS,
                  out: Optional[dict] = None) -> dict:
        from bench import failover
        out = out if out is not None else {}
        out.update({m: [] for m in mechs})
        da = "" if down_after_ms == DOWN_AFTER_MS else f" down-after {down_after_ms}"
        self.interleaved(
            reps, mechs, lambda m: f"failover {m}{da}",
            lambda m: failover.failover_rep(m, down_after_ms, self.args.writer_interval_ms, self.args.keep),
            out.__getitem__,
            lambda m, r: (f"promotion->GARP {fmt(r.get('promotion_to_garp_ms'))} ms, "
                          f"outage {fmt(r.get('outage_ms'))} ms (promotion {fmt(r.get('sentinel_promotion_ms'))} ms), "
                          f"promotions {r.get('promotions')}, settled on {r.get('settled_master')}, "
                          f"writer {fmt(r.get('writer_rate_per_s'), 0)}/s"),
            lambda rep: f"failover{da} rep {rep + 1}")
        return out

    def scenarios(self, names: list[str], mechs: list[str], reps: int, results: dict,
                  down_after_ms: int = DOWN_AFTER_MS, table: Optional[dict] = None) -> None:
        """Repetitions of the named scenarios (scenarios.SCENARIOS, or ``table``'s: name ->
        (figure, function)) into results["scenarios"], mechanisms interleaved within a repetition
        (filled as it goes)."""
        from bench import scenarios
        per = results.setdefault("scenarios", {})
        da = "" if down_after_ms == DOWN_AFTER_MS else f" down-after {down_after_ms}"
        for name in names:
            fn = (table or scenarios.SCENARIOS)[name][1]
            per[name] = {m: [] for m in mechs}
            self.interleaved(
                reps, mechs, lambda m: f"{name} {m}{da}", lambda m: fn(m, down_after_ms, self.args.keep),
                per[name].__getitem__,
                lambda m, r: (f"two holders {fmt(r['total']['two_holders_ms'], 0)} ms, "
                              f"no holder {fmt(r['total']['no_holder_ms'], 0)} ms, "
                              f"release {fmt(r.get('release_ms'), 0)} ms, "
                              f"old master's acks after the promotion {r.get('acked_by_old_after_promotion')}, "
                              f"promotions {r.get('promotions')}, client gap {fmt(r.get('client_gap_ms'), 0)} ms")
                if "total" in r else None,
                lambda rep: f"{name}{da} rep {rep + 1}")

    def nothing_failed(self, mechs: list[str], reps: int, down_afters: list[int], results: dict) -> None:
        """Figure 12: the scenarios where nothing failed (scenarios.NOTHING_FAILED) at each
        down-after into results["nothing_failed"] = {down_after (str): {scenario: {mech: [rows]}}},
        mechanisms interleaved within a repetition (filled as it goes: an interrupted run keeps
        what it measured)."""
        from bench import scenarios
        out: dict = results.setdefault("nothing_failed", {})
        for da in down_afters:
            per = out.setdefault(str(da), {name: {m: [] for m in mechs} for name in scenarios.NOTHING_FAILED})

            def describe(key: tuple[str, str], r: dict) -> Optional[str]:
                name = key[0]
                if "total" not in r:
                    return None
                return (f"client gap {fmt(r.get('client_gap_ms'), 0)} ms, "
                        f"no holder {fmt(r['total']['no_holder_ms'], 0)} ms, "
                        f"two holders {fmt(r['total']['two_holders_ms'], 0)} ms, "
                        f"promotions {r.get('promotions')}, writes lost {r.get('writes_lost')}"
                        + (f", VIP for good on n1 {fmt(r.get('vip_back_ms_after_ready'), 0)} ms after the "
                           f"restarted server answered, left n1 {r.get('vip_departures')} times, "
                           f"+sdown from {r.get('sdown_sentinels')} Sentinels"
                           + (f", release: {r['first_release']}" if r.get("first_release") else "")
                           if name == "crash-restart" else
                           f", listed as ip:0 by {len(r.get('listed_by_at_end') or [])} Sentinels"))

            self.interleaved(
                reps, [(name, m) for name in scenarios.NOTHING_FAILED for m in mechs],
                lambda k: f"{k[0]} {k[1]} down-after {da}",
                lambda k: scenarios.SCENARIOS[k[0]][1](k[1], da, self.args.keep),
                lambda k: per[k[0]][k[1]], describe,
                lambda rep: f"nothing failed, down-after {da}, rep {rep + 1}")

    def witness(self, results: dict) -> None:
        """Figure 15: the failsafe and the asymmetric cases into results["witness"][<down-after>]
        (each like a run's top level: {"scenarios": {name: {mech: [rows]}}}), filled as it goes.
        Part (a) is figure 9's scenario, at down-after 1000 only (figure 14 has it at the others)."""
        from bench import witness
        a = self.args
        out = results.setdefault("witness", {})
        for da in a.witness_down_after_list:
            at = out.setdefault(str(da), {})
            cheap = da != DOWN_AFTER_MS  # one run of each at the other settings
            for part in ("a", "b", "c", "d"):
                names = (["sentinels-stopped"] if part == "a" else
                         [n for n, (p, _f) in witness.SCENARIOS.items() if p == part])
                names = [n for n in names if not a.witness_scenario_list or n in a.witness_scenario_list]
                if not names or (part == "a" and cheap):
                    continue
                mechs = [m for m in witness.MECHS[part]
                         if m in a.mech_list or (m == "vip-sentinel-nofs" and "vip-sentinel" in a.mech_list)]
                for name in names:
                    reps = 1 if cheap else (a.witness_reps or witness.REPS["a" if part == "a" else name])
                    log(f"figure 15{part}: {name} at down-after {da}, {reps} reps x {', '.join(mechs)}")
                    self.scenarios([name], mechs, reps, at, da, None if part == "a" else witness.SCENARIOS)

    def routed(self, speakers: list[str], reps: int) -> dict:
        """Figure 11: planned SENTINEL FAILOVERs and kill -9s with each routing daemon on the
        nodes, interleaved within a repetition: {scenario: {speaker: [rows]}}."""
        from bench import routed_mode
        out: dict = {s: {sp: [] for sp in speakers} for s in routed_mode.SCENARIOS}
        missing = routed_mode.available()
        if missing:
            for s in out:
                for sp in speakers:
                    out[s][sp].append({"not_ready": missing})
            return out
        routed_mode.prepare()
        for rep in range(reps):
            for s in routed_mode.SCENARIOS:
                for sp in speakers:
                    t0 = time.time()
                    r = self.attempt(f"routed {s} {sp} rep {rep + 1}", routed_mode.REPS[s], sp, self.args.keep)
                    out[s][sp].append(r)
                    if "not_ready" not in r and "harness_error" not in r:
                        log(f"  routed {s} {sp} rep {rep + 1}/{reps}: {routed_mode.describe(r)}  "
                            f"[{time.time() - t0:.0f} s]")
            self.sample_load(f"routed rep {rep + 1}")
        return out

    def tls(self, reps: int, seconds: float, groups: list[int], callgrind: bool, results: dict) -> dict:
        """Figure 13: TLS against plaintext, alternating which goes first in each repetition;
        filled as it goes: {"failover": {kind: [rows]}, "load": {groups: {kind: [rows]}},
        "callgrind": {kind: pair}}."""
        from bench import tls_cost
        kinds = ("tls", "plaintext")
        out: dict = {"failover": {k: [] for k in kinds}, "load": {str(g): {k: [] for k in kinds} for g in groups},
                     "callgrind": {}, "seconds": seconds, "reps": reps, "load_at_start": loadavg()}
        results["tls"] = out  # filled as it goes: an interrupted run keeps what it measured
        missing = tls_cost.available()
        if missing:
            out["not_ready"] = missing
            return out
        for rep in range(reps):
            order = kinds if rep % 2 == 0 else kinds[::-1]
            for k in order:
                t0 = time.time()
                r = self.attempt(f"tls kill -9 {k} rep {rep + 1}", tls_cost.failover_rep, k == "tls", self.args.keep)
                out["failover"][k].append(r)
                log(f"  kill -9 {k} rep {rep + 1}/{reps}: +sdown {fmt(r.get('first_sdown_ms'), 0)} ms, promotion "
                    f"{fmt(r.get('promotion_ms'), 0)} ms, claim {fmt(r.get('claim_ms'))} ms after it, dead node "
                    f"held at the claim: {r.get('dead_node_held_at_claim')}  [{time.time() - t0:.0f} s]")
            for g in groups:
                for k in order:
                    t0 = time.time()
                    r = self.attempt(f"tls load {3 * g} nodes {k} rep {rep + 1}", tls_cost.load_rep, k == "tls", g,
                                     seconds, self.args.keep)
                    out["load"][str(g)][k].append(r)
                    log(f"  {3 * g} nodes {k} rep {rep + 1}/{reps}: Sentinel +{fmt(r.get('extra_sentinel_ms_per_s'))} "
                        f"ms/s, module {fmt(r.get('module_ms_per_poll'), 3)} ms/poll  [{time.time() - t0:.0f} s]")
            self.sample_load(f"tls rep {rep + 1}")
        if callgrind:
            from bench import callgrind as vprof
            if vprof.available():
                for k in kinds:
                    log(f"  callgrind {k}: runs of {seconds:.0f} s and {3 * seconds:.0f} s")
                    out["callgrind"][k] = self.attempt(f"tls callgrind {k}", tls_cost.callgrind_pair, k == "tls",
                                                       seconds, 3 * seconds, self.args.keep)
            else:
                out["callgrind"]["not_ready"] = "valgrind not installed"
        out["load_at_end"] = loadavg()
        return out

    def startups(self, mechs: list[str], reps: int) -> dict:
        from bench import startup
        out: dict = {m: [] for m in mechs if m in startup.MEASURED}
        for rep in range(reps):
            for m in out:
                t0 = time.time()
                r = self.attempt(f"start-up {m} rep {rep + 1}", startup.startup_rep, m, DOWN_AFTER_MS, self.args.keep)
                out[m].append(r)
                log(f"  start-up {m} rep {rep + 1}/{reps}: VIP {fmt(r.get('vip_ms'))} ms after the start "
                    f"(first GARP from {r.get('first_garp_node')})  [{time.time() - t0:.0f} s]")
            self.sample_load(f"start-up rep {rep + 1}")
        return out


def failover_manual(mech: str, count: int, keep: bool) -> dict:
    from bench import failover
    return failover.manual_promotions(mech, count, keep)


def fmt(v, nd: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and nd == 0:
        return f"{v:.0f}"
    return f"{v:.{nd}f}"


def parse_args(argv=None):
    from bench.mechanisms import ALL_MECHANISMS, MECHANISMS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer repetitions, shorter windows")
    ap.add_argument("--reps", type=int, help="repetitions for figures 1-2 (default 7, quick 2)")
    ap.add_argument("--manual-count", type=int, help="promotions by hand for figure 1b (default 30, quick 10)")
    ap.add_argument("--scenario-reps", type=int, help="repetitions for figures 3, 7, 8 (default 5, quick 1)")
    ap.add_argument("--stop-reps", type=int, help="repetitions for figure 9 (default 3, quick 1)")
    ap.add_argument("--startup-reps", type=int, help="repetitions for figure 10 (default 5, quick 1)")
    ap.add_argument("--throughput-reps", type=int, help="alternating rounds for figure 4 (default 12, quick 2)")
    ap.add_argument("--requests", type=int, help="redis-benchmark -n (default 1000000, quick 200000)")
    ap.add_argument("--idle-s", type=float, help="idle window of figure 5 (default 30, quick 5)")
    ap.add_argument("--flap-s", type=float, help="length of each probe run of figure 6 (default 5, quick 2)")
    ap.add_argument("--flap-reps", type=int, help="alternating rounds for figure 6 (default 5, quick 2)")
    ap.add_argument("--nothing-failed-reps", type=int, help="repetitions for figure 12, per scenario, mechanism "
                                                            "and down-after (default 3, quick 1)")
    ap.add_argument("--nothing-failed-down-after", default="1000,30000",
                    help="Sentinel down-after-milliseconds values of figure 12")
    ap.add_argument("--routed-reps", type=int, help="repetitions for figure 11, per scenario and routing daemon "
                                                     "(default 5, quick 2)")
    ap.add_argument("--tls-reps", type=int, help="repetitions for figure 13 (default 5, quick 1)")
    ap.add_argument("--tls-seconds", type=float, help="figure 13's CPU windows (default 10, quick 3)")
    ap.add_argument("--tls-groups", default="1,10", help="figure 13: groups of 3 nodes on one set of Sentinels")
    ap.add_argument("--routed-speakers", default="bird,frr", help="routing daemons on the nodes for figure 11")
    ap.add_argument("--down-after", default=str(DOWN_AFTER_MS),
                    help="Sentinel down-after-milliseconds values of the failover figures (1-2, 3, 7, 9), e.g. "
                         "1000,5000,30000; a value other than 1000 goes to its own section (figure 14)")
    ap.add_argument("--scenarios", default="", help="with figures 3, 7, 8: only these scenarios (stale-restart, "
                                                    "isolation, planned, busy), e.g. isolation")
    ap.add_argument("--witness-reps", type=int, default=0,
                    help="figure 15: repetitions per cell at down-after 1000 (default per scenario: 3 for "
                         "(a), 20 for the cuts and the forced failover, 10 for (c), 5 for the crash after "
                         "the promotion; quick 1)")
    ap.add_argument("--witness-down-after", default="1000,30000",
                    help="figure 15's down-after settings; one run per cell at any but 1000")
    ap.add_argument("--witness-scenarios", default="",
                    help="figure 15: only these (sentinels-stopped, cut-sentinels, cut-replicas, witness-failover, "
                         "planned-all-up, forced-unreachable, forced-at-once, crash-promotion)")
    ap.add_argument("--figures", default="1,2,3,4,5,6,7,8,9,10,11,12,13,15",
                    help="comma-separated subset (1 and 2 run together)")
    ap.add_argument("--mechanisms", default=",".join(MECHANISMS), help=f"subset of {','.join(ALL_MECHANISMS)}")
    ap.add_argument("--writer-interval-ms", type=float, default=5.0, help="client write period (figure 2)")
    ap.add_argument("--no-callgrind", action="store_true", help="skip figure 4b (valgrind) in a full run")
    ap.add_argument("--keep", action="store_true", help="keep each topology's work directory (logs, pcaps)")
    ap.add_argument("--docs", default=None, help="markdown output (default docs/benchmarks.md for a full run)")
    ap.add_argument("--no-docs", action="store_true", help="do not write the markdown file")
    ap.add_argument("--json", default=None, help="raw results (default target/bench/results-<time>.json)")
    ap.add_argument("--no-install", action="store_true", help="only check the tools, install nothing")
    ap.add_argument("--render", metavar="JSON", help="only re-render the markdown from a raw results file, or "
                                                     "several (comma-separated) merged into one (printed; "
                                                     "written where --docs says)")
    ap.add_argument("--render-figures", metavar="LIST", help="with --render: print only these figures' sections "
                                                             "(12, 13, 14, 15), each with a line naming the run, to paste into "
                                                             "docs/benchmarks.md; writes nothing")
    a = ap.parse_args(argv)
    a.docs_given = a.docs is not None
    for name, (full, quick) in RUN_SIZES.items():  # an option left at 0 takes the run's size
        setattr(a, name, getattr(a, name) or (quick if a.quick else full))
    try:
        a.nothing_failed_down_after_list = [int(x) for x in a.nothing_failed_down_after.split(",") if x.strip()]
    except ValueError:
        ap.error("--nothing-failed-down-after: comma-separated milliseconds, e.g. 1000,30000")
    try:
        a.tls_group_list = [int(x) for x in a.tls_groups.split(",") if x.strip()]
    except ValueError:
        ap.error("--tls-groups: comma-separated counts, e.g. 1,10")
    try:
        a.down_after_list = [int(x) for x in a.down_after.split(",") if x.strip()]
    except ValueError:
        ap.error("--down-after: comma-separated milliseconds, e.g. 1000,5000,30000")
    if not a.down_after_list or min(a.down_after_list) < 100:
        ap.error("--down-after: at least one value, each 100 ms or more")
    a.figure_set = {int(x) for x in a.figures.split(",") if x.strip()}
    if a.quick and not a.witness_reps:
        a.witness_reps = 1
    try:
        a.witness_down_after_list = [int(x) for x in a.witness_down_after.split(",") if x.strip()]
    except ValueError:
        ap.error("--witness-down-after: comma-separated milliseconds, e.g. 1000,30000")
    a.witness_scenario_list = [x for x in a.witness_scenarios.split(",") if x.strip()]
    from bench.witness import SCENARIOS as WITNESS_SCENARIOS
    bad = [x for x in a.witness_scenario_list if x not in WITNESS_SCENARIOS and x != "sentinels-stopped"]
    if bad:
        ap.error(f"--witness-scenarios: unknown {bad}")
    a.scenario_list = [x for x in a.scenarios.split(",") if x.strip()]
    bad = [x for x in a.scenario_list if x not in ("stale-restart", "isolation", "planned", "busy")]
    if bad:
        ap.error(f"--scenarios: unknown {bad} (stale-restart, isolation, planned, busy)")
    a.mech_list = [m for m in a.mechanisms.split(",") if m]
    bad = [m for m in a.mech_list if m not in ALL_MECHANISMS]
    if bad:
        ap.error(f"unknown mechanisms {bad}")
    a.speaker_list = [s for s in a.routed_speakers.split(",") if s]
    bad = [s for s in a.speaker_list if s not in ("bird", "frr")]
    if bad:
        ap.error(f"unknown routing daemons {bad} (bird, frr)")
    # figure 11 is redis-vip's Sentinel-confirmed mode, routed
    a.routed = 11 in a.figure_set and "vip-sentinel" in a.mech_list
    if a.docs is None and not a.quick and not a.no_docs:
        a.docs = str(REPO_ROOT / "docs" / "benchmarks.md")
    if a.no_docs:
        a.docs = None
    return a


def merge_results(paths: list[str]) -> tuple[dict, str]:
    """Raw results files read into one (the first file's, each later one filling in a figure,
    mechanism or down-after setting the earlier ones lack; every run's meta in "meta_runs"), and
    how to name them."""
    results: dict = {}
    shown = []
    for path in paths:
        more = json.loads(Path(path).read_text())
        p = Path(path).resolve()
        shown.append(str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p))
        if not results:
            results = more
            results["meta_runs"] = [more.get("meta", {})]
            continue
        results["meta_runs"].append(more.get("meta", {}))

        def fill(into: dict, src: dict) -> None:
            for k, v in src.items():
                if k not in into:
                    into[k] = v
                elif isinstance(into[k], dict) and isinstance(v, dict):
                    fill(into[k], v)

        fill(results, {k: v for k, v in more.items() if k != "meta"})
    if len(paths) == 1:
        results.pop("meta_runs", None)
    return results, ", ".join(shown)


def render_only(path: str, docs: str | None, figures: str | None = None) -> int:
    """Re-render the markdown from a raw results file (e.g. after a change of wording); with
    figures, only those figures' sections (printed, never written)."""
    from bench import report
    results, shown = merge_results(path.split(","))
    if figures:
        try:
            text = report.render_figures(results, shown, [int(x) for x in figures.split(",") if x.strip()])
        except ValueError as exc:
            sys.exit(f"--render-figures: {exc}")
        print(text)
        return 0
    text = report.render(results, shown)
    print(text)
    if docs:
        Path(docs).write_text(text)
        log(f"wrote {docs}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        return render_only(args.render, args.docs if args.docs_given else None, args.render_figures)
    check_environment(install=not args.no_install, routed=args.routed)
    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")

    # SIGTERM unwinds like Ctrl-C: each topology's context manager (and the harness' atexit
    # hook) kills what it started, by pid, and deletes its namespaces
    signal.signal(signal.SIGTERM, on_term)
    # a private copy of the module: a rebuild by someone else during the run must not mix
    # two builds in one set of figures
    from bench.mechanisms import module_path
    src_so = Path(module_path())
    private = Path(f"/tmp/redis-vip-bench-{os.getpid()}.so")
    shutil.copy2(src_so, private)
    os.environ["VIP_MODULE"] = str(private)
    try:
        return _run(args, argv, src_so)
    finally:
        private.unlink(missing_ok=True)


def _run(args, argv, src_so: Path) -> int:
    removed = sweep_stale_namespaces()
    if removed:
        log(f"swept {len(removed)} namespaces left by dead runs")
    from bench import report
    cmdline = "python3 -m bench.run" + ("".join(f" {x}" for x in (argv if argv is not None else sys.argv[1:])))
    mach = machine()
    mach["module"] = str(src_so)
    results: dict = {"meta": {"machine": mach, "command": cmdline.strip(),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                              "load_at_start": loadavg(), "other_netns_at_start": other_netns(),
                              "args": {k: v for k, v in vars(args).items() if k not in ("figure_set",)}}}
    run = Runner(args)
    t_start = time.time()
    try:
        # the failover figures at other down-after settings: results["down_after"][<ms>] holds
        # "failover" and "scenarios" as a run at 1000 holds them at the top level
        other_da = [d for d in args.down_after_list if d != DOWN_AFTER_MS]
        at_default = DOWN_AFTER_MS in args.down_after_list
        if args.figure_set & {1, 2}:
            for da in args.down_after_list:
                at = "" if args.down_after_list == [DOWN_AFTER_MS] else f", down-after {da}"
                log(f"figures 1-2: Sentinel failover with a writer through the VIP{at}, {args.reps} reps x "
                    f"{', '.join(args.mech_list)}")
                target = (results.setdefault("failover", {}) if da == DOWN_AFTER_MS else
                          results.setdefault("down_after", {}).setdefault(str(da), {}).setdefault("failover", {}))
                run.failovers(args.mech_list, args.reps, da, target)
        if 1 in args.figure_set and "vip-basic" in args.mech_list and at_default:
            # in the Sentinel-confirmed mode a promotion no Sentinel asked for never claims
            log(f"figure 1b: {args.manual_count} promotions by REPLICAOF NO ONE, vip-basic")
            results["manual"] = {"vip-basic": run.attempt("manual promotions vip-basic", failover_manual, "vip-basic",
                                                          args.manual_count, args.keep)}
        if 10 in args.figure_set:
            log(f"figure 10: start-up, {args.startup_reps} reps x {', '.join(args.mech_list)}")
            results["startup"] = run.startups(args.mech_list, args.startup_reps)
        names = [n for n, f in (("stale-restart", 3), ("isolation", 3), ("planned", 7), ("busy", 8))
                 if f in args.figure_set and (not args.scenario_list or n in args.scenario_list)]
        if names and at_default:
            log(f"figures 3, 7, 8: {', '.join(names)}, {args.scenario_reps} reps x {', '.join(args.mech_list)}")
            run.scenarios(names, args.mech_list, args.scenario_reps, results)
        # figure 8 (DEBUG SLEEP 5) fails nothing over once down-after exceeds the sleep: 3 and 7 only
        names = [n for n in names if n != "busy"]
        for da in other_da if names else []:
            log(f"figures 3, 7 at down-after {da}: {', '.join(names)}, {args.scenario_reps} reps x "
                f"{', '.join(args.mech_list)}")
            run.scenarios(names, args.mech_list, args.scenario_reps,
                          results.setdefault("down_after", {}).setdefault(str(da), {}), da)
        if 9 in args.figure_set and at_default:
            log(f"figure 9: two of three Sentinels stopped for 10 s, {args.stop_reps} reps x {', '.join(args.mech_list)}")
            run.scenarios(["sentinels-stopped"], args.mech_list, args.stop_reps, results)
        # figure 9 at the other settings: the stop stays 10 s, so at 30000 it is shorter than the lease
        for da in other_da if 9 in args.figure_set else []:
            log(f"figure 9 at down-after {da}: two of three Sentinels stopped for 10 s, {args.stop_reps} reps x "
                f"{', '.join(args.mech_list)}")
            run.scenarios(["sentinels-stopped"], args.mech_list, args.stop_reps,
                          results.setdefault("down_after", {}).setdefault(str(da), {}), da)
        if 15 in args.figure_set:
            run.witness(results)
        if 12 in args.figure_set:
            log(f"figure 12: nothing failed (crash restarted at once, backup client), down-after "
                f"{', '.join(map(str, args.nothing_failed_down_after_list))}, {args.nothing_failed_reps} reps x "
                f"{', '.join(args.mech_list)}")
            run.nothing_failed(args.mech_list, args.nothing_failed_reps, args.nothing_failed_down_after_list, results)
        if args.routed:
            log(f"figure 11: routed mode (BGP), planned SENTINEL FAILOVER and kill -9, {args.routed_reps} reps x "
                f"{', '.join(args.speaker_list)} on the nodes")
            results["routed"] = run.routed(args.speaker_list, args.routed_reps)
        elif 11 in args.figure_set:
            log("figure 11 skipped: it measures redis-vip's Sentinel-confirmed mode (vip-sentinel), not in --mechanisms")
        if 13 in args.figure_set and "vip-sentinel" in args.mech_list:
            log(f"figure 13: TLS against plaintext, {args.tls_reps} reps, {args.tls_seconds:.0f} s windows, "
                f"{', '.join(str(3 * g) for g in args.tls_group_list)} nodes")
            run.tls(args.tls_reps, args.tls_seconds, args.tls_group_list,
                    callgrind=not args.quick and not args.no_callgrind, results=results)
        elif 13 in args.figure_set:
            log("figure 13 skipped: it measures redis-vip's Sentinel-confirmed mode (vip-sentinel), not in --mechanisms")
        from bench import overhead
        if 4 in args.figure_set:
            log(f"figure 4: redis-benchmark, {args.throughput_reps} alternating rounds, -n {args.requests}")
            run.sample_load("throughput start")
            results["throughput"] = run.attempt("throughput", overhead.throughput, args.throughput_reps,
                                                args.requests, args.keep)
        from bench import callgrind as vprof
        if 4 in args.figure_set and not args.quick and not args.no_callgrind:
            if vprof.available():
                log("figure 4b: callgrind instruction counts per request (valgrind)")
                results["callgrind"] = run.attempt("callgrind", vprof.measure, 20000)
            else:
                log("figure 4b skipped: valgrind not installed (apt-get install -y valgrind)")
        if 5 in args.figure_set:
            log(f"figure 5: idle cost over {args.idle_s:.0f} s")
            results["at_rest"] = run.attempt("at rest", overhead.at_rest, args.idle_s, args.keep)
        if 5 in args.figure_set or 6 in args.figure_set:
            log(f"figures 5-6: role flapping every 50 ms, PING latency, {args.flap_reps} rounds x {args.flap_s:.0f} s")
            results["main_thread"] = run.attempt("main thread", overhead.main_thread, args.flap_reps,
                                                 args.flap_s, args.keep)
    except KeyboardInterrupt:
        log("interrupted: namespaces and processes are being removed")
        results["interrupted"] = True
    finally:
        results["meta"]["duration_s"] = time.time() - t_start
        results["meta"]["load_at_end"] = loadavg()
        results["meta"]["load_samples"] = run.load_samples
        results["meta"]["harness_errors"] = run.harness_errors
    jpath = Path(args.json) if args.json else REPO_ROOT / "target" / "bench" / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    jpath.parent.mkdir(parents=True, exist_ok=True)
    jpath.write_text(json.dumps(results, indent=1, default=str))
    text = report.render(results, str(jpath.relative_to(REPO_ROOT)) if jpath.is_relative_to(REPO_ROOT) else str(jpath))
    print()
    print(text)
    if args.docs and not results.get("interrupted"):
        Path(args.docs).write_text(text)
        log(f"wrote {args.docs}")
    log(f"raw results: {jpath}; took {results['meta']['duration_s'] / 60:.1f} min")
    if results.get("interrupted"):
        return 130
    if run.harness_errors:
        log(f"{len(run.harness_errors)} harness error(s):\n" + "\n".join(run.harness_errors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
