"""Figure 13: what TLS to the Sentinels costs, against the same deployment in plaintext.

A TLS deployment as Redis's TLS documentation gives it (tests/harness/tls.py): every node with
``port 0``, ``tls-port`` and ``tls-replication yes``, every Sentinel with ``port 0`` and
``tls-port 26379``, ``tls-auth-clients yes``; the module with ``vip.sentinel-tls yes`` and the
server's own certificate files. The plaintext deployment is the same without the tls-* lines.

    failover_rep(tls)      kill -9 of the master at down-after 1000: each Sentinel's +sdown,
                           +odown and the promotion after the kill, the promoted node's first GARP
                           after its "MASTER MODE enabled" line (figure 1's claim latency), and
                           whether the dead node's kernel still had the VIP (1 s address lifetime)
                           when the new master claimed, from the holder sampler
    load_rep(tls, groups)  ``groups`` groups of 3 nodes (a master and 2 replicas, each group its
                           own master name, VIP and port) on ONE set of 3 Sentinels, 100 ms polls:
                           the Sentinels' CPU seconds per second (/proc/<pid>/stat utime+stime,
                           and schedstat) with every module polling and with ``vip.enabled no``
                           everywhere; the module's connections per node (``ss -tnp`` in the
                           node's namespace, and CLIENT LIST on the Sentinels); polls counted on
                           the Sentinels (``cmdstat_sentinel|master``)
    callgrind_rep(tls, s)  one node under callgrind with one Sentinel: the instructions of every
                           thread but the main one (the worker and the pollers; Redis' bio threads
                           sleep) over ``s`` seconds, and the polls the Sentinel answered

    python3 -m bench.tls_cost --what failover|load|callgrind [--tls] [--groups 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from typing import Optional

from bench.common import Repetition
from bench.mechanisms import module_path
from tests.harness.logs import log_times, timed_lines
from tests.harness.netns import MASTER_NAME, REDIS_PORT, SENTINEL_PORT, VIP4, VIP_IP, wait_until
from tests.harness.processes import RedisNode, SentinelNode
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import sentinel_list
from tests.harness.tls import Pki, make_pki, server_tls_conf, use_tls_clients
from tests.harness.topology import Topology

DOWN_AFTER_MS = 1000
POLL_MS = 100
COMMANDS_PER_POLL = 2 + POLL_MS / 5000


def group_vip(k: int) -> str:
    return VIP4 if k == 0 else f"192.0.2.{100 + k}/24"


def group_name(k: int) -> str:
    return MASTER_NAME if k == 0 else f"g{k}"


class Deployment(Repetition):
    """``groups`` groups of 3 nodes on one topology (group k: port 6379+k on n1..n3, n1 its
    master, its own master name and VIP) and one Sentinel per namespace watching every group;
    TLS everywhere when ``tls``."""

    def __init__(self, tag: str, tls: bool, groups: int = 1, keep: bool = False,
                 wrapper_n1: tuple = (), nodes: int = 3, down_after_ms: int = DOWN_AFTER_MS,
                 sentinel_conf: tuple = ()):
        self.tag, self.tls, self.groups, self.keep = tag, tls, groups, keep
        self.wrapper_n1, self.n_nodes, self.down_after_ms = list(wrapper_n1), nodes, down_after_ms
        self.sentinel_conf = list(sentinel_conf)
        self.topo: Optional[Topology] = None
        self.pki: Optional[Pki] = None
        self.nodes: dict[tuple[int, str], RedisNode] = {}
        self.sentinels: dict[str, SentinelNode] = {}

    def tls_conf(self, port: int) -> list[str]:
        return server_tls_conf(self.pki, port, auth_clients=True) if self.pki else []

    def setup(self) -> None:
        self.topo = topo = Topology(self.tag, nodes=self.n_nodes, keep_workdir=self.keep)
        if self.tls:
            self.pki = make_pki(topo.workdir / "pki")
        names = topo.node_names
        for k in range(self.groups):
            port = REDIS_PORT + k
            args = ["address", group_vip(k), "interface", "eth0", "sentinels", sentinel_list(topo, names),
                    "master-name", group_name(k)] + (["sentinel-tls", "yes"] if self.tls else [])
            for name in names:
                extra = self.tls_conf(port) + ([f"replicaof {topo.addr4('n1')} {port}"] if name != "n1" else [])
                n = RedisNode(topo, name, module=module_path(), module_args=args, port=port,
                              protected_configs=True, extra_conf=extra,
                              wrapper=self.wrapper_n1 if name == "n1" else ())
                if k:
                    n.dir = n.dir.parent / f"redis-{name}-g{k}"
                    n.dir.mkdir(parents=True, exist_ok=True)
                    n.conf, n.logfile, n.stdout_file = n.dir / "redis.conf", n.dir / "redis.log", n.dir / "stdout.log"
                    n.write_conf()
                if self.pki:
                    use_tls_clients(n, self.pki)
                self.nodes[(k, name)] = n
        for n in self.nodes.values():
            n.write_conf()  # each RedisNode first writes the default redis-<name>/redis.conf
            n.start()
        for n in self.nodes.values():
            n.wait_ready(120 if self.wrapper_n1 else 20)
        want = len(names) - 1
        wait_until(lambda: all(int(n.client().info("replication").get("connected_slaves", 0)) >= want
                               for (k, name), n in self.nodes.items() if name == "n1"), 60, 0.2,
                   msg="replicas online in every group")
        for name in names:
            extra = []
            for k in range(1, self.groups):
                g = group_name(k)
                extra += [f"sentinel monitor {g} {topo.addr4('n1')} {REDIS_PORT + k} {min(2, len(names))}",
                          f"sentinel down-after-milliseconds {g} {self.down_after_ms}",
                          f"sentinel failover-timeout {g} 10000"]
            s = SentinelNode(topo, name, master_addr=topo.addr4("n1"), quorum=min(2, len(names)),
                             down_after_ms=self.down_after_ms, failover_timeout_ms=10000,
                             extra_conf=self.tls_conf(SENTINEL_PORT) + extra + self.sentinel_conf)
            if self.pki:
                use_tls_clients(s, self.pki)
            self.sentinels[name] = s
            s.start()
        for s in self.sentinels.values():
            s.wait_ready()

        def seen() -> bool:
            for s in self.sentinels.values():
                for k in range(self.groups):
                    if len(s.execute("SENTINEL", "REPLICAS", group_name(k))) < want:
                        return False
                    if len(self.sentinels) > 1 and len(s.execute("SENTINEL", "SENTINELS", group_name(k))) \
                            < len(self.sentinels) - 1:
                        return False
            return True

        wait_until(seen, 90, 0.3, msg="every Sentinel sees every group's replicas and its peers")
        wait_until(lambda: all(topo.holders(group_vip(k)) == ["n1"] for k in range(self.groups)),
                   120 if self.wrapper_n1 else 40, 0.05, msg=lambda: f"n1 holds every group's VIP: "
                   f"{[(k, topo.holders(group_vip(k))) for k in range(self.groups)]}")

    def close(self) -> None:
        if self.topo is not None:
            self.topo.close()

    # -- readings -----------------------------------------------------------------------------

    def commands(self) -> int:
        """Commands every Sentinel processed (INFO stats; a Sentinel's INFO has no
        commandstats). A poll is SENTINEL MASTER and SENTINEL REPLICAS, and SENTINEL SENTINELS
        every 5 s (COMMANDS_PER_POLL); the module's share is the difference with the module
        disabled."""
        return sum(int(s.client().info("stats").get("total_commands_processed", 0))
                   for s in self.sentinels.values())

    def module_clients(self) -> dict[str, int]:
        """CLIENT LIST on each Sentinel: clients named redis-vip."""
        return {name: sum(1 for c in s.client().client_list() if c.get("name") == "redis-vip")
                for name, s in self.sentinels.items()}

    def node_connections(self, node: RedisNode) -> int:
        """The node's TCP connections to a Sentinel port, from ``ss -tnp`` in its namespace."""
        out = self.topo.run(node.name, "ss", "-tnpH", "state", "established", "dport", f"= :{SENTINEL_PORT}",
                            check=False).stdout
        return sum(1 for line in out.splitlines() if f"pid={node.pid}," in line)


