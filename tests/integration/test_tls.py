"""Sentinels over TLS and behind ACLs.

A full TLS deployment as Redis's TLS documentation describes it: every node with ``port 0``,
``tls-port 6379`` and ``tls-replication yes``; every Sentinel with ``port 0``, ``tls-port
26379`` and ``tls-replication yes``; one CA and certificates made by the test with the openssl
command (tests/harness/tls.py). The module runs in the Sentinel-confirmed mode with
``vip.sentinel-tls yes`` and nothing else about TLS: it takes the server's own tls-* files. The
stories of test_sentinel.py run there with the same checks.

Then each TLS failure, seen through a probe: a plaintext redis-server with the module whose
``vip.sentinels`` and ``vip.sentinel-tls-*`` are changed with CONFIG SET, against Sentinels
that are TLS-only, have an expired certificate, or are plaintext. Then the smallest ACL user,
and the secrets.

Needs a server built with TLS (Debian's redis-server is); others are skipped with the reason.

Run: VT_SERVERS=redis-7.0 python3 -m pytest tests/integration/test_tls.py -q
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness.logs import module_log
from tests.harness.netns import MASTER_NAME, NODE_ADDR4, REDIS_PORT, SENTINEL_PORT, VIP4, wait_until
from tests.harness.processes import RedisGroup, RedisNode, SentinelNode
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import first_promotion, module_args, wait_settled
from tests.harness.servers import server_binary
from tests.harness.status import sentinel_rows, status, statuses
from tests.harness.tls import Pki, TlsVipWriter, make_pki, openssl_available, secrets_in, server_has_tls, \
    server_tls_conf, tls_client, use_tls_clients
from tests.harness.topology import Topology
from tests.integration.conftest import FLAVORS

FAILOVER_S = 30
# The smallest ACL a Sentinel needs for the module (docs/operations.md): exactly this.
ACL_USER = "vipmodule"
ACL_PASS = "acl-secret-9f3e1c"
ACL_RULES = "+sentinel|myid +sentinel|master +sentinel|replicas +sentinel|sentinels +client|setname"


def needs_tls(flavor: str) -> None:
    if not openssl_available():
        pytest.skip("the openssl command is not installed")
    try:
        binary = server_binary(flavor)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"{flavor}: {exc}")
    if not server_has_tls(binary):
        pytest.skip(f"{flavor} ({binary}) is built without TLS")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    if not openssl_available():
        pytest.skip("the openssl command is not installed")
    return make_pki(tmp_path / "pki")


def start_tls_group(topo: Topology, module_path: str, pki: Pki, flavor: str, auth_clients: bool = True,
                    extra_module_args=(), sentinel_extra=(), module_auth=None,
                    wait_holder: bool = True, protected_configs: bool = False) -> RedisGroup:
    """3 TLS-only nodes with the module (vip.sentinel-tls yes, the server's own files), then 3
    TLS-only Sentinels (quorum 2, down-after 1000) once the replicas are online."""
    args = module_args(topo, module_auth, ["sentinel-tls", "yes", *extra_module_args])
    g = topo.redis(flavor=flavor, module=module_path, vip=VIP4, module_args=args,
                   extra_conf=server_tls_conf(pki, REDIS_PORT, auth_clients), protected_configs=protected_configs)
    for n in g:
        use_tls_clients(n, pki)
    g.start()
    master = g["n1"]
    for name in g.nodes:
        s = SentinelNode(topo, name, flavor=flavor, master_addr=master.address, quorum=2, down_after_ms=1000,
                         failover_timeout_ms=10000,
                         extra_conf=server_tls_conf(pki, SENTINEL_PORT, auth_clients) + list(sentinel_extra))
        use_tls_clients(s, pki)
        g.sentinels[name] = s
        s.start()
    for s in g.sentinels.values():
        s.wait_ready()
    wait_until(lambda: all(len(s.replicas()) >= 2 and len(s.sentinels()) >= 2 for s in g.sentinels.values()),
               40, 0.2, msg="every TLS Sentinel sees the replicas and its peers")
    if wait_holder:
        wait_until(lambda: topo.holders(VIP4) == ["n1"], 30, 0.02,
                   msg=lambda: f"n1 confirmed over TLS and holding the VIP\n{statuses(g)}")
    return g


def report(g: RedisGroup, smp: HolderSampler, t0: float) -> str:
    parts = [f"holders: {smp.describe(t0=t0)}", statuses(g)]
    for name, n in g.nodes.items():
        parts.append(f"--- {name} module log\n{module_log(n)}")
    return "\n".join(parts)


def no_two_holders(g, smp, t0, since=float("-inf")) -> None:
    multi = smp.multi_holder_samples(since=since)
    assert not multi, f"{len(multi)} samples show two holders\n" + report(g, smp, t0)


def first_promotion_wait(g: RedisGroup, after: float) -> tuple[float, str]:
    return wait_until(lambda: _promotion(g, after), FAILOVER_S, 0.05, msg="a replica promoted")


def _promotion(g, after):
    try:
        return first_promotion(g, after)
    except AssertionError:
        return None


# ----------------------------------------------------------------------------------------------
# the TLS deployment: the same stories as in plaintext


@pytest.mark.parametrize("flavor", FLAVORS)
def test_tls_kill9_then_stale_restart(topo, module_path, pki, flavor):
    """tls-auth-clients yes everywhere; the module sends the server's own certificate. kill -9
    of n1: the promoted replica claims, the restarted stale n1 never holds, and once one node
    holds alone no sample shows two holders."""
    needs_tls(flavor)
    g = start_tls_group(topo, module_path, pki, flavor, auth_clients=True)
    s1 = status(g["n1"])
    assert (s1["mode"], s1["state"], s1["last_error"]) == ("sentinel", "holding", ""), s1
    rows = sentinel_rows(g["n1"])
    assert len(rows) == 3 and all(r["last_error"] == "" for r in rows), rows
    # One TLS session per node and Sentinel, kept across polls: the same connections 2 s
    # (20 polls) later, and exactly one per node.
    def module_clients():
        return sorted((c["id"], c["addr"].rsplit(":", 1)[0]) for c in
                      g.sentinels["n2"].client().client_list() if c.get("name") == "redis-vip")
    before = module_clients()
    time.sleep(2)
    assert module_clients() == before and sorted(a for _, a in before) == sorted(n.address for n in g), before
    with HolderSampler(topo, interval=0.02) as smp, TlsVipWriter(topo, pki) as w:
        t0, wall0 = time.monotonic(), time.time()
        g["n1"].kill9()
        promoted, first_new = first_promotion_wait(g, wall0)
        new = wait_settled(g, ignore=("n1",))
        alone = smp.wait_for(lambda s: s.holders == (new,), FAILOVER_S, f"{new} holding alone", since=t0)
        t_restart = time.time()
        g["n1"].start()
        g["n1"].wait_ready()
        wait_until(lambda: status(g["n1"])["holding"] == "0" and g["n1"].role() == "replica", 60, 0.05,
                   msg=lambda: f"n1 converted\n{report(g, smp, t0)}")
        time.sleep(1)
    held = [s for s in smp.snapshot() if "n1" in s.holders and s.wall > t_restart]
    assert not held, "stale n1 held the VIP\n" + report(g, smp, t0)
    assert not w.acked_by("n1", sent_after=t_restart), "the stale n1 acknowledged writes through the VIP"
    no_two_holders(g, smp, t0, since=alone.t)
    assert smp.last().holders == (new,), report(g, smp, t0)
    print(f"\n[{flavor} TLS] kill -9 -> {first_new} promoted {promoted - wall0:.3f}s, {new} alone at "
          f"{alone.t - t0:.3f}s")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_tls_isolation_and_planned_failover(topo, module_path, pki, flavor):
    """tls-auth-clients no (the module still sends its certificate; the Sentinels do not ask).
    n1 isolated: it releases before any promotion. Then SENTINEL FAILOVER back and forth: the old
    master releases, the new one claims, and no sample shows two holders."""
    needs_tls(flavor)
    g = start_tls_group(topo, module_path, pki, flavor, auth_clients=False)
    with HolderSampler(topo, interval=0.02) as smp:
        t0, wall0 = time.monotonic(), time.time()
        topo.link_down("n1")
        rel = smp.wait_for(lambda s: "n1" not in s.holders, 10, "isolated n1 releases", since=t0)
        promoted, first_new = first_promotion_wait(g, wall0)
        smp.wait_for(lambda s: first_new in s.holders, FAILOVER_S, f"{first_new} claims", since=t0)
        time.sleep(max(0.0, 6 - (time.monotonic() - t0)))
        topo.link_up("n1")
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1, msg="n1 converted after the link returned")
        held = wait_settled(g)
        smp.wait_for(lambda s: s.holders == (held,), FAILOVER_S, f"{held} holding alone")
        assert rel.wall < promoted, "n1 released after the promotion\n" + report(g, smp, t0)
        assert status(g["n1"])["last_fence_reason"] == "lease_expired", statuses(g)
        no_two_holders(g, smp, t0)
        # a planned failover over TLS
        t1, wall1 = time.monotonic(), time.time()
        others = [n for n in g.sentinels if n != held]
        g.sentinels[others[0]].execute("SENTINEL", "FAILOVER", MASTER_NAME)
        promoted2, new2 = first_promotion_wait(g, wall1)
        smp.wait_for(lambda s: new2 in s.holders, FAILOVER_S, f"{new2} claims", since=t1)
        smp.wait_for(lambda s: held not in s.holders, 10, f"{held} releases", since=t1)
        final = wait_settled(g)
        smp.wait_for(lambda s: s.holders == (final,), FAILOVER_S, f"{final} holding alone", since=t1)
    overlap = smp.duration_ms(lambda h: len(h) > 1, since=t1)
    print(f"\n[{flavor} TLS] isolated n1 released {(rel.t - t0) * 1000:.0f} ms after link down; planned failover "
          f"{held} -> {new2}: two holders ~{overlap:.0f} ms")
    assert overlap == 0, report(g, smp, t0)


# ----------------------------------------------------------------------------------------------
# each TLS failure, and recovery


def probe_node(topo: Topology, module_path: str, flavor: str, sentinels: str) -> RedisNode:
    """A plaintext redis-server in n1's namespace on port 6390 with the module in Sentinel
    mode, protected configs settable: it only polls, the failures show in its VIP.STATUS."""
    node = RedisNode(topo, "n1", flavor=flavor, module=module_path, port=6390, protected_configs=True,
                     module_args=["address", VIP4, "interface", "eth0", "sentinels", sentinels,
                                  "master-name", MASTER_NAME, "sentinel-tls", "yes"])
    node.dir = node.dir.parent / "redis-probe"
    node.dir.mkdir(parents=True, exist_ok=True)
    node.conf = node.dir / "redis.conf"
    node.logfile = node.dir / "redis.log"
    node.stdout_file = node.dir / "stdout.log"
    node.write_conf()
    node.start()
    node.wait_ready()
    return node


def sentinel_at(topo: Topology, pki: Pki, flavor: str, name: str, port: int, conf: list[str]) -> SentinelNode:
    s = SentinelNode(topo, "n1", flavor=flavor, master_addr=NODE_ADDR4["n1"], port=port, extra_conf=conf)
    s.dir = s.dir.parent / f"sentinel-{name}"
    s.dir.mkdir(parents=True, exist_ok=True)
    s.conf, s.logfile, s.stdout_file = s.dir / "sentinel.conf", s.dir / "sentinel.log", s.dir / "stdout.log"
    lines = [line.replace(str(s.dir.parent / "sentinel-n1"), str(s.dir)) for line in
             (s.dir.parent / "sentinel-n1" / "sentinel.conf").read_text().splitlines()]
    s.conf.write_text("\n".join(lines) + "\n")
    if any(c.startswith("tls-port") for c in conf):
        # the harness's own client does not check the certificate (one is expired)
        s._client = tls_client(s.ns, "127.0.0.1", port, pki, ssl_cert_reqs="none")
    s.start()
    s.wait_ready()
    return s


def error_of(node: RedisNode, sentinel: str, words: list[str], timeout: float = 10) -> str:
    """Wait until VIP.STATUS is in error naming the Sentinel and every word, and VIP.SENTINELS'
    row of it says the same; return the text."""
    def ok():
        s = status(node)
        rows = [r for r in sentinel_rows(node) if r.get("addr", r.get("address", "")) == sentinel
                or sentinel in str(r)]
        row_err = rows[0]["last_error"] if rows else ""
        if s["state"] == "error" and sentinel in s["last_error"] and all(w in s["last_error"] for w in words) \
                and all(w in row_err for w in words):
            return s["last_error"]
        return None

    return wait_until(ok, timeout, 0.05, msg=lambda: f"error naming {sentinel} and {words}: "
                                                      f"{status(node)} {sentinel_rows(node)}")


def no_error(node: RedisNode, timeout: float = 10) -> None:
    wait_until(lambda: status(node)["error_active"] == "0" and all(r["last_error"] == "" for r in
                                                                    sentinel_rows(node)),
               timeout, 0.05, msg=lambda: f"no error: {status(node)} {sentinel_rows(node)}")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_each_tls_failure_is_named_with_its_fix_and_recovers(make_topology, module_path, pki, flavor):
    """Against a TLS-only Sentinel with tls-auth-clients yes, one with an expired certificate,
    and a plaintext one: an unknown CA, no client certificate, an untrusted client certificate,
    an expired Sentinel certificate, TLS towards a plaintext Sentinel and plaintext towards a
    TLS one each put VIP.STATUS and VIP.SENTINELS in an error naming the Sentinel, the cause and
    the fix; the server stays up, and the error clears when the setting is fixed."""
    needs_tls(flavor)
    topo = make_topology(nodes=1)
    base = server_tls_conf(pki, 26379, auth_clients=True, replication=True)
    sentinel_at(topo, pki, flavor, "tls", 26379, base)
    sentinel_at(topo, pki, flavor, "expired", 26380,
                server_tls_conf(pki, 26380, auth_clients=False, cert=pki.expired_cert,
                                key=str(pki.dir / "expired.key")))
    sentinel_at(topo, pki, flavor, "plain", 26381, [])
    a = NODE_ADDR4["n1"]
    tls_s, expired_s, plain_s = f"{a}:26379", f"{a}:26380", f"{a}:26381"
    node = probe_node(topo, module_path, flavor, tls_s)
    cs = node.config_set

    def fix(**cfg):
        for k, v in cfg.items():
            assert cs(f"vip.{k.replace('_', '-')}", v) is None, k

    # unknown CA (our CA file is the other CA)
    fix(sentinel_tls_ca_cert_file=pki.other_ca)
    error_of(node, tls_s, ["is not signed by the CA in", pki.other_ca, "vip.sentinel-tls-ca-cert-file"])
    # the right CA, but no client certificate: tls-auth-clients yes refuses
    fix(sentinel_tls_ca_cert_file=pki.ca)
    error_of(node, tls_s, ["requires a client certificate", "tls-auth-clients yes", "vip.sentinel-tls-cert-file"])
    # a client certificate from another CA
    fix(sentinel_tls_cert_file=pki.other_cert, sentinel_tls_key_file=pki.other_key)
    error_of(node, tls_s, ["client certificate", "Sentinel's tls-ca-cert-file"])
    # fixed: no error (the Sentinel answers; it does not confirm this probe, which is no error)
    fix(sentinel_tls_cert_file=pki.client_cert, sentinel_tls_key_file=pki.client_key)
    no_error(node)
    # the Sentinel's certificate expired
    fix(sentinels=expired_s)
    error_of(node, expired_s, ["has expired", "renew it"])
    # TLS towards a plaintext Sentinel
    fix(sentinels=plain_s)
    error_of(node, plain_s, ["plaintext"])
    # plaintext towards a TLS-only Sentinel
    fix(sentinel_tls="no", sentinels=tls_s)
    error_of(node, tls_s, ["vip.sentinel-tls yes"])
    # and back
    fix(sentinel_tls="yes")
    no_error(node)
    # The server's own files are the defaults: with the module's cleared there is no CA; a
    # CONFIG SET of the server's tls-* files (read on the config-change event) fixes it, and
    # its certificate is the client certificate the Sentinel asks for.
    fix(sentinel_tls_ca_cert_file="", sentinel_tls_cert_file="", sentinel_tls_key_file="")
    error_of(node, tls_s, ["no CA to verify", "tls-ca-cert-file"])
    node.execute("CONFIG", "SET", "tls-cert-file", pki.server_cert, "tls-key-file", pki.server_key,
                 "tls-ca-cert-file", pki.ca)
    no_error(node)
    assert node.alive() and not topo.crashes(), topo.logs()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_replaced_ca_file_takes_effect_without_restart(make_topology, module_path, pki, flavor):
    """The CA file named in vip.sentinel-tls-ca-cert-file is wrong, then replaced in place
    (same path, new content): the poller sees the change and the error clears, with no
    CONFIG SET and no restart."""
    needs_tls(flavor)
    topo = make_topology(nodes=1)
    sentinel_at(topo, pki, flavor, "tls", 26379, server_tls_conf(pki, 26379, auth_clients=False))
    a = NODE_ADDR4["n1"]
    ca_copy = pki.dir / "ca-in-use.crt"
    ca_copy.write_bytes(Path(pki.other_ca).read_bytes())
    node = probe_node(topo, module_path, flavor, f"{a}:26379")
    assert node.config_set("vip.sentinel-tls-ca-cert-file", str(ca_copy)) is None
    error_of(node, f"{a}:26379", ["is not signed by"])
    tmp = pki.dir / "ca-new.crt"
    tmp.write_bytes(Path(pki.ca).read_bytes())
    tmp.rename(ca_copy)
    no_error(node)


# ----------------------------------------------------------------------------------------------
# ACL


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_smallest_acl_user_and_one_missing_command(topo, module_path, pki, flavor):
    """The Sentinels' ACL user for the module has exactly the documented rules: n1 holds over
    TLS with it. The same user without +sentinel|replicas: VIP.STATUS names the command and the
    ACL rule to add."""
    needs_tls(flavor)
    user_line = f"user {ACL_USER} on >{ACL_PASS} {ACL_RULES}"
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    assert f"ACL SETUSER {ACL_USER} on >" in doc and ACL_RULES in doc, "the doc gives the exact rules"
    g = start_tls_group(topo, module_path, pki, flavor, sentinel_extra=[user_line],
                        module_auth=(ACL_USER, ACL_PASS))
    assert status(g["n1"])["state"] == "holding"
    for s in g.sentinels.values():
        s.execute("ACL", "SETUSER", ACL_USER, "-sentinel|replicas")
    text = wait_until(lambda: (lambda s: s["last_error"] if "sentinel|replicas" in s["last_error"] else None)(
        status(g["n1"])), 15, 0.05, msg=lambda: statuses(g))
    assert f"ACL SETUSER {ACL_USER} +sentinel|replicas" in text, text
    assert g["n1"].alive()


# ----------------------------------------------------------------------------------------------
# secrets


@pytest.mark.parametrize("flavor", FLAVORS)
def test_no_secret_in_the_log_info_or_status(topo, module_path, pki, flavor):
    """Every secret set (the Sentinels' password for an ACL user, an encrypted client key with
    its passphrase): after a run with a planned failover, none appears in the
    server's log, INFO, VIP.STATUS or VIP.SENTINELS."""
    needs_tls(flavor)
    import subprocess
    key_pass = "key-pass-7c1d0e"
    enc_key = pki.dir / "client-enc.key"
    subprocess.run(["openssl", "pkey", "-in", pki.client_key, "-aes256", "-passout", f"pass:{key_pass}",
                    "-out", str(enc_key)], check=True, capture_output=True)
    user_line = f"user {ACL_USER} on >{ACL_PASS} {ACL_RULES}"
    g = start_tls_group(topo, module_path, pki, flavor, sentinel_extra=[user_line],
                        module_auth=(ACL_USER, ACL_PASS),
                        extra_module_args=["sentinel-tls-cert-file", pki.client_cert,
                                           "sentinel-tls-key-file", str(enc_key),
                                           "sentinel-tls-key-file-pass", key_pass])
    wall0 = time.time()
    g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
    first_promotion_wait(g, wall0)
    wait_settled(g)
    texts = []
    for n in g:
        texts += [n.log_text(), str(n.client().info("everything")), str(n.vip_status()),
                  str(n.execute("VIP.SENTINELS"))]
    assert not secrets_in(texts, [ACL_PASS, key_pass]), "a secret appears"


# ----------------------------------------------------------------------------------------------
# figures (printed with -s; no performance assertion)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_unload_while_tls_is_used_leaves_the_server_up(topo, module_path, pki, flavor):
    """MODULE UNLOAD of a module that polled over TLS, then TLS clients connecting and leaving
    (the server frees their SSL objects, which calls libssl's ex_data callbacks, some of which
    are the module's): the server stays up, and the module loads again."""
    needs_tls(flavor)
    g = start_tls_group(topo, module_path, pki, flavor, auth_clients=True)
    n3 = g["n3"]
    n3.execute("MODULE", "UNLOAD", "vip")
    for _ in range(20):
        c = tls_client(n3.ns, "127.0.0.1", REDIS_PORT, pki)
        assert c.ping()
        c.connection_pool.disconnect()
    assert n3.alive() and n3.ping(), n3.log_tail(20)
    n3.execute("MODULE", "LOAD", module_path, *n3.module_args)
    wait_until(lambda: status(n3)["state"] in ("standby", "holding"), 10, 0.1, msg=lambda: str(status(n3)))
    assert not topo.crashes(), topo.logs()
