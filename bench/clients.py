#!/usr/bin/env python3
"""What a redis-py client sees through a failover, with its default settings and with tuned ones.

    python3 -m bench.clients [--reps N] [--scenarios kill,planned,cut,gone] [--down-after 1000,5000]
                             [--configs a,b] [--json FILE]

Root is needed (network namespaces). Each run builds its own topology with the test harness
(tests/harness/topology.py, py): 3 Redis nodes with the module in the
Sentinel-confirmed mode, 3 Sentinels (quorum 2, down-after-milliseconds 1000), and an observer
namespace `obs`. In `obs`, one thread per client configuration runs a `redis.Redis` client (with
its connection pool) that writes `SET <config>:<n> <n>` through the VIP every 10 ms, all
configurations side by side through the same failover. Then one of:

- kill:    `kill -9` of the master's redis-server (automatic failover);
- planned: `SENTINEL FAILOVER mymaster` (the old master stays up);
- cut:     the master's link to the bridge goes down (a lost host or a partition; the old
           master keeps running, cut off);
- gone:    no failover at all: the VIP is not answered (the observer's neighbour entry points at
           a node without the address), and each client makes one call; how long it blocks
           before it raises (cut after 65 s).

`--down-after 1000,5000` repeats the failovers at other Sentinel down-after-milliseconds;
`--rto-min 50` lowers TCP's minimum retransmission timeout on the clients' route to the VIP.

Per client and run: the longest time without an acknowledged write (client gap), the time from
the new master's claim of the VIP to the client's first acknowledged write, the calls that raised
(and their exception types), the longest single call, writes acknowledged by the old master after
the promotion, and acknowledged writes missing from the final master.

Every connection is created inside `obs` by a subclass of the harness' NetnsConnection, set as
the pool's connection_class, so the settings under test reach the real sockets. The subclass
also asks `CONFIG GET dir` once per connection to know which node it reached.

Everything started here belongs to the topology and is killed by pid when it closes (also on
Ctrl-C, SIGTERM and errors); nothing is configured in the root namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
from redis.retry import Retry

from tests.harness.clients import NetnsConnection
from tests.harness.logs import promotions
from tests.harness.netns import (DEFAULT_MODULE, MASTER_NAME, OBS_ADDR4, REDIS_PORT, REPO_ROOT, SUBNET4, VIP_IP,
                                 sweep_stale_namespaces, wait_until)
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import majority_master, start_sentinel_group, wait_failover, wait_settled
from tests.harness.servers import server_binary
from tests.harness.topology import Topology

PAUSE = 0.010  # between two calls of one client


def log(msg: str) -> None:
    print(f"[clients {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# client configurations


def tuned(connect_timeout: float, socket_timeout: float = 1.0, retries: int = 20,
          cap: float = 0.25, base: float = 0.01) -> dict:
    return dict(socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout,
                retry=Retry(ExponentialWithJitterBackoff(cap=cap, base=base), retries),
                retry_on_error=[RedisConnectionError, RedisTimeoutError])


# name -> (how the client is built, description, kwargs)
#   "redis": redis.Redis(host=VIP, port=6379, **kwargs)  (its pool gets the kwargs)
#   "pool":  redis.Redis(connection_pool=redis.ConnectionPool(host=VIP, port=6379, **kwargs))
CONFIGS: dict[str, tuple[str, str, Callable[[], dict]]] = {
    "no-timeouts": ("redis", "socket_timeout / socket_connect_timeout None, no retry, no keepalive "
                             "(what older redis-py releases did by default)",
                    lambda: dict(socket_timeout=None, socket_connect_timeout=None,
                                 retry=Retry(NoBackoff(), 0), socket_keepalive=False)),
    "defaults": ("redis", "redis.Redis(host=VIP) of the installed redis-py, nothing set", lambda: {}),
    "pool-defaults": ("pool", "redis.Redis(connection_pool=redis.ConnectionPool(host=VIP)), nothing set",
                      lambda: {}),
    "ct1": ("redis", "connect 1 s, read 1 s, 20 retries, jittered backoff <= 0.25 s",
            lambda: tuned(connect_timeout=1.0)),
    "ct0.5": ("redis", "connect 0.5 s, read 1 s, 20 retries, jittered backoff <= 0.25 s",
              lambda: tuned(connect_timeout=0.5)),
    "ct0.25": ("redis", "connect 0.25 s, read 1 s, 20 retries, jittered backoff <= 0.25 s",
               lambda: tuned(connect_timeout=0.25)),
    "ct0.1": ("redis", "connect 0.1 s, read 1 s, 20 retries, jittered backoff <= 0.1 s",
              lambda: tuned(connect_timeout=0.1, cap=0.1)),
    "recommended": ("redis", "connect 0.1 s, read 1 s, 60 retries, jittered backoff <= 0.1 s",
                    lambda: tuned(connect_timeout=0.1, cap=0.1, retries=60)),
}
DEFAULT_CONFIGS = ["no-timeouts", "defaults", "pool-defaults", "ct1", "ct0.5", "ct0.25", "ct0.1",
                   "recommended"]


def describe_settings(r: redis.Redis) -> dict:
    """The settings in force on the pool's connections (as a connection would get them)."""
    pool = r.connection_pool
    conn = pool.connection_class(**pool.connection_kwargs)  # not connected: only its settings
    out = {k: getattr(conn, k, None) for k in ("socket_timeout", "socket_connect_timeout", "socket_keepalive",
                                               "health_check_interval")}
    if out["socket_keepalive"]:
        out["socket_keepalive_options"] = {str(k): v for k, v in conn.socket_keepalive_options.items()}
    retry = conn.retry
    b = retry._backoff
    bd = {k.lstrip("_"): v for k, v in vars(b).items() if not k.startswith("__")}
    out["retry"] = f"{retry._retries} x {type(b).__name__}({bd})"
    out["retry_errors"] = [e.__name__ for e in retry._supported_errors]
    return out


