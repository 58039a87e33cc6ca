"""The replicas as witnesses: VIP.WITNESS answered by a real replica with the module.

A master (n1) and a replica (n2), both with the module, no Sentinels: the question is asked
directly, as a master's asker asks it (`VIP.WITNESS <master_replid> <lease-ms>`), and the answer
follows the replica's own replication: it follows the asked history, follows another, has no
link, or was promoted from it. The ACL part checks the rule the operator docs give.
"""

from __future__ import annotations

import pytest
import redis

from tests.harness.netns import NODE_ADDR4, VIP4, VIP_IP, wait_until
from tests.harness.sentinel import start_sentinel_group
from tests.harness.status import status
from tests.integration.conftest import FLAVORS
from tests.integration.test_tls import needs_tls, pki, start_tls_group  # noqa: F401 (pki: a fixture)

OTHER_REPLID = "0123456789abcdef" * 2 + "01234567"
# In the test subnet, never used by a node: a link to it never comes up.
DEAD_MASTER = "192.0.2.250"


def start_pair(make_topology, module_path, flavor):
    topo = make_topology(nodes=2)
    g = topo.redis(flavor=flavor, module=module_path, vip=VIP4, nodes=["n1", "n2"]).start()
    return g


def master_replid(node) -> str:
    return node.info("replication")["master_replid"]


