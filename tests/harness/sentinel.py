"""Sentinel-mode set-ups: 3 Redis nodes with the module in the Sentinel-confirmed mode plus 3
Sentinels (optionally with requirepass or an ACL user on the Sentinels), and the waits on them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterable, Optional

from .clients import pairs_to_dict
from .logs import promotions
from .netns import MASTER_NAME, SENTINEL_PORT, VIP4, wait_until
from .processes import RedisGroup, SentinelNode
from .status import statuses

if TYPE_CHECKING:
    from .topology import Topology



SENTINEL_USER = "vipmodule"
SENTINEL_PASS = "vip-sentinel-secret"

# Sentinel's usual setting, which the Sentinel-confirmed mode is built for.
DOWN_AFTER_MS = 1000




def sentinel_hosts(topo: Topology) -> list[str]:
    """Where the Sentinels run: the topology's Sentinel hosts (s1..) when it has some
    (Topology(sentinel_hosts=N)), else one per node namespace (n1, n2, n3)."""
    own = list(getattr(topo, "sentinel_names", None) or [])
    return own or ["n1", "n2", "n3"]


def sentinel_list(g_or_topo: RedisGroup | Topology, nodes: Optional[Iterable[str]] = None) -> str:
    """The vip.sentinels value: one Sentinel per host of ``nodes`` (default:
    ``sentinel_hosts``), on the host's address."""
    topo = g_or_topo.topo if isinstance(g_or_topo, RedisGroup) else g_or_topo
    hosts = list(nodes) if nodes is not None else sentinel_hosts(topo)
    return ",".join(f"{topo.addr4(n)}:{SENTINEL_PORT}" for n in hosts)


def module_args(topo: Topology, auth: Optional[tuple[Optional[str], str]] = None,
                extra: Iterable[str] = ()) -> list[str]:
    """loadmodule arguments of the Sentinel-confirmed mode (after address/interface)."""
    args = ["sentinels", sentinel_list(topo), "master-name", MASTER_NAME]
    if auth:
        user, password = auth
        if user:
            args += ["sentinel-auth-user", user]
        args += ["sentinel-auth-pass", password]
    return args + list(extra)


def sentinel_auth_conf(auth: Optional[tuple[Optional[str], str]]) -> list[str]:
    """sentinel.conf lines protecting the Sentinel itself: requirepass (which the Sentinels
    also use among themselves, sentinel-pass), or an ACL user for the module that may run only
    what it polls with (the default user stays open for the harness and the peers)."""
    if not auth:
        return []
    user, password = auth
    if user is None:
        return [f"requirepass {password}", f"sentinel sentinel-pass {password}"]
    return [f"user {user} on >{password} +client|setname +sentinel|master +sentinel|replicas "
            f"+sentinel|sentinels +sentinel|myid +ping"]


def start_sentinels(g: RedisGroup, down_after_ms: int = DOWN_AFTER_MS, failover_timeout_ms: int = 10000,
                    quorum: int = 2, extra_conf: Iterable[str] = (), password: Optional[str] = None,
                    timeout: float = 40, hosts: Optional[Iterable[str]] = None) -> dict[str, SentinelNode]:
    """Like RedisGroup.start_sentinels (one Sentinel per node namespace, started once the
    replicas are online), with extra sentinel.conf lines (and the requirepass they set).
    ``hosts``: where they run (default ``sentinel_hosts``: the topology's own Sentinel hosts
    s1.. when it has them; ``g.sentinels`` is keyed by host)."""
    master = next(iter(g.nodes.values()))
    names = list(hosts) if hosts is not None else (list(getattr(g.topo, "sentinel_names", None) or [])
                                                    or list(g.nodes))
    for name in names:
        s = SentinelNode(g.topo, name, flavor=g.flavor, master_addr=master.address, quorum=quorum,
                         down_after_ms=down_after_ms, failover_timeout_ms=failover_timeout_ms,
                         extra_conf=list(extra_conf), password=password)
        g.sentinels[name] = s
        s.start()
    for s in g.sentinels.values():
        s.wait_ready()
    n_rep, n_sen = len(g.nodes) - 1, len(g.sentinels) - 1

    def ready() -> bool:
        if any_dead(g):  # a Redis node crashed: stop waiting, report it below
            return True
        return all(len(s.replicas()) >= n_rep and len(s.sentinels()) >= n_sen for s in g.sentinels.values())

    try:
        wait_until(ready, timeout, 0.2, msg="every Sentinel sees all replicas and the other Sentinels")
    except AssertionError:
        assert_alive(g)
        g.wait_sentinels_ready(1)  # its message details what each Sentinel sees
        raise
    assert_alive(g)
    return g.sentinels


