"""6. A rolling upgrade to a newer .deb (the same package, version +systest1), as
docs/operations.md's method A: the replicas, then a planned failover, then the old master; the
VIP sampled all along."""

import re
import shutil
import time

from .common import SENTINEL_PASSWORD, Failed, as_dict, log, run, wait_for
from .vip import longest_gap, samples_since, settled, vip_sampler


def newer_deb(deb, workdir):
    """The same package with a higher version (…+systest1): what an upgrade installs."""
    tree = workdir / "upgrade"
    run(["dpkg-deb", "-R", str(deb), str(tree)])
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    version = re.search(r"^Version: (.*)$", text, re.M).group(1)
    control.write_text(text.replace(f"Version: {version}", f"Version: {version}+systest1"))
    out = workdir / f"redis-vip_{version}+systest1_amd64.deb"
    run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)])
    return out, f"{version}+systest1"


def _split_entries(lines):
    """SENTINEL REPLICAS as redis-cli prints it (one field per line): split at each "name"."""
    entries, cur = [], []
    for line in lines:
        if line == "name" and cur:
            entries.append(cur)
            cur = []
        cur.append(line)
    if cur:
        entries.append(cur)
    return entries


def replicas_in_sync(nodes):
    """docs/operations.md method A, step 1: every Sentinel lists both replicas without s_down or
    disconnected, their link to the master up."""
    for n in nodes:
        out = n.cli("SENTINEL REPLICAS mymaster", port=26379, password=SENTINEL_PASSWORD)
        entries = [as_dict(e) for e in _split_entries(out.splitlines())]
        if len(entries) != 2 or any(e.get("flags") != "slave" or e.get("master-link-status") != "ok"
                                    for e in entries):
            return False
    return True


def upgrade(n, new_deb):
    """Install the newer package on n and restart its server: (MainPID kept by dpkg, the old file
    still mapped, replication link up again, the new file mapped)."""
    pid = n.main_pid()
    n.sh(f"apt-get install -y /root/{new_deb.name}")
    same = n.main_pid() == pid
    # the running server keeps the file it mapped; dpkg put a new one at the path
    mapped_old = "libredis_vip.so (deleted)" in n.out(f"grep libredis_vip /proc/{pid}/maps | head -1")
    n.sh("systemctl restart redis-server")
    up = wait_for(lambda: "master_link_status:up" in n.cli("INFO replication"), 60, 0.2)
    maps = n.out(f"grep libredis_vip /proc/{n.main_pid()}/maps | head -1")
    return same, mapped_old, bool(up), "(deleted)" not in maps and "libredis_vip.so" in maps


def request_failover(nodes):
    """SENTINEL FAILOVER; -INPROG while the Sentinels still finish an earlier failover: retry,
    as an operator would (90 s). Returns the last reply."""
    deadline = time.monotonic() + 90
    while True:
        reply = nodes[0].cli("SENTINEL FAILOVER mymaster", port=26379, password=SENTINEL_PASSWORD,
                             check=True)
        log(f"rolling upgrade: SENTINEL FAILOVER -> {reply!r}")
        if reply == "OK" or time.monotonic() > deadline:
            return reply
        time.sleep(2)


def _no_new_master(nodes, reply):
    logs = {n.name: n.out("tail -n 15 /var/log/redis/redis-sentinel.log", check=False) for n in nodes}
    return Failed(f"rolling upgrade: no new master 90 s after SENTINEL FAILOVER ({reply!r}); the old "
                  f"master is left running. Sentinel logs:\n" +
                  "\n".join(f"--- {k}\n{v}" for k, v in logs.items()))


def _upgrade_all(nodes, master, new_deb, t0):
    """The replicas, the failover, the old master: ({node: upgrade result}, the new master,
    the master settled at the end, seconds from t0 to the failover)."""
    results = {n.name: upgrade(n, new_deb) for n in nodes if n is not master}
    t = time.monotonic()
    if not wait_for(lambda: replicas_in_sync(nodes), 60, 0.5):
        raise Failed("rolling upgrade: the Sentinels do not list both replicas in sync after 60 s")
    log(f"rolling upgrade: replicas upgraded, every Sentinel lists them in sync after "
        f"{time.monotonic() - t:.1f} s more")
    reply = request_failover(nodes)
    t_fail = time.monotonic() - t0
    new_master = wait_for(lambda: (m := settled(nodes)) and m is not master and m, 90, 0.1)
    if not new_master:
        raise _no_new_master(nodes, reply)
    log(f"rolling upgrade: every Sentinel names {new_master.name} and it alone holds the VIP "
        f"{time.monotonic() - t0 - t_fail:.2f} s after SENTINEL FAILOVER")
    wait_for(lambda: "role:slave" in master.cli("INFO replication"), 30, 0.2)
    results[master.name] = upgrade(master, new_deb)
    return results, new_master, wait_for(lambda: settled(nodes), 30, 0.1), t_fail


def rolling_upgrade(lab, deb, rep):
    nodes = lab.nodes
    new_deb, version = newer_deb(deb, lab.workdir)
    for n in nodes:
        shutil.copy(new_deb, n.root / "root" / new_deb.name)
    master = settled(nodes)
    t_s = time.monotonic()
    sampler = vip_sampler(lab, 0.02).start()
    t0 = time.monotonic()
    try:
        results, new_master, settled_master, t_fail = _upgrade_all(nodes, master, new_deb, t0)
    finally:
        sampler.stop()
    samples = samples_since(sampler, t_s)
    versions = {n.name: n.out("dpkg-query -W -f='${Version}' redis-vip") for n in nodes}
    report(rep, version, results, master, new_master, settled_master, samples, t_fail, versions)


def report(rep, version, results, master, new_master, settled_master, samples, t_fail, versions):
    two = [x for x in samples if len(x[1]) > 1]
    before = [x for x in samples if x[0] < t_fail]
    rep.check(f"rolling upgrade to {version}: dpkg restarts nothing, the running server keeps the old file",
              all(r[0] and r[1] for r in results.values()),
              ", ".join(f"{k}: MainPID kept {r[0]}, old file still mapped {r[1]}" for k, r in results.items()))
    rep.check("rolling upgrade: every node back in sync with the new file mapped",
              all(r[2] and r[3] for r in results.values()),
              ", ".join(f"{k}: link up {r[2]}, new file {r[3]}" for k, r in results.items()))
    rep.check("rolling upgrade: the VIP on one node at most, on the new master at the end",
              not two and bool(new_master) and settled_master is new_master,
              f"{master.name} -> {new_master.name if new_master else None}; {len(samples)} samples over "
              f"{samples[-1][0]:.0f} s, two holders in {len(two)}; longest run with no holder "
              f"{longest_gap(samples) * 1000:.0f} ms (20 ms sampling; while the replicas were "
              f"upgraded: {longest_gap(before) * 1000:.0f} ms); installed {versions}")
