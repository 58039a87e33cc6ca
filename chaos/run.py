#!/usr/bin/env python3
"""Chaos run: random faults on a 3-node Redis + Sentinel + redis-vip topology, basic mode vs the
Sentinel-confirmed mode without and with the failsafe (the replicas as witnesses).

    python3 -m chaos.run ROUNDS [--seed S] [--modes basic,sentinel,failsafe] [--faults KIND,...]
                                [--flavor redis|valkey]
                                [--module PATH] [--json FILE] [--keep] [--give-up N]

(`make chaos ROUNDS=N` runs `python3 -m chaos.run N`; the seed also comes from $SEED. The
figures of a 30-round run, and how to read them, are in docs/safety.md.) Needs root: everything runs inside
network namespaces made by tests/harness/topology.py (vt-<tag>-<pid>-*), addresses from
192.0.2.0/24 only, nothing in the root namespace; processes, namespaces and firewall tables are
removed at the end, on Ctrl-C and on SIGTERM.

Modes (a fresh topology each): basic: vip.sentinels empty; sentinel: vip.sentinels = the three
Sentinels, vip.master-name mymaster, `vip.failsafe no` (the Sentinel-confirmed mode as it was
before the failsafe); failsafe: the same with vip.failsafe at its default (yes). Every other
setting is default. Each topology runs 3 Redis nodes with the module (n1-n3), 3 Sentinels on
hosts of their own (s1-s3, so that a packet filter in a node's namespace can cut it off from the
Sentinels but not from its replicas: tests/harness/firewall.py; quorum 2,
down-after-milliseconds 1000, failover-timeout 10000; "n2's Sentinel" is s2) and, in the
observer namespace:
- a writer (VipWriter) that sends `SET chaos:<n> <n>` through the VIP (one connection
  at a time, 0.5 s timeouts, reconnecting after any error) and records which node acknowledged
  each write (`CONFIG GET dir` right after each connect: one TCP connection = one server);
- a holder sampler (HolderSampler) recording which nodes hold the VIP every 15 ms (one
  netlink dump per node namespace).
The same seeded plan of faults is applied in every mode, each round to whichever node is the
master at that moment (every kind once, in a seeded order, in the first rounds of a run long
enough; then drawn by weight):
- kill9: kill -9 the master, wait for the Sentinel failover, wait 0-5 s, restart it from its
  config file as it is on disk (no `replicaof`: a stale master) - the "stale restart";
- sigstop: SIGSTOP the master for 2-10 s, then SIGCONT;
- link: the master's link down (its veth in the bridge namespace) for 2-10 s, then up;
- busy: DEBUG SLEEP 2-6 s on the master (its main thread blocked, its module thread running);
- planned: SENTINEL FAILOVER on a random Sentinel (every node healthy);
- sentinel: kill -9 one Sentinel for 3-10 s, then restart it;
- restart: kill -9 the master and start it again at once (systemd's Restart=always): no
  failover is expected at a down-after well above the restart time, one may happen at 1000;
- backup: `redis-cli --rdb` from the observer against the master for 12-15 s (a replication
  client without a listening port: every Sentinel then lists a replica `ip:0` for good);
- replaced: one Sentinel is killed for good and a new one (new run id, next free port) takes
  its place, without SENTINEL RESET: the others keep the old one as a ghost;
- sstop1, sstop2, sstop3: SIGSTOP of 1, 2 or all 3 Sentinels for 3-10 s (each accepts TCP and
  never answers), then SIGCONT;
- cut-sentinels: the master cut off from the three Sentinels (both ways) but not from its
  replicas, for 2-10 s;
- cut-replicas: the master cut off from its replicas but not from the Sentinels, 2-10 s;
- cut-replica: one replica cut off from the master but not from the Sentinels, 2-10 s;
- forced: a failover forced by a Sentinel the master cannot reach: the master cut off from one
  Sentinel, `SENTINEL FAILOVER` sent to that one 0-3 s later (at once: before the master's module
  can notice that it lost that Sentinel), the cut kept 2-10 s after the failover;
- crash-promotion: `SENTINEL SIMULATE-FAILURE crash-after-promotion` and `SENTINEL FAILOVER`
  to one Sentinel, which exits right after the replica's promotion; restarted 2-10 s later;
and with probability 0.25 one Sentinel is also killed during a kill9/sigstop/link/busy round
(restarted at the end of the fault). After each fault the run waits until the topology has
settled (one master, the Sentinels agree, replicas linked, exactly the master holds the VIP);
a mode ends early after --give-up (3) rounds in a row that did not settle within 120 s.

Figures per mode, in total and per fault kind:
- failovers: REPLICAOF NO ONE executions ("MASTER MODE enabled" in the Redis logs);
- two holders ms / no holder ms: sampled time with >= 2 / 0 nodes holding the VIP;
- split-brain writes: writes acknowledged through the VIP by node X although another node had
  been promoted more recently than X (counted when the request was SENT after that promotion,
  so X certainly executed it after the promotion; promotion times from the Redis logs);
- writes lost: acknowledged writes missing from the final master at the end (a subset is
  split-brain writes; the rest is Redis' asynchronous replication losing the last writes of a
  killed master, the same in every mode); per fault, a lost write counts for the round in which
  it was acknowledged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import redis

from bench.witness import force_failover
from tests.harness.clients import pairs_to_dict
from tests.harness.logs import promotions
from tests.harness.netns import (DEFAULT_MODULE, MASTER_NAME, VIP4, root_and_module_problem, sweep_stale_namespaces,
                                 wait_until)
from tests.harness.processes import RedisGroup, SentinelNode
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import DOWN_AFTER_MS, majority_master, module_args, start_sentinels, wait_failover
from tests.harness.sentinel import crash_after_promotion as arm_crash
from tests.harness.status import statuses
from tests.harness.topology import Topology
from tests.harness.writer import VipWriter

SAMPLE_INTERVAL = 0.015
WRITE_PAUSE = 0.004  # between writes: ~150-200 writes/s, light on a 2-core machine
SETTLE_TIMEOUT = 120
MODES = ["basic", "sentinel", "failsafe"]
# fault kind -> (weight, duration range in s, a Sentinel may also be lost during it)
KINDS = {
    "kill9": (3, (0, 5), True), "sigstop": (3, (2, 10), True), "link": (3, (2, 10), True),
    "busy": (1.5, (2, 6), True), "planned": (1.5, (2, 10), False), "sentinel": (1.5, (3, 10), False),
    "restart": (2, (2, 10), True), "backup": (1.5, (12, 15), False), "replaced": (1, (2, 10), False),
    "sstop1": (1, (3, 10), False), "sstop2": (1, (3, 10), False), "sstop3": (1, (3, 10), False),
    "cut-sentinels": (2, (2, 10), False), "cut-replicas": (1.5, (2, 10), False),
    "cut-replica": (1.5, (2, 10), False), "forced": (1.5, (2, 10), False),
    "crash-promotion": (1.5, (2, 10), False),
}


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# plan


@dataclass
class Fault:
    kind: str  # a key of KINDS
    duration: float  # kill9: delay between failover and restart; crash-promotion: until the
    # Sentinel's restart; forced: the cut after the failover; the others: the fault's length
    sentinel_loss: bool  # also kill one Sentinel during the fault
    sentinel_on_master: bool  # the lost Sentinel is the one on the master's node (else another)
    other_pick: int  # which of the other nodes, when not on the master's node
    pause: float  # quiet time before the fault
    lead: float = 0.0  # forced: from the cut to SENTINEL FAILOVER (0: at once, before the master can notice)


def make_plan(rounds: int, seed: int, only: Optional[list[str]] = None) -> list[Fault]:
    """Every kind (of ``only``, default all) once, in a seeded order, while the rounds last;
    then drawn by weight."""
    rng = random.Random(seed)
    kinds = list(only or KINDS)
    first = rng.sample(kinds, len(kinds))
    plan = []
    for i in range(rounds):
        kind = first[i] if i < len(first) else rng.choices(kinds, weights=[KINDS[k][0] for k in kinds])[0]
        _w, (lo, hi), may_lose = KINDS[kind]
        duration = round(rng.uniform(lo, hi), 2)
        loss = may_lose and rng.random() < 0.25
        plan.append(Fault(kind, duration, loss or kind == "sentinel", rng.random() < 0.5,
                          rng.randrange(2), round(rng.uniform(0.5, 2), 2), round(rng.uniform(0, 3), 2)))
    return plan


# ----------------------------------------------------------------------------------------------
# one mode


@dataclass
class RoundResult:
    index: int
    fault: str
    detail: str
    master_before: str
    master_after: str
    failovers: int
    two_holders_ms: float
    no_holder_ms: float
    settled: bool
    seconds: float
    t0: float = 0.0  # time.time() at the round's start and end (lost writes by round)
    t1: float = 0.0
    writes_lost: int = 0


@dataclass
class ModeResult:
    mode: str
    rounds: int = 0
    failovers: int = 0
    two_holders_ms: float = 0.0
    no_holder_ms: float = 0.0
    writes_acked: int = 0
    write_errors: int = 0
    split_brain_writes: int = 0
    writes_lost: int = 0
    lost_split_brain: int = 0
    lost_other: int = 0
    unsettled_rounds: int = 0
    sample_max_gap_ms: float = 0.0
    samples: int = 0
    seconds: float = 0.0
    two_holder_episodes: list = field(default_factory=list)
    split_brain_by_node: dict = field(default_factory=dict)
    round_results: list = field(default_factory=list)
    by_fault: dict = field(default_factory=dict)
    setup_error: str = ""
    gave_up: str = ""


class Cuts:
    """The packet filters a round put up (tests/harness/firewall.py), all taken down at its end."""

    def __init__(self, topo: Topology):
        self.topo = topo
        self.hosts: set[str] = set()

    def cut(self, host: str, peers: list[str]) -> None:
        """Nothing passes between ``host`` and ``peers`` (host names), either way."""
        self.topo.firewall(host).block(*peers)
        self.hosts.add(host)

    def heal(self, host: str) -> None:
        if host in self.hosts:
            self.topo.firewall(host).clear()
            self.hosts.discard(host)

    def heal_all(self) -> None:
        for host in list(self.hosts):
            self.heal(host)


def sentinel_of(g: RedisGroup, node: str) -> str:
    """The Sentinel paired with a Redis node: s2 for n2."""
    return "s" + node[1:]


def sentinel_hosts_of(g: RedisGroup, keys: Optional[list[str]] = None) -> list[str]:
    """Host names of the group's Sentinels (all, or those of ``keys``)."""
    return [s.name for k, s in g.sentinels.items() if keys is None or k in keys]


