"""Redis and Sentinel processes in the namespaces: one server (``RedisNode``, ``SentinelNode``)
and a replicated group of them (``RedisGroup``).

Processes are started with ``ip netns exec NS cmd ...``; ``ip`` execs the command directly, so
the Popen pid is the server's pid and signals (kill -9, SIGSTOP) reach it directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any, Iterable, Optional

import redis

from .clients import pairs_to_dict
from .netns import MASTER_NAME, NODE_ADDR4, REDIS_PORT, SENTINEL_PORT, WaitTimeout, terminate, wait_until
from .servers import server_binary

if TYPE_CHECKING:
    from .topology import Topology


class _ServerProc:
    kind = "server"

    def __init__(self, topo: Topology, name: str, flavor: str, port: int):
        self.topo = topo
        self.name = name
        self.ns = topo.ns(name)
        self.flavor = flavor
        self.port = port
        self.binary = server_binary(flavor)
        self.dir = topo.workdir / f"{self.kind}-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / f"{self.kind}.conf"
        self.logfile = self.dir / f"{self.kind}.log"
        self.stdout_file = self.dir / "stdout.log"
        self.proc: subprocess.Popen | None = None
        self._client: redis.Redis | None = None
        # what the harness's own client authenticates with (a Sentinel with requirepass)
        self.password: str | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    @property
    def address(self) -> str:
        return self.topo.addr4(self.name)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _popen(self, extra: Iterable[str] = (), wrapper: Iterable[str] = ()) -> None:
        out = open(self.stdout_file, "ab")
        try:
            self.proc = self.topo.popen(self.name, self.binary, str(self.conf), *extra, wrapper=wrapper,
                                        stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()

    def client(self, **kwargs: Any) -> redis.Redis:
        """Client connected from inside the node's namespace to 127.0.0.1 (works with links down)."""
        if self.password is not None and "password" not in kwargs and "username" not in kwargs:
            if kwargs:
                kwargs["password"] = self.password
        if kwargs:
            return self.topo.client(self.name, "127.0.0.1", self.port, **kwargs)
        if self._client is None:
            extra = {"password": self.password} if self.password is not None else {}
            self._client = self.topo.client(self.name, "127.0.0.1", self.port, **extra)
        return self._client

    def execute(self, *args: Any) -> Any:
        return self.client().execute_command(*args)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def wait_ready(self, timeout: float = 15) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.kind} {self.name} exited with {self.proc.returncode if self.proc else None}:\n"
                                   f"{self.log_tail(30)}")
            return self.ping()

        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except RuntimeError:
                raise
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{self.kind} {self.name} not ready after {timeout}s:\n{self.log_tail(30)}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 15) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"{self.kind} {self.name} (pid {self.pid}) still running after {timeout}s")

    def shutdown_and_wait(self, timeout: float = 120) -> int:
        """SHUTDOWN NOSAVE, then wait for the exit (a process under valgrind writes its
        profile on the way out)."""
        try:
            self.execute("SHUTDOWN", "NOSAVE")
        except Exception:  # noqa: BLE001 - the connection closes as the server exits
            pass
        return self.wait_exit(timeout)

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._drop_client()

    def sigstop(self) -> None:
        self.signal(signal.SIGSTOP)

    def sigcont(self) -> None:
        self.signal(signal.SIGCONT)

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.connection_pool.disconnect()
            except Exception:  # noqa: BLE001
                pass

    def task_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def thread_names(self, ignore_allocator: bool = True) -> list[str]:
        """Sorted thread names (/proc/<pid>/task/*/comm). With ignore_allocator, jemalloc's
        background threads are left out: Redis' jemalloc starts one per arena when a new
        thread (e.g. a module's) first allocates, and they stay after that thread ends."""
        out = []
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                name = open(f"/proc/{self.pid}/task/{tid}/comm").read().strip()
            except FileNotFoundError:
                continue
            if ignore_allocator and name == "jemalloc_bg_thd":
                continue
            out.append(name)
        return sorted(out)

    def log_text(self) -> str:
        parts = []
        for f in (self.stdout_file, self.logfile):
            try:
                parts.append(f.read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return "".join(parts)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])


