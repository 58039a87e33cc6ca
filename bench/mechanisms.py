"""The four ways of keeping a VIP on the Redis master, each deployed on a fresh Topology:

- ``vip-basic``        redis-vip, basic mode (no vip.sentinels), defaults otherwise
- ``vip-sentinel``     redis-vip, Sentinel-confirmed mode: vip.sentinels = the three Sentinels,
                       vip.master-name mymaster, defaults otherwise (lease = half of down-after,
                       polls every 100 ms, vip.failsafe yes)
- ``vip-sentinel-nofs`` the same with `vip.failsafe no` (the replicas never asked: the mode as it
                       was before the failsafe). Not in a default run: figure 15 names it
- ``sentinel-script``  Sentinel client-reconfig-script: ip addr add/del + arping -c 3 -A
                       (bench/peers/sentinel-reconfig-vip.sh)
- ``keepalived``       keepalived VRRP on every node, vrrp_script on the local Redis role
                       (bench/peers/keepalived.conf.in, keepalived-check-redis-master.sh)
- ``keepalived-fast``  the same with sub-second VRRP timers: VRRPv3, advert_int 0.1 (the check
                       script every second, the least keepalived 2.2.7 accepts;
                       bench/peers/keepalived-fast.conf.in). Not in a default run: name it in
                       --mechanisms

Every deployment: n1 master, n2 and n3 replicas, one Sentinel per node (quorum 2,
down-after-milliseconds 1000 for every mechanism unless a run names others, failover-timeout 10000, parallel-syncs 1),
observer/client in ``obs``; `enable-debug-command yes` on every Redis (the busy-master figure
sends DEBUG SLEEP). All processes are started through the Topology (``ip netns exec``) and
killed by pid when it closes. With ``sentinels_apart`` (figure 15's cuts; the topology made with
``sentinel_hosts=3``) the Sentinels run on hosts s1-s3 of their own instead; the Sentinel script
does not apply there (its recipe runs the script beside a Redis node).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import BENCH_DIR, VIP_PREFIX
from tests.harness.logs import promotions
from tests.harness.netns import DEFAULT_MODULE, MASTER_NAME, NODE_ADDR4, VIP4, VIP_IP
from tests.harness.processes import SentinelNode
from tests.harness.sentinel import DOWN_AFTER_MS, sentinel_hosts, sentinel_list, wait_settled
from tests.harness.status import try_status
from tests.harness.topology import Topology

# a default run's mechanisms
MECHANISMS = ["vip-basic", "vip-sentinel", "sentinel-script", "keepalived"]
# every mechanism a run may name (--mechanisms), in the tables' order
ALL_MECHANISMS = MECHANISMS + ["keepalived-fast", "vip-sentinel-nofs"]
KEEPALIVED_CONF = {"keepalived": "keepalived.conf.in", "keepalived-fast": "keepalived-fast.conf.in"}
LABELS = {
    "vip-basic": "redis-vip basic",
    "vip-sentinel": "redis-vip sentinel",
    "vip-sentinel-nofs": "redis-vip sentinel, failsafe no",
    "sentinel-script": "Sentinel script",
    "keepalived": "keepalived",
    "keepalived-fast": "keepalived 0.1 s",
}
# short codes for namespace tags and work directories
TAGS = {"vip-basic": "vb", "vip-sentinel": "vs", "sentinel-script": "ss", "keepalived": "ka", "keepalived-fast": "kf",
        "vip-sentinel-nofs": "vn"}
# Sentinel's usual setting, the same for every mechanism (tests/harness/sentinel.py)
DOWN_AFTER_MS = DOWN_AFTER_MS
REDIS_EXTRA_CONF = ["enable-debug-command yes"]
PEERS = BENCH_DIR / "peers"


def module_path() -> str:
    return os.environ.get("VIP_MODULE", str(DEFAULT_MODULE))


def sentinel_mode_args(topo: Topology, nodes=("n1", "n2", "n3")) -> list[str]:
    """loadmodule arguments of the Sentinel-confirmed mode: one Sentinel per named node
    namespace, on the node's address (module_args for the three of a group)."""
    return ["sentinels", sentinel_list(topo, nodes), "master-name", MASTER_NAME]


def mode_args(topo: Topology, mech: str, apart: bool = False) -> list[str]:
    """The module's mode arguments for a mechanism (after address/interface)."""
    if mech not in ("vip-sentinel", "vip-sentinel-nofs"):
        return []
    hosts = sentinel_hosts(topo) if apart else ("n1", "n2", "n3")
    return sentinel_mode_args(topo, hosts) + (["failsafe", "no"] if mech == "vip-sentinel-nofs" else [])