def current_master(g: RedisGroup) -> Optional[str]:
    addr = majority_master(g)
    if not addr:
        return None
    node = g.by_addr(addr)
    try:
        if node.alive() and node.role() == "master":
            return node.name
    except redis.RedisError:
        pass
    return None


def settled(g: RedisGroup, smp: HolderSampler) -> Optional[str]:
    """The master's name once the topology is quiet: every Redis node and Sentinel runs, exactly
    one node reports role master, a majority of Sentinels names it, every other node is its
    replica with the link up, and exactly it holds the VIP."""
    if not all(n.alive() for n in g.nodes.values()) or not all(s.alive() for s in g.sentinels.values()):
        return None
    roles = {name: n.role() for name, n in g.nodes.items()}
    masters = [n for n, r in roles.items() if r == "master"]
    if len(masters) != 1:
        return None
    m = masters[0]
    if majority_master(g) != g[m].address:
        return None
    for name, n in g.nodes.items():
        if name == m:
            continue
        info = n.client().info("replication")
        if info.get("master_host") != g[m].address or info.get("master_link_status") != "up":
            return None
    for s in g.sentinels.values():
        flags = set(str(pairs_to_dict(s.execute("SENTINEL", "MASTER", MASTER_NAME)).get("flags", "")).split(","))
        if flags != {"master"}:  # s_down, o_down, failover_in_progress...: not over yet
            return None
    last = smp.last()
    if last is None or last.holders != (m,):
        return None
    return m