def _sentinel_cpu(pids: list[int]) -> tuple[float, float]:
    """(utime+stime seconds from /proc/<pid>/stat, schedstat run seconds of every thread)."""
    from bench.common import cpu_seconds, schedstat_ns
    stat = sum(cpu_seconds(p) for p in pids)
    sched = 0
    for p in pids:
        for tid in os.listdir(f"/proc/{p}/task"):
            sched += schedstat_ns(p, int(tid)) or 0
    return stat, sched / 1e9


def _poller_seconds(nodes: list[RedisNode]) -> float:
    from bench.common import schedstat_ns, threads_by_name
    total = 0
    for n in nodes:
        for tname, tid in threads_by_name(n.pid).items():
            if tname.startswith("vip-sentinel-") or tname == "vip-worker":
                total += schedstat_ns(n.pid, tid) or 0
    return total / 1e9


def _window(dep: Deployment, seconds: float) -> dict:
    pids = [s.pid for s in dep.sentinels.values()]
    nodes = list(dep.nodes.values())
    p0, (a0, b0), m0, t0 = dep.commands(), _sentinel_cpu(pids), _poller_seconds(nodes), time.monotonic()
    time.sleep(seconds)
    p1, (a1, b1), m1, t1 = dep.commands(), _sentinel_cpu(pids), _poller_seconds(nodes), time.monotonic()
    dt = t1 - t0
    n_s = len(pids)
    return {"seconds": dt, "commands": p1 - p0 - n_s,  # less our own INFO on each
            "sentinel_ms_per_s": (a1 - a0) * 1000 / dt / n_s, "sentinel_sched_ms_per_s": (b1 - b0) * 1000 / dt / n_s,
            "module_ms": (m1 - m0) * 1000}


