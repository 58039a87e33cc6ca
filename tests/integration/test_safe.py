"""Safe mode (vip.quorum >= 1): the VIP only where the Sentinels agree (issue 3, tests 1-7).

Every test runs 3 Redis nodes with the module in safe mode (vip.quorum 2, vip.lease-ms 3000)
and 3 Sentinels (quorum 2, down-after-milliseconds 5000 > lease-ms: the safety condition), in
namespaces of its own. A HolderSampler (safe_helpers.py) records which nodes hold the VIP
every 20 ms, one netlink dump per node namespace, for the whole scenario; properties are
checked over that record ("no sample shows two holders", "n2 held in every sample after its
claim"). Timeouts are upper bounds against hangs, never performance assertions; measured
latencies are printed (pytest -s) and appear in failure messages.

Run: python3 -m pytest tests/integration/test_safe.py -q [-n 2] [-k redis|valkey]
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import FLAVORS
from safe_helpers import (DOWN_AFTER_MS, HELLO_PERIOD_MS, LEASE_MS, SENTINEL_PASS, SENTINEL_USER,
                          VIP_IP, HolderSampler, hello_payload, module_log, publish,
                          sentinel_runids, start_safe_group, status, statuses, wait_failover)
from topology import NODE_ADDR4, VIP4, RedisGroup, Topology, pairs_to_dict, server_binary, wait_until

LEASE_S = LEASE_MS / 1000
HELLO_S = HELLO_PERIOD_MS / 1000
CHECK_INTERVAL_S = 1.0  # vip.check-interval-ms default
# Upper bound (hang guard) for "releases within lease-ms plus one check interval/hello period":
# the property plus a generous margin for a loaded 2-core machine. Actual figures are printed.
RELEASE_BOUND_S = LEASE_S + HELLO_S + CHECK_INTERVAL_S + 10


def report(topo: Topology, g: RedisGroup, smp: HolderSampler, t0: float) -> str:
    """Holder timeline (relative to t0), sampling resolution, VIP.STATUS and module log lines."""
    parts = [f"holders: {smp.describe(t0=t0)}",
             f"samples: {len(smp.samples)}, largest gap {smp.max_gap() * 1000:.0f} ms, errors {smp.errors[:3]}",
             statuses(g)]
    for name, n in g.nodes.items():
        parts.append(f"--- {name} module log\n{module_log(n)}")
    return "\n".join(parts)


def assert_never_two_holders(topo, g, smp, t0, since=float("-inf")):
    multi = smp.multi_holder_samples(since=since)
    if multi:
        pytest.fail(f"{len(multi)} samples show two holders (first at {multi[0].t - t0:+.3f}s: "
                       f"{multi[0].holders}, about {smp.duration_ms(lambda h: len(h) > 1, since):.0f} ms)\n"
                       + report(topo, g, smp, t0))


def first_sample_where(smp: HolderSampler, pred, since: float):
    for s in smp.snapshot(since=since):
        if pred(s):
            return s
    return None


# ----------------------------------------------------------------------------------------------
# 1. stale restart


@pytest.mark.parametrize("flavor", FLAVORS)
def test_stale_restart_never_holds(topo, module_path, flavor):
    """kill -9 the master, let the failover finish, restart the old master with its original
    (master) config: sampled every 20 ms, it never holds the VIP, while it is a stale master
    and after Sentinel converts it to a replica."""
    g = start_safe_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        g["n1"].kill9()
        new = wait_failover(g, "n1")
        smp.wait_for(lambda s: s.holders == (new,), 30, f"{new} holding alone")
        t_restart = time.monotonic()
        g["n1"].start()
        g["n1"].wait_ready()
        roles = []

        def converted() -> bool:
            roles.append((time.monotonic(), g["n1"].role()))
            s = status(g["n1"])
            assert s["holding"] == "0", f"stale n1 holds: {s}"
            return roles[-1][1] == "replica"

        # Sentinel converts a restarted master after its next INFO poll (~10 s); then one more
        # lease and hello period, in case a late confirmation would make it claim.
        wait_until(converted, 60, 0.05, msg=lambda: f"n1 converted to replica\n{report(topo, g, smp, t0)}")
        time.sleep(LEASE_S + HELLO_S)
        s1 = status(g["n1"])
    assert roles[0][1] == "master", f"the restarted n1 was not a stale master at first (roles seen {roles[:5]})"
    held = [s for s in smp.snapshot(since=t_restart) if "n1" in s.holders]
    if held:
        pytest.fail(f"stale n1 held the VIP in {len(held)} samples, first at {held[0].t - t0:+.3f}s\n"
                      + report(topo, g, smp, t0))
    assert s1["claims"] == "0", s1
    assert_never_two_holders(topo, g, smp, t0)
    assert smp.last().holders == (new,), report(topo, g, smp, t0)
    stale_s = max(t for t, r in roles if r == "master") - t_restart
    print(f"\n[{flavor}] stale n1 was master for ~{stale_s:.1f}s after restart and never held the VIP; "
          f"largest sample gap {smp.max_gap() * 1000:.0f} ms")


# ----------------------------------------------------------------------------------------------
# 2. isolation


@pytest.mark.parametrize("flavor", FLAVORS)
def test_isolated_master_releases_before_promotion(topo, module_path, flavor):
    """Cut n1 off (its veth in the bridge down) for longer than down-after: n1 releases (fenced)
    before the Sentinels promote a replica, the promoted replica claims, no sample shows two
    holders, and n1 never holds again after its link returns."""
    g = start_safe_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        topo.link_down("n1")
        rel = smp.wait_for(lambda s: "n1" not in s.holders, RELEASE_BOUND_S, "isolated n1 releases", since=t0)
        new = wait_failover(g, "n1")
        claim = smp.wait_for(lambda s: new in s.holders, 30, f"{new} claims", since=t0)
        s1 = status(g["n1"])  # local client: works with the link down
        t_up = time.monotonic()
        topo.link_up("n1")
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1,
                   msg=lambda: f"n1 converted to replica after the link returned\n{report(topo, g, smp, t0)}")
        time.sleep(LEASE_S + HELLO_S)
    print(f"\n[{flavor}] isolated n1 released {rel.t - t0:.2f}s after link down; {new} claimed "
          f"{claim.t - t0:.2f}s after; link up at {t_up - t0:.2f}s; largest sample gap {smp.max_gap() * 1000:.0f} ms")
    assert s1["holding"] == "0" and s1["last_fence_reason"].startswith("fenced"), s1
    assert rel.t < claim.t, report(topo, g, smp, t0)
    assert_never_two_holders(topo, g, smp, t0)
    again = [s for s in smp.snapshot(since=rel.t) if "n1" in s.holders]
    if again:
        pytest.fail(f"n1 held the VIP again at {again[0].t - t0:+.3f}s (link up at {t_up - t0:+.3f}s)\n"
                       + report(topo, g, smp, t0))
    assert smp.last().holders == (new,), report(topo, g, smp, t0)


# ----------------------------------------------------------------------------------------------
# 3. SIGSTOP


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sigstop_longer_than_down_after(topo, module_path, flavor):
    """SIGSTOP the master until the Sentinels have failed over, then SIGCONT: no sample shows
    two holders, before or after the old master wakes up."""
    g = start_safe_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        g["n1"].sigstop()
        try:
            new = wait_failover(g, "n1")
            smp.wait_for(lambda s: new in s.holders, 30, f"{new} claims", since=t0)
            time.sleep(1)
        finally:
            t_cont = time.monotonic()
            g["n1"].sigcont()
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1,
                   msg=lambda: f"n1 converted to replica after SIGCONT\n{report(topo, g, smp, t0)}")
        time.sleep(LEASE_S + HELLO_S)
    print(f"\n[{flavor}] stopped {t_cont - t0:.2f}s; holders: {smp.describe(t0=t0)}")
    assert_never_two_holders(topo, g, smp, t0)
    assert smp.last().holders == (new,), report(topo, g, smp, t0)


# ----------------------------------------------------------------------------------------------
# 4. forged and malformed hellos


def knows_hello_sender(flavor: str) -> bool:
    """Can the server tell the module which client sent a hello? Needs
    RedisModule_CommandFilterGetClientId (Redis 7.2+, Valkey 8): Redis 7.0.15 lacks it."""
    try:
        return b"CommandFilterGetClientId" in Path(server_binary(flavor)).read_bytes()
    except OSError:
        return False


def malformed_hellos() -> list[str | bytes]:
    """Payloads the module must count and ignore. Every PUBLISH on the hello channel also
    reaches the Sentinels, which parse hellos leniently (strtoull: a config epoch of "-1" is
    2^64-1, a newer epoch than any): the 8-field ones name a master the Sentinels do not
    monitor ("other"), so they ignore them, while the module (vip.master-name unset) does not."""
    good = hello_payload("192.0.2.50", "a" * 40, 1, NODE_ADDR4["n1"], 0, master_name="other")
    return [
        "", "hello", "a,b,c", good[:25], good + ",9", good.replace(",1,other", ",one,other"),
        good.replace("6379,0", "6379,-1"), good.replace(",6379,", ",99999,"),
        good.replace(NODE_ADDR4["n1"], "not-an-address"), good.replace("a" * 40, "z" * 40),
        good.replace(",other,", ",,"), "9" * 600, b"\xff\xfe," * 8,
    ]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_forged_hellos_ignored_with_sentinel_user(topo, module_path, flavor):
    """With vip.sentinel-user set (the Sentinels authenticate as that ACL user): the holder is
    confirmed by the real hellos; hellos PUBLISHed by a plain client, naming another master,
    are ignored and counted; malformed hellos from the Sentinel user are counted and ignored;
    the replicas do not count the replicated copies; nothing crashes."""
    if not knows_hello_sender(flavor):
        pytest.skip(f"{flavor} cannot name the sender of a hello (no CommandFilterGetClientId); "
                    "see test_sentinel_user_refused_visibly_without_server_support")
    g = start_safe_group(topo, module_path, flavor, sentinel_user=SENTINEL_USER)
    n1, n2, n3 = g["n1"], g["n2"], g["n3"]
    time.sleep(2 * HELLO_S)  # hellos reach the replicas directly and through replication
    base = {n: int(status(g[n])["hellos_rejected"]) for n in g.nodes}
    assert base == {"n1": 0, "n2": 0, "n3": 0}, \
        f"genuine hellos (or their replicated copies) were rejected:\n{statuses(g)}"
    runids = sentinel_runids(g)
    epoch = int(pairs_to_dict(g.sentinels["n1"].execute("SENTINEL", "MASTER", "mymaster"))["config-epoch"])
    # Sentinel itself trusts any hello it reads on the channel: a newer config epoch for
    # "mymaster" from a plain client makes the Sentinels switch master (seen while writing this
    # test: +config-update-from / +switch-master). So the forgeries either name a master the
    # Sentinels do not monitor ("other"), or repeat what the Sentinels already know (their own
    # run ids and config epoch): harmless to Sentinel, harmful to the module if it took them.
    forged = [
        # a newer config epoch naming n2: if accepted, it would fence n1 at once (contradiction)
        hello_payload("192.0.2.50", "f" * 40, 99, NODE_ADDR4["n2"], 99, master_name="other"),
        hello_payload("192.0.2.50", "e" * 40, 99, NODE_ADDR4["n2"], 99, master_name="other"),
        # the real Sentinels' run ids naming n2: if accepted, n1 would lose its confirmations
        *[hello_payload(g.sentinels[s].address, rid, epoch, NODE_ADDR4["n2"], epoch) for s, rid in runids.items()],
    ]
    malformed = malformed_hellos()
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        for p in forged:
            publish(n1, p)  # default user: not the Sentinel user
        for p in malformed:
            publish(n1, p, SENTINEL_USER, SENTINEL_PASS)  # the right user, bad content
        for p in malformed[:3]:
            publish(n1, p)  # bad content from the wrong user: counted once each
        want = len(forged) + len(malformed) + 3
        wait_until(lambda: int(status(n1)["hellos_rejected"]) >= want, 10, 0.05,
                   msg=lambda: f"n1 hellos_rejected reaches {want}\n{statuses(g)}")
        time.sleep(HELLO_S + 0.5)  # later real hellos must still confirm n1
        s1 = status(n1)
    assert set(g.sentinel_masters().values()) == {NODE_ADDR4["n1"]}, \
        f"the Sentinels themselves changed their view: {g.sentinel_masters()}"
    assert int(s1["hellos_rejected"]) == want, f"{want} expected\n" + report(topo, g, smp, t0)
    assert n1.ping() and n2.ping() and n3.ping()
    assert s1["holding"] == "1" and s1["releases"] == "0" and s1["fences"] == "0", report(topo, g, smp, t0)
    lost = [s for s in smp.snapshot() if s.holders != ("n1",)]
    if lost:
        pytest.fail(f"n1 lost the VIP after forged hellos\n{report(topo, g, smp, t0)}")
    # the forged and malformed PUBLISHes were replicated to n2 and n3: copies are not counted
    for r in (n2, n3):
        assert status(r)["hellos_rejected"] == "0", f"{r.name} counted replicated copies:\n{statuses(g)}"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_malformed_hellos_counted_and_ignored(topo, module_path, flavor):
    """Without vip.sentinel-user: malformed, truncated, oversized, non-numeric and non-UTF-8
    hellos from a plain client are counted in hellos_rejected and change nothing; the holder
    keeps the VIP, every server keeps running."""
    g = start_safe_group(topo, module_path, flavor)
    n1 = g["n1"]
    before = int(status(n1)["hellos_rejected"])
    malformed = malformed_hellos()
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        for p in malformed:
            publish(n1, p)
        want = before + len(malformed)
        wait_until(lambda: int(status(n1)["hellos_rejected"]) >= want, 10, 0.05,
                   msg=lambda: f"n1 hellos_rejected reaches {want}\n{statuses(g)}")
        time.sleep(HELLO_S + 0.5)
        s1 = status(n1)
    assert int(s1["hellos_rejected"]) == want, s1
    assert all(n.ping() for n in g.nodes.values())
    assert s1["holding"] == "1" and s1["fences"] == "0", report(topo, g, smp, t0)
    if [s for s in smp.snapshot() if s.holders != ("n1",)]:
        pytest.fail(f"n1 lost the VIP after malformed hellos\n{report(topo, g, smp, t0)}")
    if knows_hello_sender(flavor):
        for r in (g["n2"], g["n3"]):
            assert status(r)["hellos_rejected"] == "0", f"{r.name} counted replicated copies:\n{statuses(g)}"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_user_refused_visibly_without_server_support(topo, module_path, flavor):
    """On a server that cannot name a hello's sender (Redis 7.0), vip.sentinel-user cannot be
    enforced: the module must say so (state error, last_error naming vip.sentinel-user) and,
    trusting no hello, never claim."""
    if knows_hello_sender(flavor):
        pytest.skip(f"{flavor} names the sender of a hello: test_forged_hellos_ignored_with_sentinel_user applies")
    g = start_safe_group(topo, module_path, flavor, sentinel_user=SENTINEL_USER, wait_holder=False)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        s1 = wait_until(lambda: (lambda s: s if s["state"] == "error" else None)(status(g["n1"])), 15, 0.1,
                        msg=lambda: f"n1 in state error\n{statuses(g)}")
        time.sleep(2 * HELLO_S)
    assert "sentinel-user" in s1["last_error"], s1
    if [s for s in smp.snapshot() if s.holders]:
        pytest.fail(f"the VIP was claimed on hellos whose sender is unknown\n{report(topo, g, smp, t0)}")


# ----------------------------------------------------------------------------------------------
# 5. conflict


@pytest.mark.parametrize("flavor", FLAVORS)
def test_second_holder_reported_as_conflict(topo, module_path, flavor):
    """The VIP added by hand on n2 (ip addr add) and announced from there with a gratuitous ARP:
    the real holder n1 counts a conflict naming n2's MAC; a node that does not hold counts none."""
    g = start_safe_group(topo, module_path, flavor)
    s1 = status(g["n1"])
    assert s1["conflicts"] == "0" and s1["holding"] == "1", s1
    mac2 = topo.mac("n2")
    topo.ipcmd("n2", "addr", "add", VIP4, "dev", "eth0")
    try:
        topo.send_garp("n2", VIP_IP, count=3)
    finally:
        topo.ipcmd("n2", "addr", "del", VIP4, "dev", "eth0", check=False)
    s1 = wait_until(lambda: (lambda s: s if int(s["conflicts"]) >= 1 else None)(status(g["n1"])), 10, 0.05,
                    msg=lambda: f"n1 reports a conflict\n{statuses(g)}")
    assert s1["last_conflict_mac"].lower() == mac2, (s1, mac2)
    assert s1["holding"] == "1", s1
    assert "conflict" in g["n1"].log_text(), module_log(g["n1"])
    assert status(g["n3"])["conflicts"] == "0", statuses(g)


