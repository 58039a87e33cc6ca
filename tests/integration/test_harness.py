"""Fast self-tests of the harness itself (no module needed)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.harness.netns import NODE_ADDR4, list_netns, run_in_netns, sweep_stale_namespaces, wait_until
from tests.harness.topology import Topology
from tests.integration.conftest import FLAVORS


def _ns_pids(name: str) -> list[int]:
    cp = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(x) for x in cp.stdout.split()]


def test_topology_builds_and_tears_down(tmp_path):
    t = Topology("harness build", ipv6=True, workdir=tmp_path)
    names = t.namespaces
    try:
        assert len(names) == 5 and all(n in list_netns() for n in names)
        assert all(n.startswith("vt-") and f"-{os.getpid()}-" in n for n in names)
        assert "192.0.2.11/24" in t.addresses("n1")
        assert "2001:db8::13/64" in t.addresses("n3")
        assert "192.0.2.50/24" in t.addresses("obs")
        assert t.ping("obs", "192.0.2.12")
        assert t.ping("obs", "2001:db8::13")
        assert t.neigh("obs", "192.0.2.12") == t.mac("n2")
        # a process in a namespace, then cut and restore a link
        p = t.popen("n1", "sleep", "60")
        t.link_down("n2")
        assert not t.ping("obs", "192.0.2.12", timeout_s=0.5)
        t.link_up("n2")
        wait_until(lambda: t.ping("obs", "192.0.2.12", timeout_s=0.5), 10, msg="n2 reachable again")
        # namespaces are per thread: the main thread never moved
        inside = run_in_netns(t.ns("n1"), lambda: os.readlink("/proc/thread-self/ns/net"))
        assert inside != os.readlink("/proc/thread-self/ns/net")
    finally:
        t.close()
    assert p.poll() is not None, "process started in the topology survived close()"
    assert not any(n in list_netns() for n in names)


def test_sweep_removes_only_dead_owners():
    # a pid that is certainly dead: a finished child of ours
    child = subprocess.Popen(["true"])
    child.wait()
    dead = child.pid
    stale = f"vt-sweep-{dead}-n1"
    live = f"vt-sweep-{os.getpid()}-zz"
    for n in (stale, live):
        subprocess.run(["ip", "netns", "add", n], check=True)
    try:
        sweep_stale_namespaces()
        assert stale not in list_netns()  # (a parallel worker's own sweep may have got it first)
        assert live in list_netns()
    finally:
        for n in (stale, live):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def test_capture_and_neighbour_flip_on_announcements(topo6):
    t = topo6
    cap = t.capture("obs")
    assert t.ping("obs", "192.0.2.11") and t.ping("obs", "2001:db8::11")
    mac1, mac2 = t.mac("n1"), t.mac("n2")
    assert t.neigh("obs", "192.0.2.11") == mac1
    assert t.neigh("obs", "2001:db8::11") == mac1
    # n2 announces n1's addresses: the observer's existing entries must flip (no sysctl needed)
    t.send_garp("n2", "192.0.2.11")
    t.send_unsolicited_na("n2", "2001:db8::11")
    garp = cap.wait_for(lambda p: p.announces("192.0.2.11") and p.src_mac == mac2, msg="GARP from n2")[0]
    assert garp.arp_op == 1 and garp.sender_mac == mac2
    na = cap.wait_for(lambda p: p.announces("2001:db8::11") and p.src_mac == mac2, msg="NA from n2")[0]
    assert na.na_flags["override"] and not na.na_flags["solicited"] and na.tlla == mac2 and na.hop_limit == 255
    wait_until(lambda: t.neigh("obs", "192.0.2.11") == mac2, 5, msg="IPv4 neighbour flipped")
    wait_until(lambda: t.neigh("obs", "2001:db8::11") == mac2, 5, msg="IPv6 neighbour flipped")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_failover_without_module(topo, flavor):
    g = topo.redis(flavor=flavor)
    g.start()
    assert g.masters() == ["n1"]
    assert g["n2"].role() == "replica"
    # a client in the observer namespace reaches the master across the bridge
    c = topo.client("obs", NODE_ADDR4["n1"])
    assert c.set("k", "v") and c.get("k") == "v"
    g.start_sentinels(down_after_ms=1000)
    assert g.sentinel_master() == NODE_ADDR4["n1"]
    g["n1"].kill9()
    new = wait_until(lambda: g.sentinel_master() not in (None, NODE_ADDR4["n1"]) and g.sentinel_master(),
                     30, 0.2, msg="Sentinel names a new master")
    node = g.by_addr(new)
    wait_until(lambda: g.masters() == [node.name], 15, msg=f"only {node.name} is master")
    c2 = topo.client("obs", new)
    assert c2.get("k") == "v"
    assert c2.set("k2", "v2")


def test_server_without_net_admin(topo):
    """setpriv drops CAP_NET_ADMIN/CAP_NET_RAW for the server (used by the module fault test)."""
    from tests.harness.processes import RedisNode

    n = RedisNode(topo, "n1", wrapper=["setpriv", "--inh-caps=-net_admin,-net_raw",
                                       "--bounding-set=-net_admin,-net_raw", "--"])
    n.start()
    n.wait_ready()
    caps = {}
    for line in open(f"/proc/{n.pid}/status"):
        if line.startswith("Cap"):
            k, v = line.split(":")
            caps[k] = int(v.strip(), 16)
    assert not caps["CapEff"] & (1 << 12) and not caps["CapBnd"] & (1 << 12)  # CAP_NET_ADMIN
    assert not caps["CapEff"] & (1 << 13)  # CAP_NET_RAW
    assert n.ping()
