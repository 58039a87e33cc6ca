"""Operations (issue 9): what docs/operations.md tells an operator to do, done on real programs.

- VIP.STATUS reaches Prometheus: Debian's prometheus-redis-exporter runs monitoring/redis-vip.lua
  next to each Redis node, Debian's prometheus scrapes them and loads
  monitoring/redis-vip-rules.yml, and its HTTP API shows the holder, the state code and an
  alert of those rules.
- A rolling upgrade with deploy/vip-module-reload.sh (replicas, SENTINEL FAILOVER, the old
  master) never puts the VIP on two nodes; the VIP gap of the failover is printed.
- MODULE UNLOAD + LOAD of a new file installed at the same path keeps running the old code.
- Uninstall: what CONFIG REWRITE does to the loadmodule and vip.* lines, and what Redis does
  with vip.* lines but no module.
- The container entry point (deploy/docker-entrypoint.sh): refuses to start without a VIP or
  without the capabilities, writes a configuration file that CONFIG REWRITE keeps, runs
  redis-server as the redis user with NET_ADMIN + NET_RAW and umask 0077.

Every process runs inside the test's own namespaces (exporters and prometheus included, on the
namespace's documentation addresses); teardown kills them by pid. Timeouts are upper bounds.

Run: python3 -m pytest tests/integration/test_ops.py -q -s   (about a minute)
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.harness.netns import MASTER_NAME, REPO_ROOT, VIP4, wait_until
from tests.harness.processes import RedisNode
from tests.harness.sampling import HolderSampler
from tests.harness.sentinel import start_sentinel_group, wait_settled
from tests.harness.status import status, statuses
from tests.harness.topology import Topology
from tests.harness.writer import VipWriter
from tests.integration.conftest import FLAVORS

LUA = REPO_ROOT / "monitoring" / "redis-vip.lua"
RULES = REPO_ROOT / "monitoring" / "redis-vip-rules.yml"
RELOAD = REPO_ROOT / "deploy" / "vip-module-reload.sh"
ENTRYPOINT = REPO_ROOT / "deploy" / "docker-entrypoint.sh"
EXPORTER_PORT = 9121
PROMETHEUS_PORT = 9090


def need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (scripts/install-deps.sh)")


def private_copy(module_path: str, topo: Topology, name: str) -> Path:
    """A copy of the module under its own name (a rebuild during the run cannot change it)."""
    d = topo.workdir / "modules"
    d.mkdir(exist_ok=True)
    p = d / name
    shutil.copy(module_path, p)
    p.chmod(0o755)
    return p


def mapped_files(pid: int, needle: str = "libredis_vip") -> set[str]:
    """Paths of the module files mapped in a process ('(deleted)' kept)."""
    out = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        if needle in line:
            out.add(line.split(None, 5)[5])
    return out


# ----------------------------------------------------------------------------------------------
# metrics: prometheus-redis-exporter -> prometheus -> rules


def http_get_json(topo: Topology, ns: str, url: str) -> dict:
    def get() -> dict:
        with urllib.request.urlopen(url, timeout=3) as r:
            return json.loads(r.read().decode())

    return topo.in_ns(ns, get)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_metrics_reach_prometheus(make_topology, module_path, flavor):
    """n1 (master) and n2 (replica) with the module; an exporter beside each, running
    redis-vip.lua; prometheus in the observer namespace scraping both every second with the
    repository's rules. Prometheus shows holding and the state code of each node, the holder
    count of the master name, and the rules healthy; when n1 stops holding (vip.enabled no),
    RedisVipNotExactlyOneHolder becomes pending."""
    need("prometheus-redis-exporter", "prometheus")
    topo = make_topology(nodes=2)
    mod = private_copy(module_path, topo, "libredis_vip.so")
    g = topo.redis(flavor=flavor, module=str(mod), vip=VIP4, protected_configs=True)
    g.start()
    wait_until(lambda: topo.holders(VIP4) == ["n1"], 15, 0.05, msg="n1 holds")

    targets = []
    for name in ("n1", "n2"):
        addr = topo.addr4(name)
        log = open(topo.workdir / f"exporter-{name}.log", "wb")
        try:
            topo.popen(name, "prometheus-redis-exporter", "-redis.addr", "redis://127.0.0.1:6379",
                       "-web.listen-address", f"{addr}:{EXPORTER_PORT}", "-script", str(LUA),
                       stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        targets.append(f"{addr}:{EXPORTER_PORT}")
    obs = topo.addr4("obs")
    conf = topo.workdir / "prometheus.yml"
    conf.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "redis",
                            "static_configs": [{"targets": targets, "labels": {"master_name": MASTER_NAME}}]}],
    }, indent=1))
    log = open(topo.workdir / "prometheus.log", "wb")
    try:
        prom = topo.popen("obs", "prometheus", f"--config.file={conf}",
                          f"--storage.tsdb.path={topo.workdir / 'prometheus-data'}",
                          f"--web.listen-address={obs}:{PROMETHEUS_PORT}",
                          stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()
    api = f"http://{obs}:{PROMETHEUS_PORT}/api/v1"

    def query(expr: str) -> dict[str, float]:
        """instance (or master_name) -> value of an instant query."""
        assert prom.poll() is None, (topo.workdir / "prometheus.log").read_text()[-2000:]
        r = http_get_json(topo, "obs", f"{api}/query?query={urllib.parse.quote(expr)}")
        out = {}
        for s in r["data"]["result"]:
            m = s["metric"]
            out[m.get("instance") or m.get("master_name", "")] = float(s["value"][1])
        return out

    n1, n2 = targets

    def logs() -> str:
        return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-1500:]}"
                         for f in sorted(topo.workdir.glob("*.log")))

    t0 = time.monotonic()
    raw = wait_until(lambda: (lambda v: v if len(v) == 2 else None)(query('redis_script_values{key="vip_holding"}')),
                     60, 0.5, msg=lambda: f"vip_holding of both nodes in Prometheus\n{logs()}")
    arrived = time.monotonic() - t0
    assert raw == {n1: 1.0, n2: 0.0}, raw
    # the rules: recorded under their own names, grouped by master name
    wait_until(lambda: query("redis_vip_state_code") == {n1: 2.0, n2: 1.0}, 30, 0.5,
               msg=lambda: f"state codes recorded: {query('redis_vip_state_code')}")
    assert query("redis_vip_mode_code") == {n1: 0.0, n2: 0.0}  # basic mode: no Sentinels here
    assert query("redis_vip_version_num")[n1] >= 200
    assert query("redis_vip_loaded") == {n1: 1.0, n2: 1.0}
    assert query("master_name:redis_vip_holders:sum") == {MASTER_NAME: 1.0}
    # no fault in force, and none ever: last_error_ms 0
    assert query("redis_vip_error_active") == {n1: 0.0, n2: 0.0}
    assert query("redis_vip_last_error_timestamp_seconds") == {n1: 0.0, n2: 0.0}
    rules = http_get_json(topo, "obs", f"{api}/rules")["data"]["groups"]
    bad = [(r["name"], r.get("lastError")) for grp in rules for r in grp["rules"] if r.get("health") != "ok"]
    assert rules and not bad, bad

    # n1 stops holding: the holder count drops to 0 and the alert starts its 30 s wait
    assert g["n1"].config_set("vip.enabled", "no") is None
    wait_until(lambda: query("master_name:redis_vip_holders:sum") == {MASTER_NAME: 0.0}, 30, 0.5,
               msg=lambda: f"holder count 0: {query('master_name:redis_vip_holders:sum')}")
    assert query("redis_vip_state_code")[n1] == 0.0  # idle

    def pending() -> list:
        alerts = http_get_json(topo, "obs", f"{api}/alerts")["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "RedisVipNotExactlyOneHolder"
                and a["labels"].get("master_name") == MASTER_NAME]

    found = wait_until(pending, 30, 0.5, msg="RedisVipNotExactlyOneHolder pending or firing")
    assert found[0]["state"] in ("pending", "firing"), found
    print(f"\n[{flavor}] vip_holding in Prometheus {arrived:.1f} s after the exporters and prometheus started; "
          f"RedisVipNotExactlyOneHolder {found[0]['state']} after vip.enabled no")


# ----------------------------------------------------------------------------------------------
# rolling upgrade


def reload_module(topo: Topology, node: str, new: Path) -> str:
    """deploy/vip-module-reload.sh NEW inside the node's namespace (redis-cli to 127.0.0.1)."""
    cp = topo.run(node, "bash", str(RELOAD), str(new), timeout=30, check=False)
    assert cp.returncode == 0, f"{node}: {cp.stderr}{cp.stdout}"
    return cp.stderr