# ----------------------------------------------------------------------------------------------
# 6. normal failover


@pytest.mark.parametrize("trigger", ["kill", "sentinel-failover"])
@pytest.mark.parametrize("flavor", FLAVORS)
def test_failover_promoted_node_never_releases(topo, module_path, flavor, trigger):
    """A normal Sentinel failover (the master killed, or SENTINEL FAILOVER): sampled throughout,
    the promoted node holds the VIP in every sample from its claim on and never releases,
    although the other Sentinels learn of it only over their next hellos."""
    g = start_safe_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        if trigger == "kill":
            g["n1"].kill9()
        else:
            g.sentinels["n2"].execute("SENTINEL", "FAILOVER", "mymaster")
        new = wait_failover(g, "n1")
        claim = smp.wait_for(lambda s: new in s.holders, 30, f"{new} claims", since=t0)
        # every Sentinel names the new master, then the claim must survive the end of the
        # promotion grace (lease + hello period) and a few more hello periods
        wait_until(lambda: set(g.sentinel_masters().values()) == {g[new].address}, 30, 0.1,
                   msg=lambda: f"all Sentinels name {new}: {g.sentinel_masters()}")
        time.sleep(LEASE_S + 3 * HELLO_S)
        sn = status(g[new])
    print(f"\n[{flavor}/{trigger}] {new} claimed {claim.t - t0:.2f}s after the trigger; "
          f"two holders for ~{smp.duration_ms(lambda h: len(h) > 1):.0f} ms; holders: {smp.describe(t0=t0)}")
    gaps = [s for s in smp.snapshot(since=claim.t) if new not in s.holders]
    if gaps:
        pytest.fail(f"{new} did not hold at {gaps[0].t - t0:+.3f}s after claiming at {claim.t - t0:+.3f}s\n"
                      + report(topo, g, smp, t0))
    assert sn["holding"] == "1" and sn["releases"] == "0" and sn["fences"] == "0", sn
    assert int(sn["sentinels_confirming"]) >= 2, sn
    if trigger == "kill":
        assert_never_two_holders(topo, g, smp, t0)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_newer_epoch_fences_old_master_at_once(topo, module_path, flavor):
    """Property 5 (contradiction) on a fresh deployment's first failover (config epoch 0 -> 1):
    after SENTINEL FAILOVER the old master, still a master until Sentinel converts it, releases
    because a hello names the new master under a newer config epoch, not only once its own
    confirmations age out of the lease."""
    g = start_safe_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        g.sentinels["n2"].execute("SENTINEL", "FAILOVER", "mymaster")
        new = wait_failover(g, "n1")
        smp.wait_for(lambda s: "n1" not in s.holders, RELEASE_BOUND_S, "n1 releases", since=t0)
        s1 = status(g["n1"])
    print(f"\n[{flavor}] two holders for ~{smp.duration_ms(lambda h: len(h) > 1):.0f} ms; "
          f"n1 fence reason: {s1['last_fence_reason']!r}")
    assert "newer than" in s1["last_fence_reason"], (
        f"n1 was not fenced by the newer config epoch naming {new}\n" + report(topo, g, smp, t0))