def load_rep(tls: bool, groups: int, seconds: float, keep: bool = False) -> dict:
    """The Sentinels' CPU with every module polling, then with ``vip.enabled no`` everywhere;
    the connections each node keeps; the module's worker+poller CPU per poll."""
    res: dict = {"tls": tls, "groups": groups, "nodes": 3 * groups}
    with Deployment("btl" if tls else "bpl", tls, groups, keep) as dep:
        time.sleep(2)
        res["conns_ss"] = {f"{n.name}:{n.port}": dep.node_connections(n) for n in dep.nodes.values()}
        res["conns_client_list"] = dep.module_clients()
        on = _window(dep, seconds)
        res["polling"] = on
        for n in dep.nodes.values():
            err = n.config_set("vip.enabled", "no")
            if err:
                raise RuntimeError(f"vip.enabled no refused: {err}")
        wait_until(lambda: sum(dep.module_clients().values()) == 0, 10, 0.1,
                   msg=lambda: f"the module's Sentinel connections closed: {dep.module_clients()}")
        time.sleep(2)
        off = _window(dep, seconds)
        res["disabled"] = off
        res["conns_after_disable"] = sum(dep.module_clients().values())
        module_cmds = on["commands"] - off["commands"] * on["seconds"] / off["seconds"]
        res["polls"] = module_cmds / COMMANDS_PER_POLL
        res["polls_nominal"] = res["nodes"] * len(dep.sentinels) * on["seconds"] * 1000 / POLL_MS
        res["module_ms_per_poll"] = on["module_ms"] / res["polls"] if res["polls"] > 0 else None
        res["extra_sentinel_ms_per_s"] = on["sentinel_ms_per_s"] - off["sentinel_ms_per_s"]
        res["extra_sentinel_sched_ms_per_s"] = on["sentinel_sched_ms_per_s"] - off["sentinel_sched_ms_per_s"]
        alive = [n for n in dep.nodes.values() if not n.alive()]
        if alive or dep.topo.crashes():
            raise RuntimeError(f"a server died: {dep.topo.crashes()}")
    return res