def test_rolling_upgrade_one_holder(make_topology, module_path):
    """Upgrade the module on every node of a Sentinel-confirmed group without restarting Redis
    and without ever putting the VIP on two nodes: reload the replicas (the holder is untouched),
    SENTINEL FAILOVER to an upgraded replica (the only VIP gap: printed), reload the old master.
    Every node then runs the new file, and the loadmodule line of its configuration file names
    it (CONFIG REWRITE). Then, for comparison, the master is reloaded in place (no failover):
    that gap is printed too."""
    need("redis-cli")
    topo = make_topology()
    old = private_copy(module_path, topo, "libredis_vip-old.so")
    new = private_copy(module_path, topo, "libredis_vip-new.so")
    g = start_sentinel_group(topo, str(old))
    with HolderSampler(topo, interval=0.01) as smp, VipWriter(topo) as w:
        time.sleep(0.5)
        t0 = time.monotonic()
        # 1. replicas: the holder (n1) is not touched
        for name in ("n2", "n3"):
            reload_module(topo, name, new)
            wait_until(lambda: status(g[name])["state"] == "standby", 15, 0.05,
                       msg=lambda: f"{name} standby after the reload\n{statuses(g)}")
        t1 = time.monotonic()
        assert all(s.holders == ("n1",) for s in smp.snapshot(since=t0, until=t1)), smp.describe(t0=t0)
        # 2. planned failover to an upgraded replica
        g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
        wait_until(lambda: g["n1"].role() == "replica", 60, 0.1, msg="n1 converted to replica")
        master = wait_settled(g)
        smp.wait_for(lambda s: s.holders == (master,), 30, f"{master} holding alone", since=t1)
        t2 = time.monotonic()
        # 3. the old master, now a replica
        reload_module(topo, "n1", new)
        wait_until(lambda: status(g["n1"])["state"] == "standby", 15, 0.05, msg=lambda: statuses(g))
        time.sleep(1.0)
        t3 = time.monotonic()
        # (the alternative without a failover, measured for docs/operations.md: reload the
        # master in place; it releases at MODULE UNLOAD and claims again once confirmed)
        newer = private_copy(module_path, topo, "libredis_vip-newer.so")
        reload_module(topo, master, newer)
        smp.wait_for(lambda s: s.holders == (master,), 30, f"{master} holding again", since=t3)
        time.sleep(0.5)
        t4 = time.monotonic()
    multi = smp.multi_holder_samples(since=t0)
    assert not multi, f"two holders: {multi[:3]}\n{smp.describe(t0=t0)}"
    assert all(s.holders == (master,) for s in smp.snapshot(since=t2, until=t3)), smp.describe(t0=t0)

    def longest_gap(since: float, until: float) -> float:
        """ms: the longest run of samples with no holder."""
        return max((b - a for a, b, h in smp.segments(since, until) if not h), default=0.0) * 1000

    def longest_write_pause(since: float, until: float) -> float:
        """ms: the longest time between two writes acknowledged through the VIP."""
        acks = sorted((a for a in w.acks if since <= a.t_send - wall_offset <= until), key=lambda a: a.t_ack)
        return max((b.t_ack - a.t_ack for a, b in zip(acks, acks[1:])), default=0.0) * 1000

    wall_offset = time.time() - time.monotonic()
    gap_ms, in_place_ms = longest_gap(t0, t3), longest_gap(t3, t4)
    write_gap_ms, in_place_write_ms = longest_write_pause(t0, t3), longest_write_pause(t3, t4)
    for name, n in g.nodes.items():
        latest = newer if name == master else new
        files = mapped_files(n.pid)
        assert str(latest) in files, f"{name} maps {files}"
        lines = [ln for ln in n.conf.read_text().splitlines() if ln.startswith("loadmodule")]
        assert lines and str(latest) in lines[0] and str(old) not in lines[0], lines
        s = status(n)
        assert s["mode"] == "sentinel" and s["last_error"] == "", s
    fences = {name: status(n)["fences"] for name, n in g.nodes.items()}
    print(f"\nrolling upgrade: {len(smp.snapshot(since=t0))} samples every {smp.interval * 1000:.0f} ms "
          f"(largest sampling gap {smp.max_gap() * 1000:.0f} ms), never two holders; VIP gap of the "
          f"failover n1 -> {master}: {gap_ms:.0f} ms, longest pause between acknowledged writes "
          f"through the VIP: {write_gap_ms:.0f} ms; in-place reload of the master instead: VIP gap "
          f"{in_place_ms:.0f} ms, writes {in_place_write_ms:.0f} ms; fences {fences}; "
          f"holders: {smp.describe(t0=t0)}")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_reload_same_path_keeps_old_code(topo, module_path, flavor):
    """A new file installed at the loaded path (install(1): a new inode) is NOT what MODULE
    UNLOAD + MODULE LOAD of that path runs: the old file stays mapped after the unload and the
    dynamic loader hands it back. A new path loads the new file; the reload script refuses the
    same path."""
    need("redis-cli")
    mod = private_copy(module_path, topo, "libredis_vip.so")
    n = RedisNode(topo, "n1", flavor=flavor, module=str(mod), module_args=["address", VIP4, "interface", "eth0"])
    n.start()
    n.wait_ready()
    wait_until(lambda: topo.holders(VIP4) == ["n1"], 15, 0.05, msg="n1 holds")
    subprocess.run(["install", "-m", "0755", module_path, str(mod)], check=True)  # new inode
    n.execute("MODULE", "UNLOAD", "vip")
    n.execute("MODULE", "LOAD", str(mod), "address", VIP4, "interface", "eth0")
    assert mapped_files(n.pid) == {f"{mod} (deleted)"}, mapped_files(n.pid)  # the old inode
    # the module notices and says so in the log
    assert f"this process runs an older build of the module than {mod} now holds" in n.log_text(), \
        n.log_tail(10)
    cp = topo.run("n1", "bash", str(RELOAD), str(mod), check=False)
    assert cp.returncode == 1 and "already loaded" in cp.stderr, cp.stderr
    other = private_copy(module_path, topo, "libredis_vip-2.so")
    reload_module(topo, "n1", other)
    assert str(other) in mapped_files(n.pid)
    wait_until(lambda: topo.holders(VIP4) == ["n1"], 15, 0.05, msg="n1 holds after the reload")


