"""Integration tests of the vip module against real redis-server / valkey-server processes.

Each test builds its own namespaces (see tests/harness/topology.py) and tears them down at the end.
Timeouts in wait_until are upper bounds against hangs only; no test asserts on speed.
"""

from __future__ import annotations

import os
import re
import time

import pytest
import redis

from tests.harness.netns import NODE_ADDR4, VIP4, VIP6, VIP_IP, addr_only, wait_until
from tests.harness.processes import RedisNode
from tests.harness.sentinel import start_sentinel_group
from tests.harness.status import status
from tests.harness.topology import Topology
from tests.integration.conftest import FLAVORS

VIP6_IP = addr_only(VIP6)  # 2001:db8::100


# ----------------------------------------------------------------------------------------------
# helpers


def wait_holders(topo: Topology, vip: str, expected: list[str], timeout: float = 15, dev: str | None = None):
    wait_until(lambda: topo.holders(vip, dev) == expected, timeout, 0.1,
               msg=lambda: f"{vip} held by exactly {expected} (now held by {topo.holders(vip, dev)})")


def wait_state(node: RedisNode, state: str, timeout: float = 10) -> dict[str, str]:
    def ok():
        s = status(node)
        return s if s.get("state") == state else None

    def msg():
        try:
            return f"{node.name} VIP.STATUS state={state} (now {status(node)})"
        except Exception as exc:  # noqa: BLE001
            return f"{node.name} VIP.STATUS state={state} (VIP.STATUS failed: {exc})"

    return wait_until(ok, timeout, 0.1, msg=msg)


def assert_consistent(g, master: str, vip: str = VIP4) -> None:
    """Exactly `master` holds the VIP, and every live node's VIP.STATUS agrees."""
    topo = g.topo
    assert topo.holders(vip) == [master]
    for name, n in g.nodes.items():
        if not n.alive():
            continue
        s = status(n)
        if name == master:
            assert s["state"] == "holding" and s["holding"] == "1", f"{name}: {s}"
        else:
            assert s["state"] == "standby" and s["holding"] == "0", f"{name}: {s}"


def promote(g, new: str) -> None:
    """Manual failover: REPLICAOF NO ONE on new, every other live node REPLICAOF new."""
    g[new].replicaof(None)
    for name, n in g.nodes.items():
        if name != new and n.alive():
            n.replicaof(g[new])


def vip_client(topo: Topology, host: str = VIP_IP, **kw) -> redis.Redis:
    """Client in the observer namespace talking to Redis through the VIP."""
    return topo.client("obs", host, **kw)


def write_via(topo: Topology, host: str, key: str, value: str, timeout: float = 15) -> None:
    """SET through host from the observer; retried until accepted by a master (bounded)."""
    def ok():
        c = vip_client(topo, host, socket_timeout=2)
        try:
            return c.set(key, value) and c.get(key) == value and c.execute_command("ROLE")[0] == "master"
        finally:
            c.close()
            c.connection_pool.disconnect()

    wait_until(ok, timeout, 0.2, msg=f"SET {key} via {host} from obs")


def start_group(topo: Topology, module_path: str, flavor: str = "redis", vip: str = VIP4,
                module_args=(), **kw):
    g = topo.redis(flavor=flavor, module=module_path, vip=vip, module_args=module_args, **kw)
    g.start()
    return g


