"""Network namespaces: the names and addresses of the test ranges, entering a namespace from
Python, sweeping what a crashed run left, and ``wait_until``.

Everything the harness creates lives inside network namespaces it makes itself; nothing is
ever added to the root namespace (no address, route or interface), and only documentation
ranges are used (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32).

How clients reach a namespace: redis-py cannot enter a namespace by itself. A socket belongs to the network namespace of the
thread that created it, for its whole life, whatever thread uses it later. ``run_in_netns``
starts a fresh short-lived thread, moves that thread (only) into the namespace with
``setns(fd, CLONE_NEWNET)`` through ctypes (``os.setns`` exists only from Python 3.12), runs a
function there and returns its result; the thread then exits, so no thread of the test process
is ever left in a foreign namespace and the main thread never moves. ``NetnsConnection`` is a
redis-py ``Connection`` whose ``_connect()`` runs inside such a thread, so every (re)connection
of a normal ``redis.Redis`` client is made inside the namespace: the full redis-py API works,
including reconnects after a server restart (clients.py). ``Topology.client(ns, host, port)``
builds one.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

PREFIX = "vt"
NS_RE = re.compile(r"^vt-([a-z0-9]+)-(\d+)-([a-z0-9]+)$")

SUBNET4 = "192.0.2.0/24"
SUBNET6 = "2001:db8::/64"
NODE_ADDR4 = {f"n{i}": f"192.0.2.{10 + i}" for i in range(1, 10)}
NODE_ADDR6 = {f"n{i}": f"2001:db8::{10 + i}" for i in range(1, 10)}
# Sentinels in namespaces of their own (Topology(sentinel_hosts=N)): s1..s9
SENTINEL_ADDR4 = {f"s{i}": f"192.0.2.{30 + i}" for i in range(1, 10)}
SENTINEL_ADDR6 = {f"s{i}": f"2001:db8::{30 + i}" for i in range(1, 10)}
OBS_ADDR4 = "192.0.2.50"
OBS_ADDR6 = "2001:db8::50"
VIP4 = "192.0.2.100/24"
VIP6 = "2001:db8::100/64"
VIP_IP = VIP4.split("/")[0]  # 192.0.2.100

REDIS_PORT = 6379
SENTINEL_PORT = 26379
MASTER_NAME = "mymaster"

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODULE = REPO_ROOT / "target" / "release" / "libredis_vip.so"

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


# ----------------------------------------------------------------------------------------------
# generic helpers


class WaitTimeout(AssertionError):
    """Raised by wait_until; an AssertionError so pytest reports it as a test failure."""


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1,
               msg: str | Callable[[], str] = "condition") -> Any:
    """Poll ``cond()`` until it returns a truthy value; return that value.

    ``timeout`` is only an upper bound against hangs, never a performance assertion.
    Exceptions raised by cond are remembered and retried; on timeout a WaitTimeout names
    ``msg``, the last value and the last exception.
    """
    deadline = time.monotonic() + timeout
    last_val: Any = None
    last_exc: BaseException | None = None
    while True:
        try:
            last_val = cond()
            last_exc = None
            if last_val:
                return last_val
        except Exception as exc:  # noqa: BLE001 - retried, reported on timeout
            last_exc = exc
        if time.monotonic() >= deadline:
            text = msg() if callable(msg) else msg
            detail = f"last value: {last_val!r}"
            if last_exc is not None:
                detail += f"; last exception: {type(last_exc).__name__}: {last_exc}"
            raise WaitTimeout(f"timed out after {timeout}s waiting for {text} ({detail})")
        time.sleep(interval)



def root_and_module_problem(module: str | os.PathLike, who: str) -> str | None:
    """Why a tool cannot run here (not root, module not built), or None."""
    if os.geteuid() != 0:
        return f"{who} needs root (network namespaces)"
    if not Path(module).exists():
        return f"module not built: {module} (cargo build --release)"
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def addr_only(a: str) -> str:
    """'192.0.2.100/24' -> '192.0.2.100' (normalised, IPv6 compressed)."""
    return str(ipaddress.ip_interface(a).ip)


def _ip(*args: str, check: bool = True, input: str | None = None, timeout: float = 10) -> subprocess.CompletedProcess:
    """Run ``ip`` in the ROOT namespace. Only used for `ip netns add/del/list/pids` and for
    `ip -n NS ...` (which acts inside NS); never to change the root namespace itself."""
    cp = subprocess.run(["ip", *args], capture_output=True, text=True, input=input, timeout=timeout)
    if check and cp.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({cp.returncode}): {cp.stderr.strip()}")
    return cp


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def _kill_pids(pids: Iterable[int], grace: float = 1.0) -> None:
    pids = [p for p in pids if p > 0]
    for p in pids:
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def terminate(proc: subprocess.Popen, grace: float = 3.0, kill_wait: float = 3.0) -> None:
    """SIGTERM, up to ``grace`` s to exit, then SIGKILL (and up to ``kill_wait`` s to reap)."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=kill_wait)


class Pacer:
    """Ticks every ``interval`` seconds from its creation; a tick that comes late starts the
    schedule afresh (a busy machine gets no burst of catching up)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next = time.monotonic()

    def wait(self, stop: threading.Event | None = None) -> None:
        """Sleep until the next tick (or until ``stop`` is set)."""
        self.next += self.interval
        delay = self.next - time.monotonic()
        if delay <= 0:
            self.next = time.monotonic()
        elif stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)


class Recorder:
    """A daemon thread that runs ``_run`` (checking ``_stop``) until ``stop()``."""

    thread_name = "recorder"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def _stop_popens(procs: Iterable[subprocess.Popen], grace: float = 1.0) -> None:
    """SIGTERM (+SIGCONT for stopped ones), wait up to grace, then SIGKILL; reap all."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in alive):
        time.sleep(0.02)
    for p in alive:
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
    for p in alive:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def sweep_stale_namespaces() -> list[str]:
    """Delete namespaces named by this harness (vt-<tag>-<pid>-<host>) whose owner pid is dead.

    Processes still running inside such a namespace (started by a previous, crashed run of this
    harness) are killed by pid first, since they would survive `ip netns del`.
    Namespaces of live owners (parallel workers, other sessions) are never touched.
    """
    removed = []
    for name in list_netns():
        m = NS_RE.match(name)
        if not m:
            continue
        owner = int(m.group(2))
        if owner == os.getpid() or pid_alive(owner):
            continue
        cp = _ip("netns", "pids", name, check=False)
        pids = [int(x) for x in cp.stdout.split() if x.strip().isdigit()]
        _kill_pids(pids, grace=0.5)
        _ip("netns", "del", name, check=False)
        removed.append(name)
    return removed


# ----------------------------------------------------------------------------------------------
# entering namespaces from Python


def run_in_netns(netns: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` on a fresh thread that has entered network namespace
    ``netns`` (full name under /run/netns) and return its result (or raise its exception).
    Sockets created by fn stay in that namespace for their whole life."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
