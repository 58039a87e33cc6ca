"""docs/walkthrough.md on the nodes: its marked blocks run in page order, then the checks of
what they built (the VIP on the master only; the server's identity and the unit's hardening;
the Sentinels ready)."""

import re
import shutil
import time
from pathlib import Path

from .common import VIP, WALKTHROUGH, Failed, as_dict, log, wait_for
from .vip import holders, sentinels_ready


def walkthrough_blocks(path=WALKTHROUGH):
    """[(hosts, script)] in page order: every ```sh block right after <!-- system-test: X -->."""
    text = path.read_text()
    pat = re.compile(r"<!-- system-test: (\w+) -->\n```sh\n(.*?)\n```", re.S)
    blocks = [(m.group(1), m.group(2)) for m in pat.finditer(text)]
    if not blocks or blocks[0][0] != "settings":
        raise Failed(f"{path}: no settings block first")
    for hosts, _ in blocks[1:]:
        if hosts not in ("all", "first", "replicas"):
            raise Failed(f"{path}: unknown host selector {hosts!r}")
    return blocks


def boot(nodes):
    for n in nodes:
        n.boot()
    for n in nodes:
        n.find_systemd()
    for n in nodes:
        state = n.wait_booted()
        log(f"{n.name}: booted ({state}), systemd pid {n.pid}, "
            f"redis-server {n.out('redis-server --version').split()[2]}")


def run_blocks(nodes, deb, blocks, rep):
    """Each block on its hosts (the package file in the working directory), the settings block
    in front; the install checked to restart nothing. Returns the last block's result."""
    first, replicas = nodes[0], nodes[1:]
    settings = blocks[0][1]
    pid_before = {n.name: n.main_pid() for n in nodes}
    for n in nodes:
        shutil.copy(deb, n.root / "root" / Path(deb).name)
    for hosts, script in blocks[1:]:
        targets = {"all": nodes, "first": [first], "replicas": replicas}[hosts]
        for n in targets:
            t = time.monotonic()
            r = n.sh(f"cd /root\n{settings}\n{script}", check=False, timeout=180)
            first_line = script.strip().splitlines()[0]
            log(f"{n.name}: walkthrough [{hosts}] {first_line[:60]!r}: exit {r.returncode}, "
                f"{time.monotonic() - t:.1f} s")
            if r.returncode != 0:
                raise Failed(f"{n.name}: walk-through block failed:\n{script}\n{r.stdout}{r.stderr}")
            if script.startswith("apt-get install"):
                rep.check(f"{n.name}: the install restarted nothing",
                          n.main_pid() == pid_before[n.name],
                          f"redis-server MainPID {pid_before[n.name]} before and {n.main_pid()} after")
    return r


def check_vip(nodes, rep):
    """1. The VIP on the master only, and reachable."""
    first, replicas = nodes[0], nodes[1:]
    h = holders(nodes)
    rep.check("VIP on the master only", h == [first.name], f"holders {h}")
    st = as_dict(first.cli("VIP.STATUS").splitlines())
    # last_error keeps the last fault after it cleared (the Sentinels' polls from before they
    # were started in section 5, if that took more than a few seconds): none may be in force
    rep.check("VIP.STATUS on the master", st.get("state") == "holding" and st.get("error_active") == "0",
              f"state {st.get('state')}, error_active {st.get('error_active')}, "
              f"last_error {st.get('last_error')!r}, errors since the load "
              f"{st.get('errors')}, version {st.get('version')}, build {st.get('build')}")
    for n in replicas:
        s = as_dict(n.cli("VIP.STATUS").splitlines())
        rep.check(f"{n.name}: VIP.STATUS on a replica", s.get("state") == "standby",
                  f"state {s.get('state')}")
    role = nodes[2].cli(f"-h {VIP} ROLE").splitlines()[:1]
    rep.check("a client on n3 reaches the master through the VIP", role == ["master"], f"ROLE {role}")


def check_identity(nodes, rep):
    """2a. redis-server runs as redis with CAP_NET_ADMIN and CAP_NET_RAW (0x3000) only."""
    for n in nodes:
        pid = n.main_pid()
        ps = n.proc_status(pid)
        uid = ps["Uid"].split()[0]
        user = n.out(f"getent passwd {uid} | cut -d: -f1")
        rep.check(f"{n.name}: redis-server runs as redis with CapEff 0x3000 only",
                  user == "redis" and int(ps["CapEff"], 16) == 0x3000 and int(ps["CapBnd"], 16) == 0x3000,
                  f"user {user}, CapEff {ps['CapEff']}, CapPrm {ps['CapPrm']}, CapBnd {ps['CapBnd']}, "
                  f"CapAmb {ps['CapAmb']}, NoNewPrivs {ps.get('NoNewPrivs')}")


HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
             "PrivateDevices": "yes", "PrivateTmp": "yes", "PrivateUsers": "no",
             "MemoryDenyWriteExecute": "yes", "RestrictNamespaces": "yes",
             "ProtectKernelTunables": "yes", "Restart": "always", "NoExecPaths": "/"}


def check_hardening(first, rep):
    """2b. The unit's hardening in force, the drop-in from the package (systemctl show)."""
    props = ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateDevices", "PrivateTmp",
             "PrivateUsers", "MemoryDenyWriteExecute", "RestrictNamespaces", "ProtectKernelTunables",
             "Restart", "RestrictAddressFamilies", "NoExecPaths", "ExecPaths", "DropInPaths"]
    show = first.out("systemctl show redis-server " + " ".join(f"-p {p}" for p in props))
    sp = dict(line.split("=", 1) for line in show.splitlines())
    bad = {k: sp.get(k) for k, v in HARDENING.items() if sp.get(k) != v}
    rep.check("the unit's hardening is in force (systemctl show)", not bad,
              ", ".join(f"{k}={sp.get(k)}" for k in HARDENING) + (f"; differs: {bad}" if bad else ""))
    rep.check("the drop-in comes from the package",
              "/usr/lib/systemd/system/redis-server.service.d/redis-vip.conf" in sp.get("DropInPaths", ""),
              f"DropInPaths={sp.get('DropInPaths')}; RestrictAddressFamilies={sp.get('RestrictAddressFamilies')}")


def check_sentinels_ready(nodes, rep):
    """The Sentinels know everyone before any fault: inject faults only then."""
    t = time.monotonic()
    rep.check("every Sentinel sees 2 replicas and 2 other Sentinels",
              bool(wait_for(lambda: sentinels_ready(nodes), 60, 0.5)),
              f"after {time.monotonic() - t:.1f} s")