# ----------------------------------------------------------------------------------------------
# kill -9 of the master


def _times(text: str, needle: str, after: float) -> list[float]:
    return [t for t in log_times(text, needle) if t >= after - 0.001]


def failover_rep(tls: bool, keep: bool = False) -> dict:
    res: dict = {"tls": tls}
    # loglevel debug: the Sentinels' reconnection attempts (-cmd-link-reconnection) are
    # debug events
    with Deployment("btf" if tls else "bpf", tls, 1, keep, sentinel_conf=("loglevel debug",)) as dep:
        topo = dep.topo
        macs = {n: topo.mac(n) for n in topo.node_names}
        cap = topo.capture("obs", filter="arp")
        with HolderSampler(topo, interval=0.02) as smp:
            time.sleep(0.5)
            old = dep.nodes[(0, "n1")]
            t_kill = time.time()
            os.kill(old.pid, signal.SIGKILL)
            old.proc.wait(timeout=10)

            def promoted() -> Optional[str]:
                for name in ("n2", "n3"):
                    if _times(dep.nodes[(0, name)].log_text(), "MASTER MODE enabled", t_kill):
                        return name
                return None

            first = wait_until(promoted, 40, 0.05, msg="a replica promoted")
            wait_until(lambda: cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac == macs[first]
                                            and p.ts > t_kill), 15, 0.05, msg=f"{first}'s GARP")
            time.sleep(1.5)  # the old node's address runs out; a second failover shows
        cap.stop()
        ms = lambda t: (t - t_kill) * 1000 if t is not None else None  # noqa: E731
        res["first_promoted"] = first
        res["sdown_ms"], res["odown_ms"] = {}, {}
        for name, s in dep.sentinels.items():
            text = s.log_text()
            sd = [t for t in _times(text, "+sdown master", t_kill)]
            od = [t for t in _times(text, "+odown master", t_kill)]
            res["sdown_ms"][name] = ms(sd[0]) if sd else None
            res["odown_ms"][name] = ms(od[0]) if od else None
        res["reconnects_until_sdown"] = {}
        res["tls_init_failed_until_sdown"] = {}
        for name, s in dep.sentinels.items():
            lines = [(t, line) for t, line in timed_lines(s.log_text(), "-cmd-link-reconnection master")
                     if t >= t_kill and (res["sdown_ms"][name] is None or ms(t) <= res["sdown_ms"][name])]
            res["reconnects_until_sdown"][name] = len(lines)
            res["tls_init_failed_until_sdown"][name] = sum("Failed to initialize TLS" in line for _, line in lines)
        sd_vals = [v for v in res["sdown_ms"].values() if v is not None]
        res["first_sdown_ms"] = min(sd_vals) if sd_vals else None
        sw = [t for s in dep.sentinels.values() for t in _times(s.log_text(), "+switch-master", t_kill)]
        res["switch_master_ms"] = ms(min(sw)) if sw else None
        t_promo = _times(dep.nodes[(0, first)].log_text(), "MASTER MODE enabled", t_kill)[0] + 0.0005
        res["promotion_ms"] = ms(t_promo)
        garps = [p for p in cap.packets() if p.announces(VIP_IP) and p.src_mac == macs[first] and p.ts > t_kill]
        t_garp = garps[0].ts if garps else None
        res["first_garp_ms"] = ms(t_garp)
        res["claim_ms"] = (t_garp - t_promo) * 1000 if t_garp else None
        st = dep.nodes[(0, first)].vip_status()
        res["module_claim_latency_us"] = int(st.get("last_claim_latency_us") or 0) or None
        # the dead node's address: the last sample at or before the new master's first GARP
        samples = smp.snapshot()
        before = [s for s in samples if t_garp is not None and s.wall <= t_garp]
        res["dead_node_held_at_claim"] = ("n1" in before[-1].holders) if before else None
        gone = [s.wall for s in samples if s.wall > t_kill and "n1" not in s.holders]
        res["dead_node_vip_gone_ms"] = ms(gone[0]) if gone else None
        res["two_holders_ms"] = smp.duration_ms(lambda h: len(h) > 1)
        res["promotions"] = sum(len(_times(dep.nodes[(0, n)].log_text(), "MASTER MODE enabled", t_kill))
                                for n in ("n2", "n3"))
    return res