def run_mode(mode: str, plan: list[Fault], flavor: str, module: str, keep: bool, give_up: int = 0) -> ModeResult:
    res = ModeResult(mode)
    t_mode = time.monotonic()
    with Topology(f"chaos{mode}", sentinel_hosts=3, keep_workdir=keep) as topo:
        log(f"[{mode}] topology in {topo.workdir}")
        args = [] if mode == "basic" else module_args(topo, extra=["failsafe", "no"] if mode == "sentinel" else [])
        g = topo.redis(flavor=flavor, module=module, vip=VIP4, module_args=args,
                       extra_conf=["enable-debug-command yes"])
        g.start()
        start_sentinels(g, down_after_ms=DOWN_AFTER_MS)
        cuts = Cuts(topo)
        try:
            wait_until(lambda: topo.holders(VIP4) == ["n1"], 30, 0.05,
                       msg=lambda: f"n1 holding the VIP at start\n{statuses(g)}")
        except AssertionError as exc:
            dead = [n for n, x in g.nodes.items() if not x.alive()]
            res.setup_error = f"{exc}" + (f"\ndead nodes: {dead}\n{g[dead[0]].log_tail(40)}" if dead else "")
            log(f"[{mode}] SETUP FAILED: {res.setup_error}")
            return res
        smp = HolderSampler(topo, interval=SAMPLE_INTERVAL).start()
        writer = VipWriter(topo, prefix="chaos", pause=WRITE_PAUSE).start()
        t_start = time.monotonic()
        try:
            for i, fault in enumerate(plan, 1):
                res.round_results.append(run_round(i, len(plan), fault, g, topo, smp, mode, cuts))
                last = res.round_results[-give_up:]
                if give_up and len(last) == give_up and not any(r.settled for r in last):
                    res.gave_up = (f"stopped after round {i}: {give_up} rounds in a row did not settle "
                                   f"(the state the last one left is in the log)")
                    log(f"[{mode}] {res.gave_up}")
                    break
        finally:
            cuts.heal_all()
            # final settle, then stop writing and read everything back
            try:
                final = wait_until(lambda: settled(g, smp), 10 if res.gave_up else SETTLE_TIMEOUT, 0.2, msg="final settle")
            except AssertionError:
                final = current_master(g)
            time.sleep(1)
            writer.stop()
            smp.stop()
        t_end = time.monotonic()
        res.rounds = len(res.round_results)
        res.unsettled_rounds = sum(1 for r in res.round_results if not r.settled)
        proms = [(ts, n) for ts, n in promotions(g)]
        res.failovers = len(proms)
        res.two_holders_ms = smp.duration_ms(lambda h: len(h) > 1, t_start, t_end)
        res.no_holder_ms = smp.duration_ms(lambda h: len(h) == 0, t_start, t_end)
        res.samples = len(smp.samples)
        res.sample_max_gap_ms = smp.max_gap() * 1000
        res.two_holder_episodes = [(round(a - t_start, 3), round((b - a) * 1000), "+".join(h))
                                   for a, b, h in smp.segments(t_start, t_end) if len(h) > 1]
        res.writes_acked = len(writer.acks)
        res.write_errors = writer.errors
        # split-brain: acknowledged by X, sent after the most recent promotion was of another node
        timeline = [(float("-inf"), "n1")] + proms
        split = set()
        j = 0
        for a in sorted(writer.acks, key=lambda a: a.t_send):
            while j + 1 < len(timeline) and timeline[j + 1][0] <= a.t_send:
                j += 1
            if timeline[j][1] != a.node:
                split.add(a.seq)
                res.split_brain_by_node[a.node] = res.split_brain_by_node.get(a.node, 0) + 1
        res.split_brain_writes = len(split)
        # lost: acknowledged, missing from the final master
        if final:
            c = g[final].client()
            missing = []
            acks = writer.acks
            for k in range(0, len(acks), 1000):
                chunk = acks[k:k + 1000]
                vals = c.mget([f"chaos:{a.seq}" for a in chunk])
                missing += [a.seq for a, v in zip(chunk, vals) if v != str(a.seq)]
            res.writes_lost = len(missing)
            res.lost_split_brain = sum(1 for s in missing if s in split)
            res.lost_other = res.writes_lost - res.lost_split_brain
            acked_at = {a.seq: a.t_ack for a in acks}
            for seq in missing:  # to the last round begun when it was acknowledged
                t = acked_at[seq]
                rounds = [r for r in res.round_results if r.t0 <= t] or res.round_results[:1]
                if rounds:
                    rounds[-1].writes_lost += 1
        else:
            res.setup_error = "no settled master at the end: writes not verified"
        res.by_fault = by_fault(res.round_results)
        res.seconds = time.monotonic() - t_mode
    return res