# ----------------------------------------------------------------------------------------------
# 7. unconfirmed manual promotion


@pytest.mark.parametrize("flavor", FLAVORS)
def test_unconfirmed_manual_promotion_releases(topo, module_path, flavor):
    """REPLICAOF NO ONE on replica n2 by hand, which no Sentinel confirms: n2 claims at once (a
    role change to master is trusted for lease-ms plus one hello period), then releases with
    reason fenced and does not claim again; n1 holds throughout."""
    g = start_safe_group(topo, module_path, flavor)
    with HolderSampler(topo, interval=0.02) as smp:
        t0 = time.monotonic()
        g["n2"].replicaof(None)
        claim = smp.wait_for(lambda s: "n2" in s.holders, 10, "n2 claims on promotion", since=t0)
        rel = smp.wait_for(lambda s: "n2" not in s.holders, RELEASE_BOUND_S, "n2 releases", since=claim.t)
        time.sleep(LEASE_S + HELLO_S)  # still a master, still unconfirmed: must not claim again
        s2 = status(g["n2"])
        role2 = g["n2"].role()
    print(f"\n[{flavor}] n2 claimed {claim.t - t0:.3f}s after REPLICAOF NO ONE and released {rel.t - t0:.2f}s after "
          f"(lease {LEASE_S:.0f}s + hello period {HELLO_S:.0f}s); reason {s2['last_fence_reason']!r}")
    assert role2 == "master", "n2 should still be a (rogue) master: Sentinel converts it later"
    assert s2["holding"] == "0" and s2["releases"] == "1" and s2["fences"] == "1", s2
    assert s2["last_fence_reason"].startswith("fenced"), s2
    again = [s for s in smp.snapshot(since=rel.t) if "n2" in s.holders]
    if again:
        pytest.fail(f"n2 claimed again at {again[0].t - t0:+.3f}s\n" + report(topo, g, smp, t0))
    n1_gaps = [s for s in smp.snapshot(since=t0) if "n1" not in s.holders]
    if n1_gaps:
        pytest.fail(f"n1 lost the VIP at {n1_gaps[0].t - t0:+.3f}s\n" + report(topo, g, smp, t0))