# ----------------------------------------------------------------------------------------------
# uninstall


@pytest.mark.parametrize("flavor", FLAVORS)
def test_uninstall_config_lines(topo, module_path, flavor):
    """MODULE UNLOAD releases the VIP; CONFIG REWRITE then drops the loadmodule line and turns
    each vip.* line into a '# ??? vip...' comment, and the server starts from that file. A
    vip.* line left without the module, or a loadmodule line naming a missing file, makes
    the server refuse to start (exit 1) and say why in its log."""
    mod = private_copy(module_path, topo, "libredis_vip.so")
    n = RedisNode(topo, "n1", flavor=flavor, module=str(mod), module_args=["address", VIP4, "interface", "eth0"])
    n.start()
    n.wait_ready()
    wait_until(lambda: topo.holders(VIP4) == ["n1"], 15, 0.05, msg="n1 holds")
    assert n.config_set("vip.announce-count", "3") is None
    n.execute("CONFIG", "REWRITE")
    with_module = n.conf.read_text()
    assert "vip.announce-count 3" in with_module.splitlines(), with_module

    n.execute("MODULE", "UNLOAD", "vip")
    assert topo.holders(VIP4) == []
    n.execute("CONFIG", "REWRITE")
    text = n.conf.read_text()
    lines = text.splitlines()
    assert not [ln for ln in lines if ln.startswith(("loadmodule", "vip."))], text
    assert "# ??? vip.announce-count 3" in lines, text
    n.restart()  # starts from the rewritten file
    assert "vip" not in n.module_list()

    def start_fails(conf_text: str, expect: str) -> None:
        n.proc.terminate()
        n.proc.wait(10)
        n.conf.write_text(conf_text)
        n.start()
        rc = n.proc.wait(15)
        log = n.log_tail(5)
        assert rc != 0 and expect in log, f"exit {rc}:\n{log}"

    no_loadmodule = "\n".join(ln for ln in with_module.splitlines() if not ln.startswith("loadmodule")) + "\n"
    start_fails(no_loadmodule, "Module Configuration detected without loadmodule directive")
    mod.unlink()
    start_fails(with_module, "failed to load")