def by_fault(rounds: list[RoundResult]) -> dict:
    """Per fault kind: rounds, failovers, ms with two holders / no holder, writes lost."""
    out: dict = {}
    for r in rounds:
        f = out.setdefault(r.fault, {"rounds": 0, "failovers": 0, "two_holders_ms": 0, "no_holder_ms": 0,
                                     "writes_lost": 0, "unsettled": 0})
        f["rounds"] += 1
        f["failovers"] += r.failovers
        f["two_holders_ms"] += r.two_holders_ms
        f["no_holder_ms"] += r.no_holder_ms
        f["writes_lost"] += r.writes_lost
        f["unsettled"] += 0 if r.settled else 1
    return out


def debug_sleep(node, seconds: float) -> None:
    """DEBUG SLEEP on its own connection (the call blocks until the server wakes)."""
    c = node.client(socket_timeout=seconds + 30)
    try:
        c.execute_command("DEBUG", "SLEEP", f"{seconds:.2f}")
    except redis.RedisError:
        pass
    finally:
        c.connection_pool.disconnect()


def pick_sentinel(g: RedisGroup, master: str, fault: Fault) -> str:
    """The master's paired Sentinel (s2 for n2), or one of the two others."""
    if fault.sentinel_on_master:
        return sentinel_of(g, master)
    others = sorted(n for n in g.sentinels if n != sentinel_of(g, master))
    return others[fault.other_pick % len(others)]