class Sink:
    """What a client's connections report: the node behind the last reply, connects made."""

    def __init__(self) -> None:
        self.node: Optional[str] = None
        self.connects = 0


def tagged_connection_class(sink: Sink, netns: str) -> type:
    """A NetnsConnection subclass (one per client) that creates its socket in ``netns`` and
    learns which node it reached with one CONFIG GET dir after the handshake."""

    class TaggedConnection(NetnsConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("netns", netns)
            self.vip_node: Optional[str] = None
            super().__init__(*args, **kwargs)

        def on_connect_check_health(self, check_health: bool = True):  # type: ignore[override]
            super().on_connect_check_health(check_health=check_health)
            self.send_command("CONFIG", "GET", "dir", check_health=False)
            reply = self.read_response()
            m = re.search(r"redis-(n\d+)", str(reply))
            self.vip_node = m.group(1) if m else "?"
            sink.connects += 1

        def read_response(self, *args: Any, **kwargs: Any):  # type: ignore[override]
            r = super().read_response(*args, **kwargs)
            sink.node = self.vip_node
            return r

    return TaggedConnection


def build_client(topo: Topology, name: str) -> tuple[redis.Redis, Sink]:
    how, _desc, kwargs_fn = CONFIGS[name]
    sink = Sink()
    cls = tagged_connection_class(sink, topo.ns("obs"))
    kwargs = kwargs_fn()
    if how == "pool":
        pool = redis.ConnectionPool(connection_class=cls, host=VIP_IP, port=REDIS_PORT, **kwargs)
        r = redis.Redis(connection_pool=pool)
    else:
        r = redis.Redis(host=VIP_IP, port=REDIS_PORT, **kwargs)
        # the pool has made no connection yet: its class decides how every socket is created
        r.connection_pool.connection_class = cls
    topo._clients.append(r)  # closed with the topology
    return r, sink


class Client:
    """One client configuration writing through the VIP on its own thread."""

    def __init__(self, topo: Topology, name: str):
        self.name = name
        self.r, self.sink = build_client(topo, name)
        self.settings = describe_settings(self.r)
        # (t_start, t_end, ok, node or exception type) per call, time.time()
        self.calls: list[tuple[float, float, bool, str]] = []
        self.seq = 0
        self.acked: list[tuple[int, str, float]] = []  # (seq, node, t_send)
        self._stop = threading.Event()
        self.in_call_since: Optional[float] = None
        self.thread = threading.Thread(target=self._run, name=f"client-{name}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seq += 1
            n = self.seq
            t1 = time.time()
            self.in_call_since = t1
            try:
                ok = self.r.set(f"{self.name}:{n}", n)
                t2 = time.time()
                node = self.sink.node or "?"
                self.calls.append((t1, t2, bool(ok), node if ok else "not-ok"))
                if ok:
                    self.acked.append((n, node, t1))
            except Exception as exc:  # noqa: BLE001 - what the application would see
                t2 = time.time()
                self.calls.append((t1, t2, False, type(exc).__name__))
            self.in_call_since = None
            self._stop.wait(PAUSE)

    def start(self) -> "Client":
        self.thread.start()
        return self

    def stop(self, grace: float = 1.0) -> bool:
        """Stop the loop; a call still blocked after ``grace`` is cut by closing the pool's
        sockets. Returns True when a call had to be cut."""
        self._stop.set()
        self.thread.join(timeout=grace)
        cut = False
        if self.thread.is_alive():
            cut = True
            try:
                self.r.connection_pool.disconnect()
            except Exception:  # noqa: BLE001
                pass
            self.thread.join(timeout=10)
        return cut

    def successes_since(self, t: float) -> int:
        return sum(1 for c in list(self.calls) if c[2] and c[0] >= t)


# ----------------------------------------------------------------------------------------------
# one run


def measure(module: str, scenario: str, names: list[str], rep: int, down_after_ms: int = 1000,
            settle_after_s: float = 3.0, cap_s: float = 80.0, pcap_dir: Optional[Path] = None,
            rto_min_ms: int = 0) -> dict:
    """One topology, one fault, every client configuration side by side."""
    with Topology(f"cli{scenario[:3]}") as topo:
        if rto_min_ms:
            # the clients' host only: TCP's minimum retransmission timeout on its route to the VIP
            topo.ipcmd("obs", "route", "replace", SUBNET4, "dev", "eth0", "proto", "kernel", "scope", "link",
                       "src", OBS_ADDR4, "rto_min", f"{rto_min_ms}ms")
        g = start_sentinel_group(topo, module, down_after_ms=down_after_ms)
        old = "n1"
        sampler = HolderSampler(topo, interval=0.01)
        clients: list[Client] = []
        cap = None
        try:
            if pcap_dir is not None:  # ARP and TCP handshakes/resets seen by the clients' host
                cap = topo.capture("obs", filter="arp or tcp[tcpflags]&(tcp-syn|tcp-rst)!=0")
            sampler.start()
            clients = [Client(topo, n) for n in names]
            for c in clients:
                c.start()
            t_warm = time.time()
            wait_until(lambda: all(c.successes_since(t_warm) >= 50 for c in clients), 20, 0.05,
                         msg=lambda: "every client writing: " +
                         ", ".join(f"{c.name}={c.successes_since(t_warm)}" for c in clients))
            time.sleep(0.5)
            t0 = time.time()
            m0 = time.monotonic()
            if scenario == "kill":
                g[old].kill9()
            elif scenario == "planned":
                g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
            elif scenario == "cut":
                topo.link_down(old)
            else:
                raise ValueError(scenario)
            ignore = ("n1",) if scenario == "cut" else ()
            new = wait_failover(g, old, timeout=60) if scenario != "cut" else None
            if scenario == "cut":
                def majority_new() -> Optional[str]:
                    m = majority_master(g)
                    if m and m != g[old].address:
                        node = g.by_addr(m)
                        return node.name if node.role() == "master" else None
                    return None
                new = wait_until(majority_new, 60, 0.1, msg="failover away from the cut master")
            settled = wait_settled(g, timeout=60, ignore=ignore)
            claim = sampler.wait_for(lambda s: s.holders == (settled,), 30, msg=f"{settled} holding",
                                     since=m0)
            # every client has written for settle_after_s after the claim, or the cap is reached
            t_claim_wall = claim.wall
            deadline = t0 + cap_s
            while time.time() < deadline:
                if all(any(x[2] and x[0] >= t_claim_wall + settle_after_s for x in list(c.calls))
                       for c in clients):
                    break
                time.sleep(0.1)
            t_end = time.time()
            cut_calls = {c.name: c.stop() for c in clients}
            sampler.stop()
            if cap is not None and pcap_dir is not None:
                cap.stop()
                pcap_dir.mkdir(parents=True, exist_ok=True)
                dest = pcap_dir / f"{scenario}-{down_after_ms}-{rep}-t0_{t0:.3f}.pcap"
                shutil.copy2(cap.file, dest)
            # -- timeline --------------------------------------------------------------------
            samples = sampler.snapshot()
            first_without_old = next((s for s in samples if s.t >= m0 and old not in s.holders), None)
            first_new = next((s for s in samples if s.t >= m0 and s.holders and old not in s.holders), None)
            promos = [(t, n) for t, n in promotions(g) if t >= t0 - 0.01]
            t_promo = promos[0][0] if promos else None
            promoted = promos[0][1] if promos else None
            nohold_ms = sampler.duration_ms(lambda h: len(h) == 0, since=m0)
            two_ms = sampler.duration_ms(lambda h: len(h) > 1, since=m0)
            final = g[settled]
            timeline = {
                "old_release_ms": ((first_without_old.wall - t0) * 1000) if first_without_old else None,
                "promotion_ms": ((t_promo - t0) * 1000) if t_promo else None,
                "claim_ms": ((first_new.wall - t0) * 1000) if first_new else None,
                "settled_claim_ms": (claim.wall - t0) * 1000,
                "no_holder_ms": nohold_ms, "two_holders_ms": two_ms,
                "promoted": promoted, "settled": settled, "first_failover_to": new,
                "second_failover": bool(promoted and settled != promoted),
                "sampler_max_gap_ms": sampler.max_gap() * 1000,
                "load": os.getloadavg()[0],
            }
            # -- per client --------------------------------------------------------------------
            per: dict[str, dict] = {}
            fc = final.client()
            for c in clients:
                calls = [x for x in c.calls if x[0] >= t_warm]
                oks = [x for x in calls if x[2]]
                ends = [t_warm] + [x[1] for x in oks]
                # the longest time without an acknowledged write, over the whole run
                gaps = [(b - a, a) for a, b in zip(ends, ends[1:])]
                gaps.append((t_end - ends[-1], ends[-1]))
                gap, gap_from = max(gaps)
                t_first_claim = first_new.wall if first_new else claim.wall
                first_after_claim = next((x[1] for x in oks if x[1] >= t_first_claim and x[3] != old), None)
                failures = [x for x in calls if not x[2] and x[0] >= t0 - 0.5]
                types = Counter(x[3] for x in failures)
                longest = max(((x[1] - x[0]), x[0]) for x in calls)
                old_after = [a for a in c.acked if a[1] == old and t_promo is not None and a[2] > t_promo]
                keys = [f"{c.name}:{a[0]}" for a in c.acked]
                present: list = []
                for i in range(0, len(keys), 500):
                    present += fc.mget(keys[i:i + 500])
                lost = sum(1 for v in present if v is None)
                per[c.name] = {
                    "gap_ms": gap * 1000, "gap_start_ms": (gap_from - t0) * 1000,
                    "after_claim_ms": ((first_after_claim - t_first_claim) * 1000) if first_after_claim else None,
                    "failed_calls": len(failures), "failure_types": dict(types),
                    "longest_call_ms": longest[0] * 1000, "longest_call_start_ms": (longest[1] - t0) * 1000,
                    "calls_over_1s": sum(1 for x in calls if x[1] - x[0] > 1.0),
                    "cut_at_end": cut_calls[c.name],
                    "old_master_acks_after_promotion": len(old_after),
                    "acked": len(c.acked), "lost": lost, "connects": c.sink.connects,
                    "settings": {k: (v if isinstance(v, (int, float, str, bool, list)) or v is None else str(v))
                                 for k, v in c.settings.items()},
                }
            return {"scenario": scenario, "rep": rep, "down_after_ms": down_after_ms, "rto_min_ms": rto_min_ms,
                    "t0": t0,
                    "timeline": timeline, "clients": per}
        except BaseException:
            for c in clients:
                c._stop.set()
            sys.stderr.write(topo.logs(15) + "\n")
            raise
        finally:
            for c in clients:
                if c.thread.is_alive():
                    c.stop(grace=0.2)
            sampler.stop()


def measure_gone(names: list[str], rep: int, cap_s: float = 65.0) -> dict:
    """How long one call blocks before it raises when the VIP is not answered at all (a node
    gone for good, before anyone claims): the observer's neighbour entry for the VIP points at
    n1, which does not have the address, so every SYN is dropped without an answer. No Redis
    runs; one call per client configuration, side by side, cut after cap_s."""
    with Topology("cligone") as topo:
        topo.ipcmd("obs", "neigh", "replace", VIP_IP, "lladdr", topo.mac("n1"), "dev", "eth0", "nud", "permanent")
        res: dict[str, dict] = {}
        threads = []
        built = {n: build_client(topo, n) for n in names}

        def one(name: str) -> None:
            r, _sink = built[name]
            t1 = time.time()
            try:
                r.set(f"{name}:gone", 1)
                res[name] = {"seconds": time.time() - t1, "raised": None}
            except Exception as exc:  # noqa: BLE001
                res[name] = {"seconds": time.time() - t1, "raised": type(exc).__name__}

        for n in names:
            t = threading.Thread(target=one, args=(n,), daemon=True)
            t.start()
            threads.append((n, t))
        t_start = time.time()
        for n, t in threads:
            t.join(timeout=max(0.0, t_start + cap_s - time.time()))
        for n, t in threads:
            if t.is_alive():
                res[n] = {"seconds": None, "raised": f"still blocked after {cap_s:.0f} s"}
                try:
                    built[n][0].connection_pool.disconnect()
                except Exception:  # noqa: BLE001
                    pass
        return {"scenario": "gone", "rep": rep, "cap_s": cap_s, "clients": res}


# ----------------------------------------------------------------------------------------------
# report


def fmt(v: Optional[float], unit: str = "") -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}".replace(",", " ") + unit


def med(vals: list) -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = statistics.median(vals)
    if min(vals) == max(vals):
        return fmt(m)
    return f"{fmt(m)} [{fmt(min(vals))}–{fmt(max(vals))}]"


def label(r: dict) -> str:
    da = r.get("down_after_ms", 1000)
    out = r["scenario"] + ("" if da == 1000 or r["scenario"] == "gone" else f" (down-after {da})")
    if r.get("rto_min_ms"):
        out += f" (clients' rto_min {r['rto_min_ms']} ms)"
    return out


def med2(vals: list) -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = statistics.median(vals)
    return f"{m:.2f}" if min(vals) == max(vals) else f"{m:.2f} [{min(vals):.2f}–{max(vals):.2f}]"


def report(results: list[dict], names: list[str]) -> str:
    out = []
    labels = list(dict.fromkeys(label(r) for r in results))
    for lab in labels:
        runs = [r for r in results if label(r) == lab]
        if lab == "gone":
            out.append(f"\n### gone: one call while the VIP is not answered at all ({len(runs)} runs)\n")
            out.append("| client | blocked for (s) | raised |")
            out.append("|---|---:|---|")
            for n in names:
                per = [r["clients"][n] for r in runs if n in r["clients"]]
                if per:
                    secs = [p["seconds"] for p in per]
                    raised = ", ".join(sorted({str(p["raised"]) for p in per}))
                    out.append(f"| {n} | {med2(secs)} | {raised} |")
            continue
        tl = [r["timeline"] for r in runs]
        out.append(f"\n### {lab} ({len(runs)} runs)\n")
        out.append("old master lost the VIP {} ms, promotion {} ms, new master's claim {} ms after the fault; "
                   "no holder {} ms; second failovers {}".format(
                       med([t["old_release_ms"] for t in tl]), med([t["promotion_ms"] for t in tl]),
                       med([t["claim_ms"] for t in tl]), med([t["no_holder_ms"] for t in tl]),
                       sum(1 for t in tl if t["second_failover"])))
        out.append("")
        out.append("| client | gap (ms) | claim → first write (ms) | failed calls | exceptions | longest call (ms) "
                   "| calls > 1 s | old master's acks after promotion | lost |")
        out.append("|---|---:|---:|---:|---|---:|---:|---:|---:|")
        for n in names:
            per = [r["clients"][n] for r in runs if n in r["clients"]]
            if not per:
                continue
            types: Counter = Counter()
            for p in per:
                types.update(p["failure_types"])
            tstr = ", ".join(f"{k} {v}" for k, v in types.most_common()) or "none"
            cut = sum(1 for p in per if p["cut_at_end"])
            out.append("| {} | {} | {} | {} | {} | {}{} | {} | {} | {} |".format(
                n, med([p["gap_ms"] for p in per]), med([p["after_claim_ms"] for p in per]),
                med([p["failed_calls"] for p in per]), tstr, med([p["longest_call_ms"] for p in per]),
                f" (cut {cut}×)" if cut else "",
                med([p["calls_over_1s"] for p in per]),
                sum(p["old_master_acks_after_promotion"] for p in per), sum(p["lost"] for p in per)))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--scenarios", default="kill,planned,cut,gone")
    ap.add_argument("--pcap", default=None, help="keep a capture (ARP, SYN, RST) of the clients' host per run here")
    ap.add_argument("--rto-min", type=int, default=0,
                    help="ms: set TCP's rto_min on the clients' route to the VIP (0: the kernel's 200 ms)")
    ap.add_argument("--gone-reps", type=int, default=3, help="reps of 'gone' (each takes about a minute)")
    ap.add_argument("--down-after", default="1000", help="Sentinel down-after-milliseconds, comma-separated")
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS))
    ap.add_argument("--json", default=None, help="raw results (default target/bench/clients-<time>.json)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("root is needed (network namespaces)", file=sys.stderr)
        return 2
    names = [n for n in args.configs.split(",") if n]
    for n in names:
        if n not in CONFIGS:
            print(f"unknown config {n!r}; known: {', '.join(CONFIGS)}", file=sys.stderr)
            return 2
    scenarios = [s for s in args.scenarios.split(",") if s]
    for sc in scenarios:
        if sc not in ("kill", "planned", "cut", "gone"):
            print(f"unknown scenario {sc!r}: kill, planned, cut, gone", file=sys.stderr)
            return 2
    down_afters = [int(x) for x in args.down_after.split(",") if x]

    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    src = Path(os.environ.get("VIP_MODULE") or DEFAULT_MODULE)
    if not src.exists():
        print(f"{src} missing: cargo build --release", file=sys.stderr)
        return 2
    private = Path(f"/tmp/redis-vip-clients-{os.getpid()}.so")
    shutil.copy2(src, private)
    out_json = Path(args.json) if args.json else REPO_ROOT / "target" / "bench" / \
        f"clients-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": commit, "redis_py": redis.__version__,
            "server": subprocess.run([server_binary("redis"), "--version"], capture_output=True,
                                     text=True).stdout.strip(),
            "reps": args.reps, "scenarios": scenarios, "down_after_ms": down_afters, "configs": {n: CONFIGS[n][1] for n in names},
            "load_at_start": os.getloadavg()}
    results: list[dict] = []
    t_start = time.time()
    try:
        removed = sweep_stale_namespaces()
        if removed:
            log(f"swept {len(removed)} namespaces left by dead runs")
        log(f"redis-py {redis.__version__}, module {src} (commit {commit}), {args.reps} reps x {scenarios}")
        for rep in range(1, args.reps + 1):
            for sc, da in [(sc, da) for da in down_afters for sc in scenarios]:
                if sc == "gone" and (da != down_afters[0] or rep > args.gone_reps):
                    continue
                t1 = time.time()
                if sc == "gone":
                    res = measure_gone(names, rep)
                    results.append(res)
                    log(f"gone #{rep} ({time.time() - t1:.0f} s): " + "; ".join(
                        f"{n} {fmt(p['seconds'] * 1000 if p['seconds'] is not None else None)} ms {p['raised']}"
                        for n, p in res["clients"].items()))
                    out_json.write_text(json.dumps({"meta": meta, "runs": results}, indent=1, default=str))
                    continue
                res = measure(str(private), sc, names, rep, down_after_ms=da,
                              pcap_dir=Path(args.pcap) if args.pcap else None, rto_min_ms=args.rto_min)
                results.append(res)
                tl = res["timeline"]
                log(f"{label(res)} #{rep} ({time.time() - t1:.0f} s): release {fmt(tl['old_release_ms'])} ms, "
                    f"promotion {fmt(tl['promotion_ms'])} ms, claim {fmt(tl['claim_ms'])} ms; " +
                    "; ".join(f"{n} gap {fmt(p['gap_ms'])} fail {p['failed_calls']} "
                              f"long {fmt(p['longest_call_ms'])}" for n, p in res["clients"].items()))
                meta["settings"] = {n: p["settings"] for n, p in res["clients"].items()}
                out_json.write_text(json.dumps({"meta": meta, "runs": results}, indent=1, default=str))
    finally:
        private.unlink(missing_ok=True)
        meta["seconds"] = time.time() - t_start
        out_json.write_text(json.dumps({"meta": meta, "runs": results}, indent=1, default=str))
    print(report(results, names))
    for n in names:
        print(f"- {n}: {CONFIGS[n][1]}; in force: {meta.get('settings', {}).get(n)}")
    log(f"{len(results)} runs in {time.time() - t_start:.0f} s; raw results: {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
