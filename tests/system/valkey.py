"""--valkey: one Debian node with Debian's valkey-server.service: the package's Valkey path and
drop-in.

Basic mode (no Sentinels: the three-node Sentinel checks run on redis-server in run.py's
test()); what is checked is what differs for Valkey: the unit, its drop-in, the module path,
the removal."""

import re
import shutil
import time
from pathlib import Path

from .common import VIP, VIP2, as_dict, log, wait_for


def valkey_status(n):
    return as_dict(n.out("valkey-cli VIP.STATUS", check=False).splitlines())


def install(n, deb, rep):
    """Boot, install the package (it restarts nothing), load the module: it holds the VIP."""
    n.boot()
    n.find_systemd()
    n.wait_booted()
    version = n.out("valkey-server --version").split()[2]
    log(f"{n.name}: booted, valkey-server {version}")
    pid = n.main_pid("valkey-server")
    shutil.copy(deb, n.root / "root" / Path(deb).name)
    n.sh(f"apt-get install -y /root/{Path(deb).name}")
    rep.check("valkey: the install restarted nothing", n.main_pid("valkey-server") == pid,
              f"valkey-server MainPID {pid} before and {n.main_pid('valkey-server')} after")
    n.sh("sed -i -e 's/^bind /# &/' /etc/valkey/valkey.conf\n"
         "printf '%s\\n' 'bind * -::*' 'loadmodule /usr/lib/valkey/modules/libredis_vip.so' "
         f"'vip.address {VIP}/24' 'vip.interface eth0' >> /etc/valkey/valkey.conf\n"
         "systemctl restart valkey-server")
    held = wait_for(n.holds_vip, 20, 0.05)
    st = valkey_status(n)
    rep.check("valkey: the module loads from /usr/lib/valkey/modules and holds the VIP (basic mode)",
              bool(held) and st.get("state") == "holding",
              f"valkey-server {version}; state {st.get('state')}, last_error {st.get('last_error')!r}")


def check_unit(n, rep):
    """valkey-server as valkey with CapEff 0x3000 only; the unit's hardening; the drop-in."""
    ps = n.proc_status(n.main_pid("valkey-server"))
    user = n.out(f"getent passwd {ps['Uid'].split()[0]} | cut -d: -f1")
    rep.check("valkey: valkey-server runs as valkey with CapEff 0x3000 only",
              user == "valkey" and int(ps["CapEff"], 16) == 0x3000 and int(ps["CapBnd"], 16) == 0x3000,
              f"user {user}, CapEff {ps['CapEff']}, CapBnd {ps['CapBnd']}, CapAmb {ps['CapAmb']}")
    props = ["NoNewPrivileges", "ProtectSystem", "PrivateUsers", "MemoryDenyWriteExecute", "Restart",
             "NoExecPaths", "DropInPaths"]
    sp = dict(line.split("=", 1) for line in
              n.out("systemctl show valkey-server " + " ".join(f"-p {p}" for p in props)).splitlines())
    rep.check("valkey: the unit's hardening in force, the drop-in from the package",
              sp.get("NoNewPrivileges") == "yes" and sp.get("ProtectSystem") == "strict"
              and sp.get("PrivateUsers") == "no" and sp.get("MemoryDenyWriteExecute") == "yes"
              and "/usr/lib/systemd/system/valkey-server.service.d/redis-vip.conf" in sp.get("DropInPaths", ""),
              ", ".join(f"{k}={sp.get(k)}" for k in props))