def stopped_sentinels(g: RedisGroup, count: int, first: int) -> list[str]:
    """``count`` of the Sentinels, from the ``first``-th on (in key order, wrapping)."""
    keys = sorted(g.sentinels)
    return [keys[(first + k) % len(keys)] for k in range(count)]


def forced_failover(g: RedisGroup, cuts: Cuts, master: str, fault: Fault) -> str:
    """The master cut off from one Sentinel, which is then asked to fail it over; the cut stays
    ``fault.duration`` s after the failover."""
    key = pick_sentinel(g, master, fault)
    cuts.cut(master, sentinel_hosts_of(g, [key]))
    try:
        time.sleep(fault.lead)
        try:
            refused = force_failover(g.sentinels[key])
            new = wait_failover(g, master, timeout=60)
            detail = (f"{master} cut off from Sentinel {key}, {fault.lead:.1f}s later SENTINEL FAILOVER via it"
                      + (f" (NOGOODSLAVE {refused} times first)" if refused else "") + f": {master} -> {new}")
        except (redis.RedisError, AssertionError) as exc:
            detail = f"{master} cut off from Sentinel {key}, SENTINEL FAILOVER via it failed: {str(exc)[:80]}"
        time.sleep(fault.duration)
    finally:
        cuts.heal(master)
    return detail + f"; cut healed after {fault.duration:.1f}s more"


def crash_promotion_round(g: RedisGroup, master: str, fault: Fault) -> str:
    """One Sentinel told to crash right after it promotes a replica, then asked to fail the
    master over; restarted ``fault.duration`` s after it exited."""
    key = pick_sentinel(g, master, fault)
    s = g.sentinels[key]
    try:
        arm_crash(s)
        s.execute("SENTINEL", "FAILOVER", MASTER_NAME)
    except redis.RedisError as exc:
        return f"SENTINEL FAILOVER via {key} (crash after promotion) failed: {str(exc)[:80]}"
    try:
        wait_until(lambda: not s.alive(), 30, 0.05, msg=f"Sentinel {key} crashing after the promotion")
        detail = f"Sentinel {key} crashed after promoting (exit {s.proc.returncode if s.proc else '?'})"
    except AssertionError:
        detail = f"Sentinel {key} did not crash within 30 s"
    time.sleep(fault.duration)
    if not s.alive():
        s.start()
        s.wait_ready()
    return detail + f", restarted {fault.duration:.1f}s later"