# ----------------------------------------------------------------------------------------------
# the container entry point


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def test_container_entrypoint(topo, module_path):
    """deploy/docker-entrypoint.sh as the image runs it (root, WORKDIR = the data directory),
    inside a node namespace: it refuses to start without VIP_ADDRESS / VIP_INTERFACE and
    without NET_ADMIN; given them, it writes the configuration file (0600, the redis user's),
    runs redis-server as redis with NET_ADMIN + NET_RAW ambient and umask 0077, which holds the
    VIP; a REPLICAOF rewritten into that file (as Sentinel does) survives a restart without
    any VIP_* variable."""
    need("setpriv", "redis-server")
    try:
        redis_user = pwd.getpwnam("redis")
    except KeyError:
        pytest.skip("no redis user (Debian's redis-server package creates it)")
    base = Path(tempfile.mkdtemp(prefix="vipops-entry-"))  # the redis user must reach it
    try:
        base.chmod(0o755)
        data = base / "data"
        data.mkdir()
        so = base / "libredis_vip.so"
        shutil.copy(module_path, so)
        so.chmod(0o755)
        conf = data / "redis.conf"
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "REDIS_VIP_CONF": str(conf), "REDIS_VIP_MODULE": str(so)}
        cmd = ["sh", str(ENTRYPOINT), "redis-server", str(conf)]

        def run(extra_env: dict, wrapper=()) -> subprocess.CompletedProcess:
            return subprocess.run(["ip", "netns", "exec", topo.ns("n1"), "env", "-i",
                                   *[f"{k}={v}" for k, v in {**env, **extra_env}.items()], *wrapper, *cmd],
                                  cwd=data, capture_output=True, text=True, timeout=20)

        cp = run({})
        assert cp.returncode == 64 and "VIP_ADDRESS" in cp.stderr and "--network host" in cp.stderr, cp
        assert not conf.exists()
        vip = {"VIP_ADDRESS": VIP4, "VIP_INTERFACE": "eth0"}
        cp = run(vip, wrapper=["setpriv", "--bounding-set=-net_admin"])
        assert cp.returncode == 65 and "--cap-add NET_ADMIN" in cp.stderr, cp
        assert not conf.exists()

        def start(extra_env: dict) -> subprocess.Popen:
            out = open(base / "server.log", "ab")
            try:
                return topo.popen("n1", "env", "-i", *[f"{k}={v}" for k, v in {**env, **extra_env}.items()], *cmd,
                                  cwd=data, stdout=out, stderr=subprocess.STDOUT)
            finally:
                out.close()

        c = topo.client("n1", "127.0.0.1", 6379)
        p = start(vip)
        wait_until(c.ping, 15, 0.05, msg=lambda: (base / "server.log").read_text()[-1500:])
        wait_until(lambda: topo.holders(VIP4) == ["n1"], 15, 0.05, msg="the entry point's server holds")
        st = proc_status(p.pid)
        assert st["Name"] == "redis-server", st["Name"]
        assert st["Uid"].split()[0] == str(redis_user.pw_uid), st["Uid"]
        assert int(st["CapAmb"], 16) == 0x3000, st["CapAmb"]  # cap_net_admin, cap_net_raw
        assert st["Umask"] == "0077", st["Umask"]
        fst = conf.stat()
        assert stat.S_IMODE(fst.st_mode) == 0o600 and fst.st_uid == redis_user.pw_uid, oct(fst.st_mode)
        assert f"vip.address {VIP4}" in conf.read_text().splitlines()
        # as Sentinel does after a failover: the node becomes a replica and the file says so
        c.execute_command("REPLICAOF", topo.addr4("n2"), "6379")
        c.execute_command("CONFIG", "REWRITE")
        wait_until(lambda: topo.holders(VIP4) == [], 15, 0.05, msg="released as a replica")
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10)
        p = start({})  # no VIP_* this time: the file is the configuration
        wait_until(c.ping, 15, 0.05, msg=lambda: (base / "server.log").read_text()[-1500:])
        assert c.execute_command("ROLE")[0] == "slave"
        vip_state = lambda: dict(zip(*[iter(c.execute_command("VIP.STATUS"))] * 2))["state"]  # noqa: E731
        wait_until(lambda: vip_state() == "standby", 10, 0.05, msg=lambda: vip_state())
        assert topo.holders(VIP4) == []
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# the troubleshooting tables and the code