class RedisNode(_ServerProc):
    """One redis-server / valkey-server in a node namespace.

    module: path of the .so to load at start (None = no loadmodule line).
    module_args: list of arguments after the .so path on the loadmodule line, e.g.
        ['address', '192.0.2.100/24', 'interface', 'eth0', 'address-lifetime-s', '2'].
    replicaof: address of the master to replicate from (None = start as master).
    protected_configs: value of enable-protected-configs ('yes'/'no'/'local' or bool).
    wrapper: command prefix run inside the namespace before the server (e.g. setpriv ...).
    extra_conf: additional redis.conf lines.
    """

    kind = "redis"

    def __init__(self, topo: Topology, name: str, flavor: str = "redis", module: str | os.PathLike | None = None,
                 module_args: Iterable[str] = (), replicaof: str | None = None, port: int = REDIS_PORT,
                 protected_configs: bool | str = False, wrapper: Iterable[str] = (), extra_conf: Iterable[str] = (),
                 bind: str = "* -::*"):
        super().__init__(topo, name, flavor, port)
        self.module = str(module) if module else None
        self.module_args = list(module_args)
        self.replicaof_addr = replicaof
        if isinstance(protected_configs, bool):
            protected_configs = "yes" if protected_configs else "no"
        self.protected_configs = protected_configs
        self.wrapper = list(wrapper)
        self.extra_conf = list(extra_conf)
        # Bind every address (not only the node address and 127.0.0.1): the VIP appears after
        # start-up and clients must reach Redis through it.
        self.bind = bind
        self.write_conf()

    def write_conf(self) -> None:
        lines = [
            f"port {self.port}",
            f"bind {self.bind}",
            "protected-mode no",
            "daemonize no",
            "enable-module-command yes",
            f"enable-protected-configs {self.protected_configs}",
            f"dir {self.dir}",
            f"logfile {self.logfile}",
            "loglevel notice",
            'save ""',
            "appendonly no",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if self.module:
            lines.append(" ".join(["loadmodule", self.module, *self.module_args]))
        if self.replicaof_addr:
            lines.append(f"replicaof {self.replicaof_addr} {REDIS_PORT}")
        lines += self.extra_conf
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> "RedisNode":
        self._popen(wrapper=self.wrapper)
        return self

    def restart(self, timeout: float = 15) -> "RedisNode":
        """Stop (SIGTERM, then SIGKILL after a grace) if running and start with the same config."""
        if self.alive():
            terminate(self.proc, kill_wait=5)
        self._drop_client()
        self.start()
        self.wait_ready(timeout)
        return self

    def role(self) -> str:
        """'master' or 'replica' (from ROLE)."""
        r = self.execute("ROLE")[0]
        return {"slave": "replica", "primary": "master", "replica": "replica"}.get(r, r)

    def replicaof(self, master: Optional["RedisNode | str"]) -> Any:
        """REPLICAOF NO ONE (master None) or REPLICAOF <addr> 6379."""
        if master is None:
            return self.execute("REPLICAOF", "NO", "ONE")
        addr = master.address if isinstance(master, RedisNode) else master
        return self.execute("REPLICAOF", addr, REDIS_PORT)

    def vip_status(self) -> dict:
        return pairs_to_dict(self.execute("VIP.STATUS"))

    def info(self, section: str = "vip") -> dict:
        return self.client().info(section)

    def config_get(self, key: str) -> Optional[str]:
        r = self.client().config_get(key)
        return r.get(key)

    def config_set(self, key: str, value: Any) -> Optional[str]:
        """CONFIG SET; returns None when applied, or the error text when refused."""
        try:
            self.execute("CONFIG", "SET", key, value)
            return None
        except redis.ResponseError as exc:
            return str(exc)

    def module_list(self) -> list[str]:
        out = []
        for m in self.execute("MODULE", "LIST"):
            d = pairs_to_dict(m) if not isinstance(m, dict) else m
            out.append(d.get("name"))
        return out


class SentinelNode(_ServerProc):
    """A Sentinel (same binary with --sentinel) in a node namespace, monitoring MASTER_NAME."""

    kind = "sentinel"

    def __init__(self, topo: Topology, name: str, flavor: str = "redis", master_addr: str = NODE_ADDR4["n1"],
                 quorum: int = 2, down_after_ms: int = 1000, failover_timeout_ms: int = 10000,
                 parallel_syncs: int = 1, port: int = SENTINEL_PORT, extra_conf: Iterable[str] = (),
                 password: str | None = None):
        super().__init__(topo, name, flavor, port)
        self.password = password
        lines = [
            f"port {port}",
            "bind 0.0.0.0",
            "protected-mode no",
            "daemonize no",
            f"dir {self.dir}",
            f"logfile {self.logfile}",
            f"sentinel monitor {MASTER_NAME} {master_addr} {REDIS_PORT} {quorum}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} {failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER_NAME} {parallel_syncs}",
            *extra_conf,
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> "SentinelNode":
        self._popen(extra=["--sentinel"])
        return self

    def master_addr(self) -> Optional[str]:
        r = self.execute("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return r[0] if r else None

    def replicas(self) -> list[dict]:
        return [pairs_to_dict(x) for x in self.execute("SENTINEL", "REPLICAS", MASTER_NAME)]

    def sentinels(self) -> list[dict]:
        return [pairs_to_dict(x) for x in self.execute("SENTINEL", "SENTINELS", MASTER_NAME)]


class RedisGroup:
    """A master (n1) and replicas (n2..) on a Topology, optional module, optional Sentinels.

    vip: comma-separated VIP CIDRs; with module set, each node loads
        `loadmodule <module> address <vip> interface <interface> <module_args...>`.
    """

    def __init__(self, topo: Topology, flavor: str = "redis", module: str | os.PathLike | None = None,
                 vip: str | None = None, interface: str = "eth0", module_args: Iterable[str] = (),
                 protected_configs: bool | str = False, nodes: Iterable[str] | None = None,
                 wrapper: Iterable[str] = (), extra_conf: Iterable[str] = (), replicate: bool = True):
        self.topo = topo
        self.flavor = flavor
        names = list(nodes) if nodes is not None else list(topo.node_names)
        args: list[str] = []
        if module:
            if vip:
                args += ["address", vip]
            if interface:
                args += ["interface", interface]
            args += list(module_args)
        self.nodes: dict[str, RedisNode] = {}
        first = names[0]
        for n in names:
            self.nodes[n] = RedisNode(topo, n, flavor=flavor, module=module, module_args=args,
                                      replicaof=(topo.addr4(first) if (replicate and n != first) else None),
                                      protected_configs=protected_configs, wrapper=wrapper, extra_conf=extra_conf)
        self.sentinels: dict[str, SentinelNode] = {}

    def __getitem__(self, name: str) -> RedisNode:
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes.values())

    def by_addr(self, addr: str) -> RedisNode:
        for n in self.nodes.values():
            if n.address == addr:
                return n
        raise KeyError(addr)

    def start(self, wait_replication: bool = True, timeout: float = 20) -> "RedisGroup":
        for n in self.nodes.values():
            n.start()
        for n in self.nodes.values():
            n.wait_ready(timeout)
        if wait_replication:
            first = next(iter(self.nodes.values()))
            if any(n.replicaof_addr for n in self.nodes.values()):
                self.wait_replication(first, timeout=timeout)
        return self

    def masters(self) -> list[str]:
        out = []
        for name, n in self.nodes.items():
            if n.alive():
                try:
                    if n.role() == "master":
                        out.append(name)
                except redis.RedisError:
                    pass
        return out

    def wait_replication(self, master: RedisNode, replicas: Iterable[RedisNode] | None = None,
                         timeout: float = 20) -> None:
        """Wait until every replica (default: all other live nodes) is an online replica of master."""
        reps = list(replicas) if replicas is not None else [n for n in self.nodes.values()
                                                            if n is not master and n.alive()]
        want = {r.address for r in reps}

        def ok() -> bool:
            info = master.client().info("replication")
            online = set()
            for k, v in info.items():
                if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online":
                    online.add(v.get("ip"))
            if not want <= online:
                return False
            return all(r.client().info("replication").get("master_link_status") == "up" for r in reps)

        wait_until(ok, timeout, 0.1, msg=f"replicas {sorted(want)} online on {master.name}")

    # -- Sentinels ----------------------------------------------------------------------------
    def start_sentinels(self, down_after_ms: int = 1000, failover_timeout_ms: int = 10000, quorum: int = 2,
                        wait: bool = True, timeout: float = 30) -> dict[str, SentinelNode]:
        """One Sentinel per node namespace; start only once replicas are online (field notes)."""
        master = next(iter(self.nodes.values()))
        for name in self.nodes:
            s = SentinelNode(self.topo, name, flavor=self.flavor, master_addr=master.address, quorum=quorum,
                             down_after_ms=down_after_ms, failover_timeout_ms=failover_timeout_ms)
            self.sentinels[name] = s
            s.start()
        for s in self.sentinels.values():
            s.wait_ready()
        if wait:
            self.wait_sentinels_ready(timeout)
        return self.sentinels

    def wait_sentinels_ready(self, timeout: float = 30) -> None:
        """Every Sentinel sees all replicas and all other Sentinels."""
        n_rep = len(self.nodes) - 1
        n_sen = len(self.sentinels) - 1

        def ok() -> bool:
            for s in self.sentinels.values():
                if len(s.replicas()) < n_rep or len(s.sentinels()) < n_sen:
                    return False
            return True

        def state() -> str:
            parts = []
            for s in self.sentinels.values():
                try:
                    parts.append(f"{s.name}: {len(s.replicas())} replicas, {len(s.sentinels())} sentinels")
                except redis.RedisError as exc:
                    parts.append(f"{s.name}: {exc}")
            return "sentinels ready (" + "; ".join(parts) + ")"

        wait_until(ok, timeout, 0.2, msg=state)

    def sentinel_masters(self) -> dict[str, Optional[str]]:
        """Master address as reported by each live Sentinel."""
        out = {}
        for name, s in self.sentinels.items():
            if s.alive():
                try:
                    out[name] = s.master_addr()
                except redis.RedisError:
                    out[name] = None
        return out

    def sentinel_master(self) -> Optional[str]:
        """Master address the live Sentinels agree on (None while they disagree)."""
        vals = set(self.sentinel_masters().values())
        return vals.pop() if len(vals) == 1 else None