def run_round(i: int, total: int, fault: Fault, g: RedisGroup, topo: Topology, smp: HolderSampler,
              mode: str, cuts: Cuts) -> RoundResult:
    """One fault, then wait until settled. The round's figures cover the quiet pause before the
    fault too, so that the rounds add up to the whole run."""
    t0 = time.monotonic()
    w0 = time.time()
    proms_before = len(promotions(g))
    time.sleep(fault.pause)
    master = current_master(g) or "?"
    detail = ""
    lost_sentinel = None
    if fault.sentinel_loss and master != "?":
        lost_sentinel = pick_sentinel(g, master, fault)
        g.sentinels[lost_sentinel].kill9()
        detail += f"sentinel {lost_sentinel} killed; "
    try:
        node = g[master] if master != "?" else None
        if node is None:
            detail += "no master to fault"
        elif fault.kind == "kill9":
            node.kill9()
            try:
                new = wait_failover(g, master, timeout=60)
                detail += f"kill -9 {master}, failover to {new}; "
            except AssertionError:
                detail += f"kill -9 {master}, NO failover within 60 s; "
            time.sleep(fault.duration)
            node.start()
            node.wait_ready()
            detail += f"stale restart after {fault.duration:.1f}s"
        elif fault.kind == "sigstop":
            node.sigstop()
            try:
                time.sleep(fault.duration)
            finally:
                node.sigcont()
            detail += f"SIGSTOP {master} {fault.duration:.1f}s"
        elif fault.kind == "link":
            topo.link_down(master)
            try:
                time.sleep(fault.duration)
            finally:
                topo.link_up(master)
            detail += f"link of {master} down {fault.duration:.1f}s"
        elif fault.kind == "busy":
            sleeper = threading.Thread(target=debug_sleep, args=(node, fault.duration), daemon=True)
            sleeper.start()
            sleeper.join(fault.duration + 30)
            detail += f"DEBUG SLEEP {fault.duration:.1f}s on {master}"
        elif fault.kind == "planned":
            alive = sorted(n for n in g.sentinels if g.sentinels[n].alive())
            asked = alive[fault.other_pick % len(alive)]
            try:
                g.sentinels[asked].execute("SENTINEL", "FAILOVER", MASTER_NAME)
                new = wait_failover(g, master, timeout=60)
                detail += f"SENTINEL FAILOVER via {asked}: {master} -> {new}"
            except (redis.RedisError, AssertionError) as exc:
                detail += f"SENTINEL FAILOVER via {asked} failed: {str(exc)[:80]}"
        elif fault.kind == "sentinel":
            time.sleep(fault.duration)
            detail += f"for {fault.duration:.1f}s"
        elif fault.kind == "restart":
            node.kill9()
            node.start()
            node.wait_ready()
            detail += f"kill -9 {master} and restart at once"
        elif fault.kind == "backup":
            node.execute("CONFIG", "SET", "repl-diskless-sync-delay", str(int(fault.duration) + 5))
            dump = topo.workdir / f"backup-{i}.rdb"
            cli = topo.popen("obs", "redis-cli", "-h", node.address, "--rdb", str(dump))
            try:
                time.sleep(fault.duration)
            finally:
                cli.kill()
                cli.wait(timeout=10)
                node.execute("CONFIG", "SET", "repl-diskless-sync-delay", "0")
            detail += f"redis-cli --rdb against {master} for {fault.duration:.1f}s"
        elif fault.kind == "replaced":
            name = pick_sentinel(g, master, fault)
            old = g.sentinels[name]
            old.kill9()
            port = max(s.port for s in g.sentinels.values()) + 1
            new = SentinelNode(topo, name, flavor=g.flavor, master_addr=g[master].address, port=port,
                               down_after_ms=DOWN_AFTER_MS, failover_timeout_ms=10000)
            new.start()
            new.wait_ready()
            g.sentinels[name] = new
            detail += f"Sentinel {name} replaced by a new one on port {port}"
        elif fault.kind in ("sstop1", "sstop2", "sstop3"):
            keys = stopped_sentinels(g, int(fault.kind[-1]), fault.other_pick + (0 if fault.sentinel_on_master else 1))
            try:
                for k in keys:
                    g.sentinels[k].sigstop()
                time.sleep(fault.duration)
            finally:
                for k in keys:
                    g.sentinels[k].sigcont()
            detail += f"SIGSTOP of Sentinels {','.join(keys)} {fault.duration:.1f}s"
        elif fault.kind in ("cut-sentinels", "cut-replicas", "cut-replica"):
            replicas = sorted(n for n in g.nodes if n != master)
            if fault.kind == "cut-sentinels":
                host, peers, what = master, sentinel_hosts_of(g), f"{master} cut off from the Sentinels"
            elif fault.kind == "cut-replicas":
                host, peers, what = master, replicas, f"{master} cut off from its replicas"
            else:
                host = replicas[fault.other_pick % len(replicas)]
                peers, what = [master], f"replica {host} cut off from {master}"
            cuts.cut(host, peers)
            try:
                time.sleep(fault.duration)
            finally:
                cuts.heal(host)
            detail += f"{what} {fault.duration:.1f}s"
        elif fault.kind == "forced":
            detail += forced_failover(g, cuts, master, fault)
        elif fault.kind == "crash-promotion":
            detail += crash_promotion_round(g, master, fault)
    finally:
        cuts.heal_all()
        if lost_sentinel:
            g.sentinels[lost_sentinel].start()
            g.sentinels[lost_sentinel].wait_ready()
    ok = True
    try:
        after = wait_until(lambda: settled(g, smp), SETTLE_TIMEOUT, 0.2,
                           msg=lambda: f"settled after round {i}\n{statuses(g)}")
    except AssertionError as exc:
        ok = False
        after = current_master(g) or "?"
        log(f"[{mode}] round {i}: NOT SETTLED: {str(exc)[:3000]}")
    t1 = time.monotonic()
    r = RoundResult(i, fault.kind, detail.strip("; "), master, after, len(promotions(g)) - proms_before,
                    round(smp.duration_ms(lambda h: len(h) > 1, t0, t1)),
                    round(smp.duration_ms(lambda h: len(h) == 0, t0, t1)), ok, round(t1 - t0, 1), w0, time.time())
    log(f"[{mode}] round {i}/{total} {r.fault}: {r.detail}; master {master}->{after}; "
        f"failovers {r.failovers}; two holders {r.two_holders_ms:.0f} ms; no holder {r.no_holder_ms:.0f} ms; "
        f"{r.seconds:.1f}s")
    return r