def start_sentinel_group(topo: Topology, module_path: str, flavor: str = "redis",
                         down_after_ms: int = DOWN_AFTER_MS, auth: Optional[tuple[Optional[str], str]] = None,
                         sentinel_auth: Optional[tuple[Optional[str], str]] = None,
                         extra_module_args: Iterable[str] = (), wait_holder: bool = True,
                         protected_configs: bool = False, extra_conf: Iterable[str] = ()) -> RedisGroup:
    """n1 master + n2, n3 replicas with the module in the Sentinel-confirmed mode, and one
    Sentinel per node. ``sentinel_auth`` protects the Sentinels ((None, pass): requirepass;
    (user, pass): an ACL user); ``auth`` is what the module is given (default: the same).
    Returns once n1 holds the VIP unless wait_holder is False. ``extra_conf``: more redis.conf
    lines for every node (e.g. enable-debug-command yes). On a topology with Sentinel hosts of
    its own (Topology(sentinel_hosts=3)) the Sentinels run there (s1, s2, s3)."""
    module_auth = auth if auth is not None else sentinel_auth
    g = topo.redis(flavor=flavor, module=module_path, vip=VIP4,
                   module_args=module_args(topo, module_auth, extra_module_args),
                   protected_configs=protected_configs, extra_conf=extra_conf)
    g.start()
    try:
        requirepass = sentinel_auth[1] if sentinel_auth and sentinel_auth[0] is None else None
        start_sentinels(g, down_after_ms=down_after_ms, extra_conf=sentinel_auth_conf(sentinel_auth),
                        password=requirepass)
        if wait_holder:
            def confirmed() -> bool:
                return any_dead(g) or topo.holders(VIP4) == ["n1"]

            wait_until(confirmed, 30, 0.02, msg=lambda: f"n1 confirmed and holding the VIP\n{statuses(g)}")
            assert_alive(g)
    except AssertionError:
        assert_alive(g)
        raise
    return g


def any_dead(g: RedisGroup) -> bool:
    return any(n.proc is not None and not n.alive() for n in g.nodes.values())


def assert_alive(g: RedisGroup) -> None:
    """Fail with the end of its log when a Redis node of the group died (crashed)."""
    for name, n in g.nodes.items():
        if n.proc is not None and not n.alive():
            log = n.log_text()
            i = log.find("crashed by signal")
            excerpt = log[max(0, i - 200):i + 1200] if i >= 0 else n.log_tail(20)
            raise AssertionError(f"redis {name} exited with {n.proc.returncode}:\n{excerpt}")


def majority_master(g: RedisGroup) -> Optional[str]:
    """The master address named by a majority of all Sentinels of the group (dead or
    unreachable ones count as not naming anything), else None."""
    votes: dict[str, int] = {}
    for addr in g.sentinel_masters().values():
        if addr:
            votes[addr] = votes.get(addr, 0) + 1
    need = len(g.sentinels) // 2 + 1
    for addr, n in votes.items():
        if n >= need:
            return addr
    return None