# ----------------------------------------------------------------------------------------------
# callgrind: instructions per poll


def _thread_ir(files: list[Path]) -> int:
    """Instructions of every thread but the main one (callgrind's ``-01``)."""
    total = 0
    for f in files:
        if f.name.endswith("-01"):
            continue
        with open(f, errors="replace") as fh:
            for line in fh:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total += int(line.split()[1])
                    break
    return total


def callgrind_rep(tls: bool, seconds: float, keep: bool = False) -> dict:
    """n1 with the module under callgrind and one Sentinel in n1: polls answered and the
    instructions of the worker and poller threads over ``seconds`` after the VIP is held."""
    import tempfile
    work = Path(tempfile.mkdtemp(prefix="vt-tlscg-"))
    out = work / "callgrind.out"
    wrapper = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--separate-threads=yes")
    with Deployment("bcg", tls, 1, keep, wrapper_n1=wrapper, nodes=1) as dep:
        node = dep.nodes[(0, "n1")]
        time.sleep(1.0)
        # one Sentinel, no peers and no replicas: every command it processes is a poll's
        # (or our own INFO, one per reading)
        p0 = dep.commands()
        time.sleep(seconds)
        p1 = dep.commands()
        node.shutdown_and_wait(120)
    files = sorted(out.parent.glob(out.name + "-*"))
    ir = _thread_ir(files)
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    return {"tls": tls, "seconds": seconds, "polls": (p1 - p0 - 1) / COMMANDS_PER_POLL, "threads_ir": ir, "thread_files": len(files)}


def callgrind_pair(tls: bool, short_s: float, long_s: float, keep: bool = False) -> dict:
    """Two runs differenced: start-up, the TLS handshake and shutdown cancel out."""
    a, b = callgrind_rep(tls, short_s, keep), callgrind_rep(tls, long_s, keep)
    dp = b["polls"] - a["polls"]
    return {"tls": tls, "short": a, "long": b,
            "ir_per_poll": (b["threads_ir"] - a["threads_ir"]) / dp if dp > 0 else None}


def available() -> Optional[str]:
    import shutil
    from tests.harness.servers import server_binary
    from tests.harness.tls import openssl_available, server_has_tls
    if not openssl_available():
        return "the openssl command is not installed"
    try:
        if not server_has_tls(server_binary("redis")):
            return "redis-server is built without TLS"
    except Exception as exc:  # noqa: BLE001
        return str(exc)
    if not shutil.which("ss"):
        return "ss (iproute2) is not installed"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--what", choices=("failover", "load", "callgrind"), default="load")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--groups", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.what == "failover":
        r = failover_rep(a.tls, a.keep)
    elif a.what == "load":
        r = load_rep(a.tls, a.groups, a.seconds, a.keep)
    else:
        r = callgrind_pair(a.tls, a.seconds, 3 * a.seconds, a.keep)
    print(json.dumps(r, indent=1, default=str))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