def fill(template: Path, dest: Path, values: dict[str, str], mode: int = 0o644) -> Path:
    text = template.read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"{template.name}: unfilled {left}")
    dest.write_text(text)
    dest.chmod(mode)
    return dest


class NotReady(RuntimeError):
    """The mechanism did not put the VIP on the master: a result to report, not a harness
    failure."""


class Deployment:
    """One mechanism on one topology. ``start()`` returns once n1 is master, the Sentinels
    see every replica and peer, and the VIP is on n1 only.

    With ``module_at_start=False`` the Redis servers start without the module and
    ``start(wait_vip=False)`` returns with the Sentinels ready; ``load_module()`` then sends
    MODULE LOAD to n1 (the start-up figure). keepalived is not started either until
    ``start_keepalived()``."""

    def __init__(self, topo: Topology, mech: str, down_after_ms: int = DOWN_AFTER_MS,
                 module_at_start: bool = True, sentinels_apart: bool = False):
        if mech not in ALL_MECHANISMS:
            raise ValueError(f"unknown mechanism {mech!r}")
        if sentinels_apart and mech == "sentinel-script":
            raise NotReady("the Sentinel script runs beside a Redis node: not with the Sentinels apart")
        self.topo = topo
        self.mech = mech
        self.down_after_ms = down_after_ms
        self.module_at_start = module_at_start
        self.apart = sentinels_apart
        module = module_path() if (mech.startswith("vip-") and module_at_start) else None
        self.group = topo.redis(module=module, vip=VIP4 if module else None,
                                module_args=mode_args(topo, mech, sentinels_apart), extra_conf=REDIS_EXTRA_CONF)
        self.keepalived: dict[str, subprocess.Popen] = {}

    # -- setup ----------------------------------------------------------------------------
    def start(self, timeout: float | None = None, wait_vip: bool = True) -> "Deployment":
        # the module claims within ~1 s (the Sentinel-confirmed mode: once the Sentinels,
        # started last, confirm n1); keepalived needs its 3-4 s master-down timer and a
        # settled election
        timeout = timeout or (20.0 if self.mech.startswith("vip-") else 40.0)
        g = self.group
        g.start()
        if self.mech in KEEPALIVED_CONF and self.module_at_start:
            self.start_keepalived()
        self._start_sentinels()
        if self.mech == "sentinel-script":
            # the recipe's install step: put the VIP on the current master by hand
            self.topo.ipcmd("n1", "addr", "add", f"{VIP_IP}/{VIP_PREFIX}", "dev", "eth0")
            self.topo.run("n1", shutil.which("arping") or "arping", "-q", "-c", "1", "-A", VIP_IP,
                          "-I", "eth0", check=False, timeout=10)
        if wait_vip:
            self.wait_vip_on_n1(timeout)
        return self

    def wait_vip_on_n1(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.topo.holders(VIP4) != ["n1"]:
            if time.monotonic() > deadline:
                raise NotReady(f"{self.mech}: VIP not on n1 alone {timeout:.0f} s after start "
                               f"(held by {self.topo.holders(VIP4)}){self._why()}")
            time.sleep(0.1)
        if self.mech in KEEPALIVED_CONF:
            # VRRP may still be settling (several nodes go MASTER after the first down timer)
            stable_since = time.monotonic()
            deadline = time.monotonic() + timeout
            while time.monotonic() - stable_since < 2.0:
                if self.topo.holders(VIP4) != ["n1"]:
                    stable_since = time.monotonic()
                if time.monotonic() > deadline:
                    raise NotReady(f"keepalived: VIP not stable on n1: {self.topo.holders(VIP4)}")
                time.sleep(0.1)

    def load_args(self) -> list[str]:
        """MODULE LOAD arguments for n1 (the loadmodule line's, for this mechanism)."""
        return [module_path(), "address", VIP4, "interface", "eth0", *mode_args(self.topo, self.mech, self.apart)]

    def load_module(self) -> tuple[float, float]:
        """MODULE LOAD on n1 (a running master); (wall time sent, wall time answered)."""
        node = self.group["n1"]
        node.ping()  # the connection exists before the clock starts
        t0 = time.time()
        node.execute("MODULE", "LOAD", *self.load_args())
        return t0, time.time()

    def _start_sentinels(self) -> None:
        g = self.group
        extra: dict[str, list[str]] = {n: [] for n in g.nodes}
        if self.mech == "sentinel-script":
            arping = shutil.which("arping") or "/usr/bin/arping"
            for n in g.nodes:
                d = self.topo.workdir / f"script-{n}"
                d.mkdir(exist_ok=True)
                script = fill(PEERS / "sentinel-reconfig-vip.sh", d / "sentinel-reconfig-vip.sh",
                              {"MY_IP": NODE_ADDR4[n], "VIP": VIP_IP, "NETMASK": VIP_PREFIX,
                               "INTERFACE": "eth0", "ARPING": arping}, 0o755)
                extra[n].append(f"sentinel client-reconfig-script mymaster {script}")
        master = g.nodes["n1"]
        # apart: s1..s3 for n1..n3 (g.sentinels keyed by host, as tests/harness/sentinel.py does)
        for n in (sentinel_hosts(self.topo) if self.apart else g.nodes):
            s = SentinelNode(self.topo, n, master_addr=master.address, quorum=2,
                             down_after_ms=self.down_after_ms, failover_timeout_ms=10000,
                             extra_conf=extra.get(n, []))
            g.sentinels[n] = s
            s.start()
        for s in g.sentinels.values():
            s.wait_ready()
        g.wait_sentinels_ready(40)

    def start_keepalived(self) -> None:
        for n in self.group.nodes:
            d = self.topo.workdir / f"keepalived-{n}"
            d.mkdir(exist_ok=True)
            check = fill(PEERS / "keepalived-check-redis-master.sh", d / "check-redis-master.sh",
                         {"PORT": "6379"}, 0o755)
            conf = fill(PEERS / KEEPALIVED_CONF.get(self.mech, "keepalived.conf.in"), d / "keepalived.conf",
                        {"ROUTER_ID": f"redis-{n}", "CHECK_SCRIPT": str(check), "INTERFACE": "eth0",
                         "VIP": f"{VIP_IP}/{VIP_PREFIX}"})
            logf = open(d / "keepalived.log", "ab")
            try:
                # --dont-fork: the Popen pid is keepalived's parent process; its VRRP child
                # dies with it. Distinct pid files per namespace; VRRP only; log to the file.
                p = self.topo.popen(n, shutil.which("keepalived") or "/usr/sbin/keepalived",
                                    "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
                                    "--vrrp", "-f", str(conf), "-p", str(d / "keepalived.pid"),
                                    "-r", str(d / "vrrp.pid"), "-c", str(d / "checkers.pid"),
                                    stdout=logf, stderr=subprocess.STDOUT)
            finally:
                logf.close()
            self.keepalived[n] = p

    def _why(self) -> str:
        if not self.mech.startswith("vip-"):
            return ""
        try:
            st = self.group["n1"].vip_status()
            keep = ("state", "mode", "reason", "sentinels_reachable", "sentinels_confirming", "quorum",
                    "last_error")
            return "; n1 VIP.STATUS: " + ", ".join(f"{k}={st.get(k)!r}" for k in keep)
        except Exception as exc:  # noqa: BLE001
            return f"; n1 VIP.STATUS failed: {exc}"

    # -- queries --------------------------------------------------------------------------
    def sentinel_master(self, among: list[str] | None = None) -> str | None:
        """The master address the named live Sentinels agree on (None while they differ)."""
        vals = set()
        for name, s in self.group.sentinels.items():
            if among is not None and name not in among:
                continue
            if not s.alive():
                continue
            try:
                vals.add(s.master_addr())
            except Exception:  # noqa: BLE001
                return None
        return vals.pop() if len(vals) == 1 else None

    def node_of(self, addr: str) -> str:
        return self.group.by_addr(addr).name

    def keepalived_log(self, node: str) -> str:
        try:
            return (self.topo.workdir / f"keepalived-{node}" / "keepalived.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_alive(self) -> None:
        for n, p in self.keepalived.items():
            if p.poll() is not None:
                raise RuntimeError(f"keepalived in {n} exited ({p.returncode}):\n"
                                   + "\n".join(self.keepalived_log(n).splitlines()[-20:]))

    def settled(self, timeout: float = 60, ignore: tuple[str, ...] = (), stable: float = 3.0) -> str | None:
        """The master once the Sentinels (but those in ``ignore``) all name it, none shows a
        failover under way or the master down, and it reports role master, unchanged for
        ``stable`` seconds (wait_settled); None at the timeout. At down-after 1000 a
        Sentinel sometimes fails the NEW master over again about a second after
        +switch-master: the settled master is the outcome, not the first promotion."""
        try:
            return wait_settled(self.group, timeout=timeout, stable=stable, ignore=ignore)
        except AssertionError:
            return None

    def promotions(self, after: float) -> list[tuple[float, str]]:
        """(wall time, node) of every REPLICAOF NO ONE logged after ``after`` (time.time())."""
        return [(t, n) for t, n in promotions(self.group) if t >= after - 0.001]

    def status(self, node: str) -> dict:
        """VIP.STATUS of a node (strings), or {} for the peers / a dead node."""
        if not self.mech.startswith("vip-") or not self.group[node].alive():
            return {}
        return try_status(self.group[node])