# Where the messages of `reason`, `last_error` and VIP.SENTINELS' `last_error` are made:
# (file, function). Every string literal in them is a message or a piece of one.
MESSAGE_SOURCES = [
    ("src/core/mod.rs", "role_seen"), ("src/core/faults.rs", "observe_failed"), ("src/core/faults.rs", "listening"),
    ("src/core/sentinels.rs", "sentinel_config_fault"), ("src/core/decide.rs", "should_hold"),
    ("src/core/sentinels.rs", "sentinel_decision"), ("src/core/kernel.rs", "check_capabilities"),
    ("src/core/kernel.rs", "check_link"), ("src/core/kernel.rs", "link_up_again"),
    ("src/core/lifecycle.rs", "settings_reason"), ("src/core/lifecycle.rs", "release_what_no_longer_applies"),
    ("src/core/faults.rs", "describe"),
    ("src/sentinel/view.rs", "quorum_warning"), ("src/sentinel/view/rule.rs", "verdict"),
    ("src/sentinel/view/rule.rs", "failover_promotes_other"),
    ("src/sentinel/view.rs", "fault"), ("src/sentinel/view/count.rs", "cruft"), ("src/sentinel/why.rs", "sentence"),
    ("src/reach.rs", "problem"), ("src/core/clients.rs", "check"),
    ("src/sentinel/poller.rs", "start"), ("src/sentinel/poller.rs", "run"), ("src/sentinel/poller.rs", "connect"),
    ("src/sentinel/poller.rs", "open_stream"), ("src/sentinel/poller.rs", "handshake"),
    ("src/sentinel/error.rs", "timeout"), ("src/sentinel/error.rs", "io"), ("src/sentinel/error.rs", "reading"),
    ("src/sentinel/error.rs", "reply"),
    # TLS and ACL (sentinel/tls.rs, sentinel/acl.rs)
    ("src/sentinel/tls.rs", "handshake"), ("src/sentinel/tls.rs", "build"), ("src/sentinel/tls.rs", "read_file"),
    ("src/sentinel/tls.rs", "private_key"), ("src/sentinel/tls.rs", "handshake_failure"),
    ("src/sentinel/tls.rs", "alert"), ("src/sentinel/tls.rs", "certificate_refused"),
    ("src/sentinel/tls.rs", "closed_after_handshake"), ("src/sentinel/tls.rs", "plaintext_to_tls_port"),
    ("src/sentinel/acl.rs", "denied"),
    ("src/sentinel/tls.rs", "ca_configs"), ("src/sentinel/tls.rs", "cert_configs"),
    ("src/sentinel/tls.rs", "plaintext_fix"), ("src/sentinel/tls.rs", "no_handshake"),
    # the witness askers (witness/asker.rs) and VIP.WITNESS's argument errors
    ("src/witness/asker.rs", "start"), ("src/witness/asker.rs", "run"), ("src/witness/asker.rs", "connect"),
    ("src/witness/asker.rs", "authenticate"), ("src/witness/asker.rs", "transport"),
    ("src/witness/asker.rs", "words"), ("src/witness/asker.rs", "refusal"), ("src/witness/asker.rs", "parse_reply"),
    ("src/redis_glue/witness.rs", "question"),
    # the failsafe (core/witnesses.rs)
    ("src/core/witnesses.rs", "with_witnesses"), ("src/core/witnesses.rs", "note_failsafe"),
    ("src/core/witnesses.rs", "undone_promotion"),
]
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TRIM = " ()[]:;,.'…"