# ----------------------------------------------------------------------------------------------
# 1. start-up


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_startup_vip_on_master_only(topo, module_path, flavor):
    cap = topo.capture("obs")
    g = start_group(topo, module_path, flavor)
    wait_holders(topo, VIP4, ["n1"])
    assert topo.addresses("n1").count(VIP4) == 1, topo.addresses("n1")

    s1 = wait_state(g["n1"], "holding")
    assert s1["holding"] == "1" and s1["role"] in ("master", "primary"), s1
    assert VIP_IP in s1["addresses"] and s1["interface"] == "eth0", s1
    for r in ("n2", "n3"):
        s = wait_state(g[r], "standby")
        assert s["holding"] == "0", s
    # INFO vip mirrors VIP.STATUS with vip_-prefixed fields
    info = g["n1"].info("vip")
    assert info.get("vip_state") == "holding", info
    assert str(info.get("vip_holding")) == "1", info

    # the master announced the VIP with a GARP from its own MAC
    mac1 = topo.mac("n1")
    cap.wait_for(lambda p: p.announces(VIP_IP) and p.src_mac == mac1 and p.sender_mac == mac1,
                 msg="GARP for the VIP from n1")
    # a burst of vip.announce-count (default 5) announcements
    cap.wait_for(lambda p: p.announces(VIP_IP) and p.src_mac == mac1, count=5, msg="5 GARPs from n1")
    assert not cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac != mac1), cap.summary()
    # added with a finite lifetime (default vip.address-lifetime-s 1), not permanent
    det = [a for a in topo.address_details("n1") if a.get("local") == VIP_IP]
    assert det and det[0]["valid_life_time"] <= 1, det

    # a client in the observer namespace reaches the master through the VIP
    c = vip_client(topo)
    assert c.ping()
    assert c.set("startup", flavor)
    assert c.get("startup") == flavor
    assert c.execute_command("ROLE")[0] == "master"
    assert c.info("server")["run_id"] == g["n1"].client().info("server")["run_id"]
    assert topo.neigh("obs", VIP_IP) == mac1
    assert VIP_IP in g["n1"].log_text(), "no log line names the claimed VIP"
    # the module's threads block SIGALRM, as Redis' own background threads do (the watchdog's
    # signal must reach the main thread)
    vip_threads = thread_sigblk(g["n1"], "vip-")
    assert vip_threads and all(blocked & (1 << (14 - 1)) for blocked in vip_threads.values()), vip_threads


def thread_sigblk(node: RedisNode, prefix: str) -> dict[str, int]:
    """SigBlk (the blocked-signal mask) of every thread of the node whose name starts with prefix."""
    out = {}
    for tid in os.listdir(f"/proc/{node.pid}/task"):
        try:
            name = open(f"/proc/{node.pid}/task/{tid}/comm").read().strip()
            if not name.startswith(prefix):
                continue
            for line in open(f"/proc/{node.pid}/task/{tid}/status"):
                if line.startswith("SigBlk:"):
                    out[f"{name}/{tid}"] = int(line.split()[1], 16)
        except FileNotFoundError:
            continue
    return out


@pytest.mark.parametrize("flavor", FLAVORS)
def test_crash_report_includes_the_module_and_completes(make_topology, module_path, flavor):
    """A server crash (DEBUG SEGFAULT) writes its report, INFO of the modules included: the
    module's INFO callback only tries its lock there, so the report completes and the process
    exits. (The crash is this test's own: its log is set aside so the suite's crash check,
    which fails any test that sees a crash, does not count it.)"""
    topo = make_topology(nodes=1)
    g = start_group(topo, module_path, flavor, nodes=["n1"], extra_conf=["enable-debug-command yes"])
    n1 = g["n1"]
    wait_state(n1, "holding")
    try:
        n1.execute("DEBUG", "SEGFAULT")
    except redis.ConnectionError:
        pass
    n1.wait_exit(30)
    log = n1.log_text()
    n1.logfile.rename(n1.logfile.with_suffix(".crash-expected"))
    n1.stdout_file.write_text("")
    modules = log[log.find("MODULES INFO OUTPUT"):]
    assert log.find("MODULES INFO OUTPUT") > log.find("BUG REPORT START") >= 0, log[-3000:]
    # the module's section is there, and the report went on past it (the fast memory test or the
    # end of the report follows the modules' INFO)
    assert "vip_state:holding" in modules, modules[:2000]
    after = modules[modules.find("vip_state:holding"):]
    assert "Preparing to test memory" in after or "BUG REPORT END" in after, after[:2000]