def wait_failover(g: RedisGroup, old: str, timeout: float = 60) -> str:
    """Wait until a majority of the Sentinels name one master other than ``old`` and that node
    reports role master; return its short name. (An isolated Sentinel keeps its old view.)"""
    old_addr = g[old].address

    def done() -> Optional[str]:
        m = majority_master(g)
        if not m or m == old_addr:
            return None
        node = g.by_addr(m)
        if node.alive() and node.role() == "master":
            return node.name
        return None

    return wait_until(done, timeout, 0.1, msg=lambda: f"failover away from {old}: Sentinels say "
                                                      f"{g.sentinel_masters()}\n{statuses(g)}")


def wait_settled(g: RedisGroup, timeout: float = 60, stable: float = 2.0,
                 ignore: Iterable[str] = ()) -> str:
    """Wait until the Sentinels (but those in ``ignore``) all name one master, none shows a
    failover under way or the master down, and that node reports role master, unchanged for
    ``stable`` seconds; return its name. At down-after-milliseconds 1000 a Sentinel sometimes
    fails the NEW master over again about a second after +switch-master (its reconnect to the new
    master waits out a 1 s throttle; field notes): tests wait for the outcome, not the first
    promotion."""
    since: list = [None, None]

    def current() -> Optional[str]:
        named = set()
        for name, s in g.sentinels.items():
            if name in ignore or not s.alive():
                continue
            m = pairs_to_dict(s.execute("SENTINEL", "MASTER", MASTER_NAME))
            flags = set(str(m.get("flags", "")).split(","))
            if flags != {"master"}:
                return None
            named.add(m.get("ip"))
        if len(named) != 1:
            return None
        node = g.by_addr(named.pop())
        return node.name if node.alive() and node.role() == "master" else None

    def ok() -> Optional[str]:
        m = current()
        now = time.monotonic()
        if m is None or m != since[0]:
            since[0], since[1] = m, now
            return None
        return m if now - since[1] >= stable else None

    return wait_until(ok, timeout, 0.1, msg=lambda: f"settled master (Sentinels say {g.sentinel_masters()})\n"
                                                    f"{statuses(g)}")


def first_promotion(g: RedisGroup, after: float) -> tuple[float, str]:
    """(wall time, node) of the first REPLICAOF NO ONE after ``after`` (time.time())."""
    later = [(t, n) for t, n in promotions(g) if t >= after - 0.01]
    assert later, f"no promotion in the logs after {after}"
    return later[0]


def sentinel_view(s: SentinelNode) -> dict:
    """SENTINEL MASTER of the monitored master as a dict (ip, flags, failover-state, ...)."""
    return {str(k): v for k, v in pairs_to_dict(s.execute("SENTINEL", "MASTER", MASTER_NAME)).items()}


def crash_after_promotion(s: SentinelNode) -> None:
    """Arm ``SENTINEL SIMULATE-FAILURE crash-after-promotion``: the Sentinel exits (by design,
    exit code 99, no crash report) right after it promoted a replica, before it tells the
    other Sentinels or reconfigures the replicas. ``wait_sentinel_exit`` reaps it."""
    s.execute("SENTINEL", "SIMULATE-FAILURE", "crash-after-promotion")


def wait_sentinel_exit(s: SentinelNode, timeout: float = 60) -> int:
    """Wait for a Sentinel that exits by design (``crash_after_promotion``) and reap it; its
    exit code. Its log holds no crash report (``Topology.crashes`` finds none)."""
    code = s.wait_exit(timeout)
    s._drop_client()
    return code


def wait_promotion(g: RedisGroup, after: float, timeout: float = 30) -> tuple[float, str]:
    """Wait for the first REPLICAOF NO ONE after ``after`` (time.time()); (wall time, node)."""
    wait_until(lambda: [p for p in promotions(g) if p[0] >= after - 0.01], timeout, 0.05,
               msg=lambda: f"a promotion\n{statuses(g)}")
    return first_promotion(g, after)


def failover_under_way(s: SentinelNode) -> bool:
    """The Sentinel reports a failover in progress for the master (flags)."""
    flags = str(sentinel_view(s).get("flags", "")).split(",")
    return "failover_in_progress" in flags