# ----------------------------------------------------------------------------------------------


def table(results: list[ModeResult]) -> str:
    rows = [
        ("rounds", lambda r: r.rounds),
        ("failovers (promotions)", lambda r: r.failovers),
        ("total ms with two holders", lambda r: f"{r.two_holders_ms:.0f}"),
        ("total ms with no holder", lambda r: f"{r.no_holder_ms:.0f}"),
        ("writes acknowledged", lambda r: r.writes_acked),
        ("split-brain writes", lambda r: r.split_brain_writes),
        ("writes lost", lambda r: r.writes_lost),
        ("  of which split-brain", lambda r: r.lost_split_brain),
        ("  of which other (async replication)", lambda r: r.lost_other),
        ("rounds not settled", lambda r: r.unsettled_rounds),
        ("holder samples / largest gap ms", lambda r: f"{r.samples} / {r.sample_max_gap_ms:.0f}"),
        ("run time s", lambda r: f"{r.seconds:.0f}"),
    ]
    w = max(len(n) for n, _ in rows)
    lines = [f"{'':{w}}  " + "  ".join(f"{r.mode:>12}" for r in results)]
    for name, f in rows:
        lines.append(f"{name:{w}}  " + "  ".join(f"{str(f(r)):>12}" for r in results))
    return "\n".join(lines)