def kill_and_stop(n, rep):
    """kill -9 (systemd restarts it, the VIP is held again), then systemctl stop (released)."""
    old_pid = n.main_pid("valkey-server")
    t0 = time.monotonic()
    n.sh(f"kill -9 {old_pid}")
    new_pid = wait_for(lambda: (p := n.main_pid("valkey-server")) not in (0, old_pid) and p, 10, 0.05)
    t_restart = time.monotonic() - t0
    back = wait_for(lambda: n.holds_vip() and valkey_status(n).get("state") == "holding", 10, 0.05)
    rep.check("valkey: kill -9, systemd restarts it and the VIP is held again", bool(new_pid) and bool(back),
              f"restart seen after {t_restart:.2f} s, holding again {time.monotonic() - t0:.2f} s after the kill")
    n.sh("systemctl stop valkey-server")
    gone = not n.holds_vip()
    n.sh("systemctl start valkey-server")
    rep.check("valkey: systemctl stop releases the VIP", gone, "no VIP when systemctl stop returned")
    wait_for(lambda: n.out("valkey-cli PING", check=False) == "PONG", 20, 0.2)


def second_instance(n, rep):
    """An instance (valkey-server@second.service, /etc/valkey/valkey-second.conf) with its own
    VIP: the template's drop-in applies to it."""
    n.sh("printf '%s\\n' 'port 6380' 'bind 127.0.0.1' 'supervised systemd' 'daemonize no' "
         "'pidfile /run/valkey-second/valkey-server.pid' 'logfile /var/log/valkey/valkey-second.log' "
         "'dir /var/lib/valkey' 'dbfilename second.rdb' "
         "'loadmodule /usr/lib/valkey/modules/libredis_vip.so' "
         f"'vip.address {VIP2}/24' 'vip.interface eth0' > /etc/valkey/valkey-second.conf\n"
         "chown valkey:valkey /etc/valkey/valkey-second.conf && chmod 640 /etc/valkey/valkey-second.conf\n"
         "systemctl start valkey-server@second")
    held2 = wait_for(lambda: n.holds_vip(VIP2), 20, 0.05)
    ps = n.proc_status(n.main_pid("valkey-server@second"))
    dropins = n.out("systemctl show -p DropInPaths --value valkey-server@second")
    rep.check("valkey: an instance (valkey-server@second) gets the template's drop-in and holds its VIP",
              bool(held2) and int(ps["CapEff"], 16) == 0x3000
              and "/usr/lib/systemd/system/valkey-server@.service.d/redis-vip.conf" in dropins,
              f"VIP {VIP2} held {bool(held2)}, CapEff {ps['CapEff']}, DropInPaths={dropins}")


def remove(n, rep):
    """apt-get remove names both files and restarts nothing; after the lines are deleted and a
    restart: no capability, no drop-in, no VIP."""
    pid = n.main_pid("valkey-server")
    out = n.sh("apt-get remove -y redis-vip 2>&1").stdout
    seds = re.findall(r"^\s+(sed -i .*)$", out, re.M)
    rep.check("valkey: apt-get remove names both configuration files and restarts nothing",
              "/etc/valkey/valkey.conf:" in out and "/etc/valkey/valkey-second.conf:" in out
              and len(seds) == 2 and n.main_pid("valkey-server") == pid, f"{seds}")
    for c in seds:
        n.sh(c)
    n.sh("systemctl stop valkey-server@second; rm /etc/valkey/valkey-second.conf")
    n.sh("systemctl restart valkey-server")
    ok = wait_for(lambda: n.out("valkey-cli PING", check=False) == "PONG", 20, 0.2)
    ps = n.proc_status(n.main_pid("valkey-server"))
    time.sleep(1.5)
    rep.check("valkey: after remove + restart: runs, no capability, no drop-in, no VIP",
              bool(ok) and int(ps["CapEff"], 16) == 0 and not n.holds_vip()
              and not n.out("systemctl show -p DropInPaths --value valkey-server"),
              f"PING {'PONG' if ok else 'no answer'}, CapEff {ps['CapEff']}")


def test_valkey(lab, deb, rep):
    n = lab.nodes[0]
    install(n, deb, rep)
    check_unit(n, rep)
    kill_and_stop(n, rep)
    second_instance(n, rep)
    remove(n, rep)
