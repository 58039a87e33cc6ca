"""7. apt-get remove: the package names the lines to delete and restarts nothing; the operator
deletes them and restarts; then purge. No address, no drop-in, no capability, and a server that
starts."""

import re
import time

from .common import wait_for
from .vip import holders, settled

SED = re.compile(r"^\s+(sed -i .*)$", re.M)


def remove(nodes, rep):
    """apt-get remove on every node: {node name: what it printed}."""
    outputs = {}
    for n in nodes:
        pid = n.main_pid()
        r = n.sh("apt-get remove -y redis-vip 2>&1")
        outputs[n.name] = r.stdout
        rep.check(f"{n.name}: apt-get remove restarts nothing", n.main_pid() == pid,
                  f"MainPID {pid} before and {n.main_pid()} after")
    warn = outputs[nodes[0].name]
    seds = SED.findall(warn)
    rep.check("apt-get remove names the file and the lines that would stop the server",
              "/etc/redis/redis.conf:" in warn and "loadmodule /usr/lib/redis/modules/libredis_vip.so" in warn
              and len(seds) == 1, f"{len(seds)} command(s) printed: {seds[:1]}")
    print("\n".join("    | " + line for line in warn.splitlines() if line.strip()), flush=True)
    return outputs


def apply_and_restart(nodes, outputs):
    """The operator runs what the package printed, then restarts: replicas first, master last."""
    master = settled(nodes) or nodes[0]
    order = [n for n in nodes if n is not master] + [master]
    for n in order:
        for c in SED.findall(outputs[n.name]):
            n.sh(c)
        n.sh("systemctl restart redis-server")


def check_removed(nodes, rep):
    for n in nodes:
        ok = wait_for(lambda: n.cli("PING") == "PONG", 20, 0.2)
        ps = n.proc_status(n.main_pid())
        dropins = n.out("ls -d /usr/lib/systemd/system/*-server*.service.d 2>/dev/null; "
                        "systemctl show -p DropInPaths --value redis-server", check=False)
        rep.check(f"{n.name}: after remove + restart the server runs without the module and its capabilities",
                  bool(ok) and int(ps["CapEff"], 16) == 0 and not dropins.strip()
                  and "vip" not in n.cli("MODULE LIST"),
                  f"PING {'PONG' if ok else 'no answer'}, CapEff {ps['CapEff']}, drop-ins {dropins!r}")
    time.sleep(1.5)  # the VIP's 1 s lifetime, had anything kept it
    h = holders(nodes)
    rep.check("no VIP on any node after removal", not h, f"holders {h}")


def purge(nodes, rep):
    for n in nodes:
        r = n.sh("apt-get purge -y redis-vip 2>&1; dpkg-query -W -f='${db:Status-Abbrev}' redis-vip 2>&1; "
                 "ls /usr/lib/redis/modules /usr/lib/valkey 2>&1", check=False)
    left = r.stdout.strip().splitlines()[-2:]
    rep.check("purge leaves no package and no module file", "libredis_vip" not in r.stdout.split("Purging")[-1]
              .split("\n", 1)[-1], f"n3: {left}")
    for n in nodes:
        n.sh("systemctl restart redis-server")
        rep.check(f"{n.name}: redis-server starts after purge",
                  bool(wait_for(lambda: n.cli("PING") == "PONG", 20, 0.2)),
                  n.out("systemctl is-active redis-server", check=False))


def remove_and_purge(nodes, rep):
    outputs = remove(nodes, rep)
    apply_and_restart(nodes, outputs)
    check_removed(nodes, rep)
    purge(nodes, rep)