def fault_table(results: list[ModeResult]) -> str:
    """Per fault kind and mode: ms with two holders / acknowledged writes lost / ms with no
    holder (summed over the rounds of that kind)."""
    kinds = [k for k in KINDS if any(k in r.by_fault for r in results)]
    head = "| fault | rounds | " + " | ".join(f"{r.mode}: two holders ms / writes lost / no holder ms"
                                             for r in results) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(results)]
    for k in kinds:
        n = max(r.by_fault.get(k, {}).get("rounds", 0) for r in results)
        cells = []
        for r in results:
            f = r.by_fault.get(k)
            cells.append("—" if not f else f"{f['two_holders_ms']:.0f} / {f['writes_lost']} / {f['no_holder_ms']:.0f}"
                         + (f" ({f['unsettled']} not settled)" if f["unsettled"] else ""))
        lines.append(f"| {k} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, seed: int, args, plan: list[Fault], results: list[ModeResult], done: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seed": seed, "rounds": args.rounds, "flavor": args.flavor, "complete": done,
                                "modes": [r.mode for r in results], "plan": [asdict(f) for f in plan],
                                "results": [asdict(r) for r in results]}, indent=1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rounds", type=int, nargs="?", default=int(os.environ.get("ROUNDS", "10")))
    ap.add_argument("--seed", type=int, default=int(os.environ["SEED"]) if os.environ.get("SEED") else None,
                    help="seed of the fault plan (default: $SEED, else random; printed either way)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated, run in this order: basic, sentinel (vip.failsafe no), failsafe")
    ap.add_argument("--faults", default="", help=f"only these fault kinds (default all: {', '.join(KINDS)})")
    ap.add_argument("--flavor", default="redis", choices=["redis", "valkey"])
    ap.add_argument("--module", default=os.environ.get("VIP_MODULE") or str(DEFAULT_MODULE))
    ap.add_argument("--json", help="the full results (per round), rewritten after each mode "
                                   "(default target/chaos/chaos-<seed>-<time>.json)")
    ap.add_argument("--keep", action="store_true", help="keep the topology directories (logs)")
    ap.add_argument("--give-up", type=int, default=3, metavar="N",
                    help="end a mode after N rounds in a row that did not settle (0: never; default 3)")
    args = ap.parse_args()
    problem = root_and_module_problem(args.module, "the chaos run")
    if problem:
        print(problem, file=sys.stderr)
        return 2

    def on_term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    only = [k.strip() for k in args.faults.split(",") if k.strip()]
    unknown = [k for k in only if k not in KINDS]
    if unknown:
        print(f"--faults: unknown {unknown} (choose from {', '.join(KINDS)})", file=sys.stderr)
        return 2
    plan = make_plan(args.rounds, seed, only or None)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        print(f"--modes: unknown {bad} (choose from {', '.join(MODES)})", file=sys.stderr)
        return 2
    jpath = Path(args.json) if args.json else (Path(__file__).resolve().parent.parent / "target" / "chaos"
                                               / f"chaos-{seed}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    log(f"chaos run: {args.rounds} rounds, seed {seed}, modes {modes}, flavor {args.flavor}, module {args.module}"
        + (f", faults {only}" if only else ""))
    log(f"Sentinel down-after-milliseconds {DOWN_AFTER_MS}, quorum 2 of 3; "
        f"plan: " + ", ".join(f.kind + ("+S" if f.sentinel_loss and f.kind != "sentinel" else "") for f in plan))
    swept = sweep_stale_namespaces()
    if swept:
        log(f"swept {len(swept)} stale namespaces of dead runs")
    # a private copy of the module: a rebuild during the run must not mix builds (a stale
    # restart loads the .so again from disk)
    private = Path(f"/tmp/redis-vip-chaos-{os.getpid()}.so")
    shutil.copy2(args.module, private)
    results = []
    try:
        for mode in modes:
            results.append(run_mode(mode, plan, args.flavor, str(private), args.keep, args.give_up))
            write_json(jpath, seed, args, plan, results, done=len(results) == len(modes))
            log(f"[{mode}] done in {results[-1].seconds:.0f} s; results so far in {jpath}")
    finally:
        private.unlink(missing_ok=True)
    print()
    print(f"seed {seed}, {args.rounds} rounds, flavor {args.flavor}, "
          f"down-after-milliseconds {DOWN_AFTER_MS}")
    print(table(results))
    print()
    print("By fault (summed over its rounds):")
    print(fault_table(results))
    for r in results:
        if r.setup_error:
            print(f"\n{r.mode}: {r.setup_error}")
        if r.gave_up:
            print(f"\n{r.mode}: {r.gave_up}")
        if r.two_holder_episodes:
            print(f"\n{r.mode}: two-holder episodes (s from start, ms, holders): {r.two_holder_episodes}")
        if r.split_brain_by_node:
            print(f"{r.mode}: split-brain writes by node: {r.split_brain_by_node}")
    log(f"results: {jpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