def witness(node, *args, **client_kwargs):
    """VIP.WITNESS on node, as [kind, detail] with text decoded."""
    c = node.client(**client_kwargs) if client_kwargs else node.client()
    kind, detail = c.execute_command("VIP.WITNESS", *args)
    text = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
    return [text(kind), text(detail)]


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_replica_confirms_only_the_history_it_follows(make_topology, module_path, flavor):
    g = start_pair(make_topology, module_path, flavor)
    n1, n2 = g["n1"], g["n2"]
    replid = master_replid(n1)
    assert len(replid) == 40

    # link up, following n1's history: confirmed, for what was asked
    assert witness(n2, replid, 1000) == ["follows", 1000]
    # more than the cap is granted only up to the cap (60 s)
    assert witness(n2, replid, 10_000_000) == ["follows", 60000]
    # another history (a master that is not ours): evidence of a failover elsewhere
    # the address it follows and the history it follows (the master's replid, not the asked one)
    assert witness(n2, OTHER_REPLID, 1000) == ["follows-other", f"{NODE_ADDR4['n1']}:6379 {replid}"]
    # the master itself is no witness of its own history
    assert witness(n1, replid, 1000) == ["not-following", "a master of another history"]

    # the fields of the failsafe are in VIP.STATUS and INFO vip, as numbers
    s = status(n2)
    for field in ("failsafe", "failsafe_since_ms", "witnesses", "witnesses_confirmed",
                  "witness_lease_ms", "witnessed_until_ms"):
        assert s[field].isdigit(), (field, s)
        assert f"vip_{field}" in n2.info("vip"), field
    # VIP.WITNESSES answers (no witness is asked without Sentinels)
    assert n1.execute("VIP.WITNESSES") == []


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_replica_without_its_link_or_promoted_does_not_confirm(make_topology, module_path, flavor):
    g = start_pair(make_topology, module_path, flavor)
    n1, n2 = g["n1"], g["n2"]
    replid = master_replid(n1)
    assert witness(n2, replid, 1000)[0] == "follows"

    # its link down (a master that never answers): not confirmed, and no evidence either
    n2.execute("REPLICAOF", DEAD_MASTER, 6379)
    got = wait_until(lambda: (w := witness(n2, replid, 1000))[0] == "not-following" and w, 15,
                     msg=lambda: f"n2 answers not-following (now {witness(n2, replid, 1000)})")
    assert got == ["not-following", f"link to {DEAD_MASTER}:6379 down"]

    # back to n1, then promoted: it answers `promoted` to a question about n1's history
    n2.replicaof(n1)
    wait_until(lambda: witness(n2, replid, 1000)[0] == "follows", 20,
               msg=lambda: f"n2 follows n1 again (now {witness(n2, replid, 1000)})")
    n2.replicaof(None)
    assert witness(n2, replid, 1000) == ["promoted", ""]
    # a question about its own new history is not one it can confirm as a witness
    assert witness(n2, master_replid(n2), 1000) == ["not-following", "a master of another history"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_promoted_replica_keeps_its_promise(make_topology, module_path, flavor):
    """A replica that confirmed does not claim the VIP before its promise runs out, even when
    promoted meanwhile (the promise reaches the worker before the role change)."""
    g = start_pair(make_topology, module_path, flavor)
    n1, n2 = g["n1"], g["n2"]
    topo = g.topo
    wait_until(lambda: topo.holders(VIP_IP) == ["n1"], 15, msg=lambda: f"n1 holds ({topo.holders(VIP_IP)})")
    # a promise long enough that the few commands below cannot outlast it
    assert witness(n2, master_replid(n1), 8000) == ["follows", 8000]
    left = int(status(n2)["witnessed_until_ms"])
    assert 0 < left <= 8000, status(n2)

    # promoted at once, n1 made its replica: n2 is master, yet holds nothing while it promised
    n2.replicaof(None)
    n1.replicaof(n2)
    wait_until(lambda: topo.holders(VIP_IP) == [], 15, msg=lambda: f"n1 let go ({topo.holders(VIP_IP)})")
    wait_until(lambda: status(n2)["role"] == "master", 10, msg=lambda: f"n2 sees itself master ({status(n2)})")
    s = status(n2)
    assert int(s["witnessed_until_ms"]) > 0, s
    assert s["holding"] == "0" and topo.holders(VIP_IP) == [], s
    # and claims once the promise ran out
    wait_until(lambda: topo.holders(VIP_IP) == ["n2"], 20, msg=lambda: f"n2 claims after its promise ({status(n2)})")
    assert status(n2)["witnessed_until_ms"] == "0"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_arguments_are_checked(make_topology, module_path, flavor):
    g = start_pair(make_topology, module_path, flavor)
    n2 = g["n2"]
    replid = master_replid(g["n1"])
    cases = [
        ((), "usage: VIP.WITNESS <replid> <lease-ms>"),
        ((replid,), "usage: VIP.WITNESS <replid> <lease-ms>"),
        ((replid, 1000, "x"), "usage: VIP.WITNESS <replid> <lease-ms>"),
        (("abc", 1000), "the replid must be 40 hex digits"),
        (("z" * 40, 1000), "the replid must be 40 hex digits"),
        ((replid, 0), "the lease must be a positive number of milliseconds, got '0'"),
        ((replid, -5), "the lease must be a positive number of milliseconds"),
        ((replid, "soon"), "the lease must be a positive number of milliseconds, got 'soon'"),
    ]
    for args, words in cases:
        with pytest.raises(redis.ResponseError) as err:
            n2.execute("VIP.WITNESS", *args)
        assert words in str(err.value), (args, str(err.value))
    # none of them was taken for a question
    assert witness(n2, replid, 1000) == ["follows", 1000]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_replication_user_needs_vip_witness(make_topology, module_path, flavor):
    """The rule docs/operations.md gives: `ACL SETUSER <masteruser> +vip.witness`."""
    g = start_pair(make_topology, module_path, flavor)
    n1, n2 = g["n1"], g["n2"]
    replid = master_replid(n1)
    for node in (n1, n2):
        node.execute("ACL", "SETUSER", "repl", "on", ">replpw", "+psync", "+replconf", "+ping")
        node.execute("ACL", "SETUSER", "plain", "on", ">plainpw", "+ping", "+info")
    # the replication user without the rule: NOPERM, naming the command
    with pytest.raises(redis.ResponseError) as err:
        witness(n2, replid, 1000, username="repl", password="replpw")
    assert "NOPERM" in str(err.value) or "no permissions" in str(err.value), str(err.value)
    assert "vip.witness" in str(err.value).lower(), str(err.value)

    # with it: the replica answers, and replication itself still works with that user
    for node in (n1, n2):
        node.execute("ACL", "SETUSER", "repl", "+vip.witness")
    assert n2.config_set("masteruser", "repl") is None
    assert n2.config_set("masterauth", "replpw") is None
    n2.execute("CLIENT", "KILL", "TYPE", "master")
    g.wait_replication(n1, [n2], timeout=20)
    assert witness(n2, replid, 1000, username="repl", password="replpw") == ["follows", 1000]
    # and on the master, whose asker would use the same credentials
    assert n1.config_set("masteruser", "repl") is None
    assert n1.config_set("masterauth", "replpw") is None
    with pytest.raises(redis.ResponseError):
        witness(n2, replid, 1000, username="plain", password="plainpw")

    # where module commands have ACL categories, +@vip is enough
    categories = [c.decode() if isinstance(c, bytes) else c for c in n2.execute("ACL", "CAT")]
    if flavor.startswith(("valkey", "redis-8")):
        assert "vip" in categories, categories  # Redis 7.4+ and Valkey 8+ have module ACL categories
    if "vip" in categories:
        n2.execute("ACL", "SETUSER", "plain", "+@vip")
        assert witness(n2, replid, 1000, username="plain", password="plainpw") == ["follows", 1000]


def witness_rows(node) -> list[dict]:
    """VIP.WITNESSES as dicts of text."""
    text = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
    return [{text(r[i]): text(r[i + 1]) for i in range(0, len(r), 2)} for r in node.execute("VIP.WITNESSES")]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_master_short_of_sentinels_asks_its_replicas(make_topology, module_path, flavor):
    """The askers end to end: with one Sentinel of three gone the master has no spare supporter
    and asks both replicas on their own connections, with the server's replication
    credentials; a replication user without +vip.witness is named with the rule to add."""
    topo = make_topology(nodes=3)
    g = start_sentinel_group(topo, module_path, flavor)
    n1 = g["n1"]
    replicas = {f"{NODE_ADDR4[n]}:6379" for n in ("n2", "n3")}
    g.sentinels["n3"].kill9()

    def rows_where(pred):
        rows = witness_rows(n1)
        return rows if {r["address"] for r in rows if pred(r)} == replicas else None

    rows = wait_until(lambda: rows_where(lambda r: r["reply"].startswith("follows") and not r["last_error"]),
                      30, msg=lambda: f"n1 asks n2 and n3, both confirm (now {witness_rows(n1)}, {status(n1)})")
    assert all(int(r["age_ms"]) >= 0 for r in rows), rows
    # known from the master's own INFO replication (read at every cron tick) and the Sentinels
    assert all("info" in r["source"].split(",") for r in rows), rows
    assert status(n1)["witnesses"] == "2", status(n1)
    # the replicas promised (their own status shows it while the questions keep coming)
    wait_until(lambda: int(status(g["n2"])["witnessed_until_ms"]) > 0, 10,
               msg=lambda: f"n2 shows its promise ({status(g['n2'])})")

    # the replication user, taken from CONFIG SET masteruser / masterauth on the master, lacks
    # the command on the replicas: each row names the rule
    for n in ("n1", "n2", "n3"):
        g[n].execute("ACL", "SETUSER", "repl", "on", ">replpw", "+psync", "+replconf", "+ping")
    assert n1.config_set("masteruser", "repl") is None
    assert n1.config_set("masterauth", "replpw") is None
    wait_until(lambda: rows_where(lambda r: "ACL SETUSER repl +vip.witness" in r["last_error"]), 30,
               msg=lambda: f"n1's rows name the ACL rule (now {witness_rows(n1)})")

    # the rule added: confirmed again, through the same credentials
    for n in ("n2", "n3"):
        g[n].execute("ACL", "SETUSER", "repl", "+vip.witness")
    wait_until(lambda: rows_where(lambda r: r["reply"].startswith("follows") and not r["last_error"]), 30,
               msg=lambda: f"n2 and n3 confirm to the user repl (now {witness_rows(n1)})")

    # one asker thread per replica; MODULE UNLOAD stops them with the rest, and the server lives
    assert sorted(t for t in n1.thread_names() if t.startswith("vip-witness")) == ["vip-witness-0",
                                                                                  "vip-witness-1"]
    n1.execute("MODULE", "UNLOAD", "vip")
    assert [t for t in n1.thread_names() if t.startswith("vip-")] == [], n1.thread_names()
    assert n1.ping()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_replicas_are_asked_over_tls_as_replication_runs(make_topology, module_path, pki, flavor):
    """TLS-only nodes (port 0, tls-replication yes, client certificates required): the askers
    take the server's own files and reach both replicas."""
    needs_tls(flavor)
    topo = make_topology(nodes=3)
    g = start_tls_group(topo, module_path, pki, flavor)
    n1 = g["n1"]
    replicas = {f"{NODE_ADDR4[n]}:6379" for n in ("n2", "n3")}
    g.sentinels["n3"].kill9()
    wait_until(lambda: {r["address"] for r in witness_rows(n1)
                        if r["reply"].startswith("follows") and not r["last_error"]} == replicas, 30,
               msg=lambda: f"n1 asks n2 and n3 over TLS, both confirm (now {witness_rows(n1)})")