def _function_body(text: str, name: str) -> str:
    m = re.search(rf"\bfn {name}\b[^{{;]*\{{", text)
    assert m, f"fn {name} not found"
    depth, i = 1, m.end()
    while depth and i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.end():i]


def _chunks(message: str, placeholder: str) -> list[str]:
    """The fixed pieces of a message (between placeholders), long enough to mean something."""
    return [c.strip(_TRIM) for c in re.split(placeholder, message) if len(c.strip(_TRIM)) >= 12 and " " in c.strip()]


def test_troubleshooting_names_every_message():
    """docs/operations.md#troubleshooting keeps up with the code, both ways: every fixed piece
    of every message the code can put in `reason` / `last_error` (and a Sentinel's
    `last_error`) is in the doc, and every message the doc's `reason` / `last_error` tables
    quote is still made by the code (placeholders are {..} in the code, <..> in the doc)."""
    doc = (REPO_ROOT / "docs" / "operations.md").read_text()
    flat = re.sub(r"\s+", " ", doc)  # a message may wrap across lines in the doc
    src = {f: (REPO_ROOT / f).read_text() for f, _ in MESSAGE_SOURCES}
    missing = []
    for f, fn in MESSAGE_SOURCES:
        for lit in _LITERAL.findall(_function_body(src[f], fn)):
            missing += [f"{f} {fn}: {c!r}" for c in _chunks(lit, r"\{[^}]*\}") if c not in flat]
    answer = (REPO_ROOT / "src" / "sentinel" / "answer.rs").read_text()
    for lit in re.findall(r'malformed\(\s*(?:format!\(\s*)?"((?:[^"\\]|\\.)*)"', answer):
        missing += [f"answer.rs malformed: {c!r}" for c in _chunks(lit, r"\{[^}]*\}") if c not in flat]
    assert not missing, "messages missing from docs/operations.md#troubleshooting:\n" + "\n".join(missing)

    code = "".join(p.read_text() for p in (REPO_ROOT / "src").rglob("*.rs"))
    section = doc[doc.index("## Troubleshooting"):doc.index("### `VIP.SENTINELS` `last_error`")]
    stale = []
    for row in section.splitlines():
        m = re.match(r"\| `([^`]+)`", row)
        if not m:
            continue
        quoted = re.sub(r"^(fenced|waiting): |\(warning: ", "", m.group(1))
        stale += [f"{m.group(1)!r}: {c!r}" for c in _chunks(quoted, r"<[^>]*>|\.\.\.") if c not in code]
    assert not stale, "docs/operations.md quotes messages the code no longer makes:\n" + "\n".join(stale)