# A Redis log line: "<pid>:<role> <day> <month> <year> <time> <level> <message>", the level
# being '.' debug, '-' verbose, '*' notice, '#' warning.
_LOG_LINE = re.compile(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ ([.*#-]) (.*)$")


def module_warnings(log: str) -> list[str]:
    """Warning lines of the module (`<vip>`: its own and the redis-module crate's) or about a
    module (the server's own lines on loading one)."""
    out = []
    for line in log.splitlines():
        m = _LOG_LINE.match(line)
        if m and m.group(1) == "#" and ("<vip>" in m.group(2) or "module" in m.group(2).lower()):
            out.append(line)
    return out


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_load_logs_nothing_above_notice(topo, module_path, flavor):
    """Operators alert on warnings, so a start with nothing to fix must not log one (issue 21).
    The group is healthy (three Sentinels up, n1 confirmed and holding); then a replica is
    restarted with the module on its loadmodule line, and another replica unloads it and
    loads it again with MODULE LOAD. Neither logs a warning from or about the module: not the
    redis-module crate's "Skip register defrag callbacks" line, which Redis 7.0 and every
    Valkey used to get at each load."""
    g = start_sentinel_group(topo, module_path, flavor)

    def settled(node: RedisNode) -> bool:
        s = status(node)
        return (s["state"], s["sentinels_known"], s["sentinels_reachable"]) == ("standby", "3", "3")

    n3 = g["n3"]
    start = len(n3.logfile.read_text(errors="replace"))
    n3.restart()
    wait_until(lambda: settled(n3), 15, 0.1, msg=lambda: f"n3 back, standby, every Sentinel reached: {status(n3)}")
    log = n3.logfile.read_text(errors="replace")[start:]
    assert "<vip> redis-vip" in log and "loaded" in log, log[-2000:]
    assert not module_warnings(log), "\n".join(module_warnings(log))

    n2 = g["n2"]
    start = len(n2.logfile.read_text(errors="replace"))
    n2.execute("MODULE", "UNLOAD", "vip")
    n2.execute("MODULE", "LOAD", n2.module, *n2.module_args)
    wait_until(lambda: settled(n2), 15, 0.1, msg=lambda: f"n2 reloaded, standby, every Sentinel reached: {status(n2)}")
    log = n2.logfile.read_text(errors="replace")[start:]
    assert "<vip> redis-vip" in log, log[-2000:]
    assert not module_warnings(log), "\n".join(module_warnings(log))
    assert topo.holders(VIP4) == ["n1"]


# ----------------------------------------------------------------------------------------------
# 2. Sentinel failover after kill -9


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_failover_kill9(topo, module_path, flavor):
    g = start_group(topo, module_path, flavor)
    wait_holders(topo, VIP4, ["n1"])
    # down-after 3000, not 1000: with 1000 a Sentinel may mark the NEW master down right
    # after +switch-master (its reconnect waits out a 1 s throttle) and fail over a second
    # time, a Sentinel race seen in 3 of 19 demo runs that has nothing to do with the VIP.
    g.start_sentinels(down_after_ms=3000)
    mac1 = topo.mac("n1")
    assert topo.ping("obs", VIP_IP), "observer cannot ping the VIP"
    assert topo.neigh("obs", VIP_IP) == mac1
    write_via(topo, VIP_IP, "before", "1")
    cap = topo.capture("obs")

    g["n1"].kill9()
    new_addr = wait_until(lambda: (g.sentinel_master() not in (None, NODE_ADDR4["n1"])) and g.sentinel_master(),
                          40, 0.2, msg=lambda: f"Sentinels agree on a new master (now {g.sentinel_masters()})")
    new = g.by_addr(new_addr)
    other = next(n for n in ("n2", "n3") if n != new.name)
    mac_new = topo.mac(new.name)

    # VIP leaves the dead node (kernel lifetime) and ends on the node Sentinel names only
    wait_holders(topo, VIP4, [new.name], timeout=20)
    wait_state(new, "holding")
    wait_state(g[other], "standby")
    cap.wait_for(lambda p: p.announces(VIP_IP) and p.src_mac == mac_new and p.sender_mac == mac_new,
                 msg=f"GARP for the VIP from {new.name}")
    wait_until(lambda: topo.neigh("obs", VIP_IP) == mac_new, 10,
               msg=lambda: f"observer neighbour entry for VIP -> {mac_new} (now {topo.neigh_entry('obs', VIP_IP)})")
    write_via(topo, VIP_IP, "after", "2")
    c = vip_client(topo)
    assert c.get("before") == "1"
    assert c.info("server")["run_id"] == new.client().info("server")["run_id"]
    # stays consistent: the dead node's namespace keeps nothing, the replica takes nothing
    assert_consistent(g, new.name)


def test_sigstop_master_vip_expires_then_returns(make_topology, module_path):
    """A stopped master stops refreshing: the kernel drops the VIP after its lifetime; once
    continued, the reconcile loop claims it again (no Sentinel: it is still the master)."""
    topo = make_topology(nodes=2)
    g = start_group(topo, module_path)
    wait_holders(topo, VIP4, ["n1"])
    g["n1"].sigstop()
    try:
        wait_holders(topo, VIP4, [], timeout=15)
    finally:
        g["n1"].sigcont()
    wait_holders(topo, VIP4, ["n1"], timeout=15)
    wait_state(g["n1"], "holding")
    assert topo.holders(VIP4) == ["n1"]


# ----------------------------------------------------------------------------------------------
# 3. manual REPLICAOF promotions / demotions, rapid flips


def test_manual_replicaof_flips(topo, module_path):
    g = start_group(topo, module_path)
    wait_holders(topo, VIP4, ["n1"])

    promote(g, "n2")
    wait_holders(topo, VIP4, ["n2"])
    wait_state(g["n2"], "holding")
    wait_state(g["n1"], "standby")
    g.wait_replication(g["n2"])
    assert_consistent(g, "n2")

    promote(g, "n1")
    wait_holders(topo, VIP4, ["n1"])
    g.wait_replication(g["n1"])
    wait_state(g["n2"], "standby")
    assert_consistent(g, "n1")

    # 20 rapid flips, no waiting in between: rotate the master over the three nodes
    order = ["n2", "n3", "n1"]
    final = None
    for i in range(20):
        final = order[i % 3]
        promote(g, final)
    g.wait_replication(g[final], timeout=30)
    wait_holders(topo, VIP4, [final], timeout=20)
    for name in g.nodes:
        wait_state(g[name], "holding" if name == final else "standby")
    assert_consistent(g, final)
    # and it stays that way over a few check intervals
    time.sleep(2.5)
    assert_consistent(g, final)
    write_via(topo, VIP_IP, "flips", "done")


# ----------------------------------------------------------------------------------------------
# 4. drift repair


def test_drift_repaired(topo, module_path):
    g = start_group(topo, module_path)
    wait_holders(topo, VIP4, ["n1"])
    wait_state(g["n1"], "holding")

    # deleted by hand on the master: comes back
    # (no check that it is gone in between: the module may put it back at once)
    topo.ipcmd("n1", "addr", "del", VIP4, "dev", "eth0")
    wait_holders(topo, VIP4, ["n1"], timeout=15)

    # added by hand (permanent) on a replica: goes away, master keeps it
    topo.ipcmd("n2", "addr", "add", VIP4, "dev", "eth0")
    wait_holders(topo, VIP4, ["n1"], timeout=15)
    wait_state(g["n1"], "holding")
    wait_state(g["n2"], "standby")
    assert g["n1"].ping() and g["n2"].ping()


def test_conflict_reannounces_and_moves_the_neighbour_back(make_topology, module_path):
    """A split brain that heals (keepalived issues 166, 1528): while the holder n1 is frozen,
    another host (n2's namespace, no Redis there) claims the VIP with a gratuitous ARP and the
    observer's neighbour entry moves to it. Once n1 runs again it hears the claim, counts it,
    and answers with one burst of its own: the observer's entry is n1's MAC again.
    vip.announce-repeat-delay-ms 0 and no refresh: after its claim n1 announces only when it
    answers a conflict, so every GARP from n1 after the claim's five is the answer. The
    address is permanent (lifetime 0) so that the freeze cannot expire it."""
    topo = make_topology(nodes=2)
    cap = topo.capture("obs")
    g = start_group(topo, module_path, nodes=["n1"],
                    module_args=["announce-repeat-delay-ms", "0", "address-lifetime-s", "0"])
    n1 = g["n1"]
    mac1, mac2 = topo.mac("n1"), topo.mac("n2")
    wait_holders(topo, VIP4, ["n1"])
    wait_state(n1, "holding")
    from_n1 = lambda p: p.announces(VIP_IP) and p.src_mac == mac1  # noqa: E731
    cap.wait_for(from_n1, count=5, msg="the claim's burst of 5 GARPs from n1")
    assert topo.ping("obs", VIP_IP), "the observer reaches the VIP"
    assert topo.neigh("obs", VIP_IP) == mac1
    s = status(n1)
    assert (s["conflicts"], s["reannounced"]) == ("0", "0"), s

    n1.sigstop()
    try:
        topo.send_garp("n2", VIP_IP)
        wait_until(lambda: topo.neigh("obs", VIP_IP) == mac2, 10, 0.01,
                   msg=lambda: f"the foreign GARP moves the observer's entry (now {topo.neigh_entry('obs', VIP_IP)})")
    finally:
        n1.sigcont()

    wait_until(lambda: topo.neigh("obs", VIP_IP) == mac1, 10, 0.05,
               msg=lambda: f"n1's answer moves the entry back (now {topo.neigh_entry('obs', VIP_IP)}; "
                           f"status {status(n1)})")
    s = status(n1)
    assert (s["conflicts"], s["reannounced"], s["last_conflict_mac"]) == ("1", "1", mac2), s
    # the answer is one burst: vip.announce-count (5) GARPs after the foreign one, no more
    cap.wait_for(from_n1, count=10, msg="the answer's burst of 5 GARPs from n1")
    packets = cap.matching(lambda p: p.announces(VIP_IP))
    foreign = next(i for i, p in enumerate(packets) if p.src_mac == mac2)
    assert [p.src_mac for p in packets[:foreign]] == [mac1] * 5, cap.summary(20)
    assert [p.src_mac for p in packets[foreign + 1:]] == [mac1] * 5, cap.summary(20)
    assert topo.neigh("obs", VIP_IP) == mac1
    assert "announcing it again from this node" in n1.log_text()
    write_via(topo, VIP_IP, "after-conflict", "n1")


# ----------------------------------------------------------------------------------------------
# 5. CONFIG SET at run time


def test_config_set_protected_refused(topo, module_path):
    g = start_group(topo, module_path, nodes=["n1"], protected_configs=False)
    n1 = g["n1"]
    wait_holders(topo, VIP4, ["n1"])
    # everything that can move or take away the VIP
    for key, value in (("vip.address", "192.0.2.101/24"), ("vip.interface", "lo"), ("vip.label", "eth0:v"),
                       ("vip.enabled", "no"), ("vip.sentinels", "192.0.2.66:26379"),
                       ("vip.master-name", "other"), ("vip.sentinel-auth-user", "mallory"),
                       ("vip.sentinel-auth-pass", "x"), ("vip.quorum", "3"), ("vip.lease-ms", "1"),
                       ("vip.poll-interval-ms", "1000")):
        err = n1.config_set(key, value)
        assert err is not None, f"CONFIG SET {key} {value} accepted without enable-protected-configs"
        assert "protected" in err.lower(), f"CONFIG SET {key}: {err}"
    assert n1.config_get("vip.address") == VIP4
    assert n1.config_get("vip.interface") == "eth0"
    assert topo.holders(VIP4) == ["n1"]
    assert topo.holders("192.0.2.101") == []
    assert status(n1)["state"] == "holding"


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_config_set_applied_when_protected_enabled(topo, module_path, flavor):
    g = start_group(topo, module_path, flavor, nodes=["n1"], protected_configs=True)
    n1 = g["n1"]
    wait_holders(topo, VIP4, ["n1"])
    cap = topo.capture("obs")

    # move to a new address: old released, new claimed and announced
    assert n1.config_set("vip.address", "192.0.2.101/24") is None
    assert n1.config_get("vip.address") == "192.0.2.101/24"
    wait_holders(topo, "192.0.2.101/24", ["n1"])
    wait_holders(topo, VIP4, [])
    s = wait_state(n1, "holding")
    assert "192.0.2.101" in s["addresses"] and VIP_IP not in s["addresses"], s
    cap.wait_for(lambda p: p.announces("192.0.2.101") and p.src_mac == topo.mac("n1"),
                 msg="GARP for the new address")
    write_via(topo, "192.0.2.101", "moved", "yes")
    # the listener followed: another host's claim of the new address is a conflict, of the
    # old one (no longer ours) is not
    topo.send_garp("obs", VIP_IP, count=3)
    time.sleep(0.3)
    assert status(n1)["conflicts"] == "0", status(n1)
    topo.send_garp("obs", "192.0.2.101", count=3)
    wait_until(lambda: status(n1)["conflicts"] != "0", 5, 0.05, msg="conflict on the new address")
    assert status(n1)["last_conflict_mac"] == topo.mac("obs")

    # enabled no releases, yes claims again
    assert n1.config_set("vip.enabled", "no") is None
    wait_holders(topo, "192.0.2.101/24", [])
    s = status(n1)
    assert s["holding"] == "0" and s["state"] != "holding", s
    assert n1.config_set("vip.enabled", "yes") is None
    wait_holders(topo, "192.0.2.101/24", ["n1"])
    wait_state(n1, "holding")

    # move to another interface (a veth made inside n1's namespace): the listener moves too
    topo.add_veth("n1", "eth1")
    assert n1.config_set("vip.interface", "eth1") is None
    wait_holders(topo, "192.0.2.101/24", ["n1"], dev="eth1")
    wait_until(lambda: not topo.has_address("n1", "192.0.2.101", "eth0"), 10, msg="address left eth0")
    before = int(status(n1)["conflicts"])

    # The watcher thread opens the new listener just after the address appears on eth1 (the
    # address is what this test can see), so a GARP sent at once can come before it: send one
    # every 100 ms until the conflict is counted. A listener left on eth0 never counts one.
    def conflict_heard_on_eth1() -> bool:
        topo.send_garp("n1", "192.0.2.101", dev="eth1p")
        time.sleep(0.02)
        return int(status(n1)["conflicts"]) > before

    wait_until(conflict_heard_on_eth1, 5, 0.1,
               msg=lambda: f"conflict heard on eth1 (status {status(n1)}; packet sockets "
                           f"{topo.in_ns('n1', lambda: open('/proc/thread-self/net/packet').read())}; links "
                           f"{topo.ipcmd('n1', '-o', 'link').stdout})")
    assert n1.config_set("vip.interface", "eth0") is None
    wait_holders(topo, "192.0.2.101/24", ["n1"], dev="eth0")
    wait_until(lambda: not topo.has_address("n1", "192.0.2.101", "eth1"), 10, msg="address left eth1")

    # bad values refused with an error, nothing changes, server alive
    bad = [
        ("vip.address", "300.1.1.1/24", "300.1.1.1"),
        ("vip.address", "192.0.2.100/33", "33"),
        ("vip.address", "2001:db8::100/129", "129"),
        ("vip.label", "eth0:abcdefghijk", None),  # 16 characters
        ("vip.announce-count", "-1", None),
        ("vip.interface", "x" * 16, None),
    ]
    for key, value, named in bad:
        before = n1.config_get(key)
        err = n1.config_set(key, value)
        assert err is not None, f"CONFIG SET {key} {value!r} accepted"
        if named:
            assert named in err, f"error for {key} {value!r} does not name the value: {err}"
        assert n1.ping(), f"server died after CONFIG SET {key} {value!r}"
        assert n1.config_get(key) == before, f"{key} changed after refused set"
    assert topo.holders("192.0.2.101/24") == ["n1"]
    assert status(n1)["state"] == "holding"


# ----------------------------------------------------------------------------------------------
# 6. SHUTDOWN, MODULE UNLOAD / LOAD


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_shutdown_releases(topo, module_path, flavor):
    # lifetime 0 = permanent address: only the module's release can remove it
    g = start_group(topo, module_path, flavor, module_args=["address-lifetime-s", "0"])
    wait_holders(topo, VIP4, ["n1"])
    wait_state(g["n1"], "holding")
    lft = [a for a in topo.address_details("n1") if a.get("local") == VIP_IP]
    assert lft and lft[0].get("valid_life_time") == 4294967295, f"VIP not permanent with lifetime 0: {lft}"

    n1 = g["n1"]
    try:
        n1.execute("SHUTDOWN", "NOSAVE")
    except redis.ConnectionError:
        pass
    n1.wait_exit(20)
    held = topo.holders(VIP4)
    assert held == [], f"VIP still on {held} right after SHUTDOWN NOSAVE exited"
    assert "192.0.2.11/24" in topo.addresses("n1")  # only the VIP went
    # replicas (no Sentinel) stay replicas: nobody claims
    time.sleep(1.5)
    assert topo.holders(VIP4) == []


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_module_unload_and_reload(make_topology, module_path, flavor):
    topo = make_topology(nodes=1)
    g = topo.redis(flavor=flavor, nodes=["n1"])  # started WITHOUT the module
    g.start()
    n1 = g["n1"]
    time.sleep(0.3)
    # compare thread names without jemalloc's per-arena background threads (see thread_names)
    threads_before = n1.thread_names()
    args = ["address", VIP4, "interface", "eth0", "address-lifetime-s", "0"]

    # invalid value, then unknown argument, at load: MODULE LOAD fails, server alive, nothing
    # left behind. Redis 7.0 keeps a failed module's server-event subscriptions and unmaps its
    # code, so one left behind crashes the server at the next cron tick (hz 10: 100 ms); wait
    # several ticks before asking.
    for bad in (["address", "300.1.1.1/24", "interface", "eth0"],
                ["address", VIP4, "interface", "eth0", "adress-lifetime-s", "0"]):
        with pytest.raises(redis.ResponseError):
            n1.execute("MODULE", "LOAD", module_path, *bad)
        time.sleep(0.5)
        assert n1.ping()
    assert "vip" not in n1.module_list()
    assert topo.holders(VIP4) == []
    wait_until(lambda: n1.thread_names() == threads_before, 5,
               msg=lambda: f"threads back to {threads_before} after failed load (now {n1.thread_names()})")

    for cycle in range(2):
        n1.execute("MODULE", "LOAD", module_path, *args)
        assert "vip" in n1.module_list()
        wait_holders(topo, VIP4, ["n1"])
        wait_state(n1, "holding")
        assert n1.execute("MODULE", "UNLOAD", "vip") in ("OK", b"OK", True)
        assert "vip" not in n1.module_list()
        # permanent address (lifetime 0): gone only if the unload released it
        wait_holders(topo, VIP4, [], timeout=5)
        wait_until(lambda: n1.thread_names() == threads_before, 10,
                   msg=lambda: f"cycle {cycle}: threads back to {threads_before} after unload "
                               f"(now {n1.thread_names()})")
        assert n1.ping()

    # loads and claims again after unloads
    n1.execute("MODULE", "LOAD", module_path, *args)
    wait_holders(topo, VIP4, ["n1"])
    wait_state(n1, "holding")
    assert n1.ping()


def test_ipv4_label(make_topology, module_path):
    topo = make_topology(nodes=1)
    start_group(topo, module_path, module_args=["label", "eth0:vip"])
    wait_holders(topo, VIP4, ["n1"])
    det = [a for a in topo.address_details("n1") if a.get("local") == VIP_IP]
    assert det and det[0].get("label") == "eth0:vip", det


# ----------------------------------------------------------------------------------------------
# 7. faults


def test_interface_missing_then_created(make_topology, module_path):
    """A fault in force (error_active 1) clears by itself when the interface appears; its
    cause stays in last_error, with the time it was raised, and counts as one error however
    often it was retried."""
    topo = make_topology(nodes=1)
    t0_ms = int(time.time() * 1000)
    g = start_group(topo, module_path, nodes=["n1"], interface="vip9")
    n1 = g["n1"]
    s = wait_state(n1, "error")
    assert "vip9" in s["last_error"] and s["error_active"] == "1", s
    raised_ms = int(s["last_error_ms"])
    assert t0_ms <= raised_ms <= int(time.time() * 1000), (t0_ms, s)
    assert n1.ping()
    assert topo.holders(VIP4) == []
    assert "vip9" in n1.log_text(), "no warning naming the missing interface in the log"
    time.sleep(1.5)  # a few retries (250 ms backoff, doubling): the same fault, not new ones
    assert status(n1)["errors"] == "1", status(n1)

    topo.add_veth("n1", "vip9")
    wait_holders(topo, VIP4, ["n1"], dev="vip9", timeout=15)
    s = wait_state(n1, "holding")
    assert s["interface"] == "vip9", s
    # the history: what it was and when, no longer in force
    assert s["error_active"] == "0" and "vip9" in s["last_error"], s
    assert (s["errors"], int(s["last_error_ms"])) == ("1", raised_ms), s
    info = n1.info("vip")
    assert (str(info["vip_error_active"]), str(info["vip_last_error_ms"])) == ("0", str(raised_ms)), info
    assert n1.ping()


def test_no_net_admin_capability(make_topology, module_path):
    topo = make_topology(nodes=1)
    g = start_group(topo, module_path, nodes=["n1"],
                    wrapper=["setpriv", "--inh-caps=-net_admin,-net_raw",
                             "--bounding-set=-net_admin,-net_raw", "--"])
    n1 = g["n1"]
    s = wait_state(n1, "error")
    assert "CAP_NET_ADMIN" in s["last_error"], s
    assert n1.ping()
    assert topo.holders(VIP4) == []
    assert "CAP_NET_ADMIN" in n1.log_text()


# ----------------------------------------------------------------------------------------------
# 8. IPv6


def test_ipv6_vip_and_manual_failover(topo6, module_path):
    topo = topo6
    cap = topo.capture("obs")
    g = start_group(topo, module_path, vip=f"{VIP4},{VIP6}")
    wait_holders(topo, VIP6, ["n1"])
    wait_holders(topo, VIP4, ["n1"])
    s = wait_state(g["n1"], "holding")
    assert VIP6_IP in s["addresses"] and VIP_IP in s["addresses"], s
    mac1, mac2 = topo.mac("n1"), topo.mac("n2")
    na = cap.wait_for(lambda p: p.kind == "na" and p.target_ip == VIP6_IP and p.src_mac == mac1
                      and not p.na_flags.get("solicited"), msg="unsolicited NA for the VIP from n1")[0]
    assert na.na_flags["override"] and na.tlla == mac1 and na.hop_limit == 255, na

    # observer gets a neighbour entry for the IPv6 VIP, then a manual failover to n2
    assert topo.ping("obs", VIP6_IP), "observer cannot ping the IPv6 VIP"
    assert topo.neigh("obs", VIP6_IP) == mac1
    write_via(topo, VIP6_IP, "v6", "before")

    promote(g, "n2")
    wait_holders(topo, VIP6, ["n2"])
    wait_holders(topo, VIP4, ["n2"])
    wait_state(g["n2"], "holding")
    wait_state(g["n1"], "standby")
    cap.wait_for(lambda p: p.kind == "na" and p.target_ip == VIP6_IP and p.src_mac == mac2
                 and not p.na_flags.get("solicited") and p.na_flags.get("override"),
                 msg="unsolicited NA for the VIP from n2")
    wait_until(lambda: topo.neigh("obs", VIP6_IP) == mac2, 10,
               msg=lambda: f"observer IPv6 neighbour entry -> {mac2} (now {topo.neigh_entry('obs', VIP6_IP)})")
    write_via(topo, VIP6_IP, "v6", "after")
    assert_consistent(g, "n2", VIP6)
    assert_consistent(g, "n2", VIP4)


# ----------------------------------------------------------------------------------------------
# 8. routed mode (vip.announce no)


def packet_sockets(topo: Topology, node: RedisNode) -> set[str]:
    """Inodes of the AF_PACKET sockets the node's process holds (/proc/net/packet of its
    namespace against the process's socket descriptors)."""
    mine = set()
    for fd in os.listdir(f"/proc/{node.pid}/fd"):
        try:
            target = os.readlink(f"/proc/{node.pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    table = topo.run(node.name, "cat", "/proc/net/packet").stdout.splitlines()[1:]
    return mine & {line.split()[-1] for line in table if line.split()}


def test_announcing_mode_holds_a_packet_socket(make_topology, module_path):
    """The control for the routed-mode check below: announcing, the module keeps one."""
    topo = make_topology(nodes=1)
    g = start_group(topo, module_path, nodes=["n1"])
    wait_state(g["n1"], "holding")
    assert packet_sockets(topo, g["n1"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_routed_mode_on_lo_without_cap_net_raw(make_topology, module_path, flavor):
    """vip.announce no: a /32 and a /128 on `lo` (no MAC), claimed and released by the role,
    nothing announced on the wire, no packet socket and no CAP_NET_RAW needed; VIP.STATUS says
    announcements and conflict detection are off. A permanent lifetime is refused."""
    topo = make_topology(nodes=1)
    g = topo.redis(flavor=flavor, nodes=["n1"], module=module_path, vip="198.51.100.10/32,2001:db8::10/128",
                   interface="lo", module_args=["announce", "no"], protected_configs=True,
                   wrapper=["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", "--"])
    g.start()
    n1 = g["n1"]
    cap = topo.capture("n1", dev="lo", filter="arp or icmp6")
    s = wait_state(n1, "holding")
    assert (s["announce"], s["conflict_detection"]) == ("no", "off"), s
    assert topo.has_address("n1", "198.51.100.10", "lo") and topo.has_address("n1", "2001:db8::10", "lo")
    assert not packet_sockets(topo, n1), "a packet socket is open in routed mode"
    n1.replicaof("192.0.2.99")
    wait_until(lambda: not topo.has_address("n1", "198.51.100.10", "lo"), 5, 0.05, msg="released")
    n1.replicaof(None)
    wait_state(n1, "holding")
    time.sleep(0.5)
    assert not cap.matching(lambda p: p.announces("198.51.100.10") or p.announces("2001:db8::10")), cap.summary()
    assert n1.config_set("vip.address-lifetime-s", "0") is None
    s = wait_state(n1, "error")
    assert "refused with vip.announce no" in s["last_error"], s
    wait_until(lambda: not topo.has_address("n1", "198.51.100.10", "lo"), 5, 0.05, msg="released")
