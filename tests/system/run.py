#!/usr/bin/env python3
"""The Debian package on Debian booted with systemd: three containers, the walk-through's commands.

    python3 tests/system/run.py target/debian/redis-vip_0.2.0-1_amd64.deb [--release bookworm|trixie]

(`make test-system` builds the package and runs this.) As root. What it does:

1. A Debian root with systemd, redis-server and redis-sentinel (debootstrap, cached under
   /var/cache/redis-vip/system/<release>), copied once per node.
2. A bridge in its own network namespace (vsys-<pid>-br) and one namespace per node
   (vsys-<pid>-n1..n3, eth0 = 192.0.2.11..13/24). No address outside these namespaces.
3. Each node boots with `systemd-nspawn --boot` in its namespace; commands run inside with
   `nsenter -t <its systemd> -a`.
4. The commands of docs/walkthrough.md, read from its marked ```sh blocks, in order.
5. Checks, with the figures printed: the VIP on the master only, reachable from a replica;
   redis-server as `redis` with CapEff 0x3000 and the unit's hardening in force; the package
   restarted nothing; kill -9 of the master (systemd restarts it, the VIP comes back);
   SENTINEL FAILOVER (the VIP moves); systemctl stop (the VIP is released, the Sentinels'
   new master takes it); a rolling upgrade to a newer .deb (the same package, version
   +systest1) as docs/operations.md's method A; apt-get remove with the lines it prints
   deleted, then purge: no
   address, no drop-in, no capability, and a server that starts.

--valkey (Debian 13 and later): one node with Debian's valkey-server.service instead, in basic
mode: the module from /usr/lib/valkey/modules, the unit's drop-in, kill -9, stop, an instance
(valkey-server@second) with its own VIP, removal.

Everything it made (containers, namespaces, node roots) is removed at the end, also on failure;
--keep leaves the node roots for a look. Exit status 0 when every check passed.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WALKTHROUGH = REPO / "docs" / "walkthrough.md"
CACHE = Path("/var/cache/redis-vip/system")
PACKAGES = "systemd,systemd-sysv,dbus,redis-server,redis-sentinel,iproute2"
VALKEY_PACKAGES = "systemd,systemd-sysv,dbus,valkey-server,valkey-tools,iproute2"
VIP = "192.0.2.100"
VIP2 = "192.0.2.101"  # the --valkey run's second instance
NODE_ADDR = ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "SYSTEMD_PAGER": "",
    "DEBIAN_FRONTEND": "noninteractive",
}
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


class Failed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# the walk-through's blocks


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


# ---------------------------------------------------------------------------------------------
# the Debian root


def debian_mirror():
    try:
        for line in Path("/etc/apt/sources.list.d/debian.sources").read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def cached_root(release, valkey=False):
    name, server, packages = (f"{release}-valkey", "valkey-server", VALKEY_PACKAGES) if valkey else \
        (release, "redis-server", PACKAGES)
    root = CACHE / name
    if (root / "usr/bin" / server).exists() and (root / "lib/systemd/systemd").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f"{name}.tmp-{os.getpid()}"
    log(f"debootstrap {release} into {root} (once; about a minute)")
    try:
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={packages}", release,
                        str(tmp), debian_mirror()], check=True, stdout=subprocess.DEVNULL)
        tmp.rename(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return root


# ---------------------------------------------------------------------------------------------
# nodes


class Node:
    def __init__(self, lab, index):
        self.lab = lab
        self.name = f"n{index + 1}"
        self.addr = NODE_ADDR[index]
        self.netns = f"vsys-{os.getpid()}-{self.name}"
        self.root = lab.workdir / self.name
        self.proc = None
        self.pid = None  # the container's systemd, in our PID namespace

    def boot(self):
        self.logfile = open(self.lab.workdir / f"{self.name}.console.log", "w")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", str(self.root), "--boot", "--register=no",
             "--keep-unit", f"--machine={self.lab.prefix}-{self.name}",
             "--capability=CAP_NET_ADMIN,CAP_NET_RAW",
             f"--network-namespace-path=/run/netns/{self.netns}"],
            stdin=subprocess.DEVNULL, stdout=self.logfile, stderr=subprocess.STDOUT,
            start_new_session=True)

    def find_systemd(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failed(f"{self.name}: systemd-nspawn exited {self.proc.returncode}")
            for p in Path("/proc").iterdir():
                if not p.name.isdigit():
                    continue
                try:
                    st = dict(line.split(":\t", 1) for line in
                              (p / "status").read_text().splitlines() if ":\t" in line)
                except OSError:
                    continue
                if st.get("PPid", "").strip() == str(self.proc.pid) and st.get("Name", "").strip() == "systemd":
                    self.pid = int(p.name)
                    return
            time.sleep(0.1)
        raise Failed(f"{self.name}: no systemd under systemd-nspawn {self.proc.pid}")

    def sh(self, script, check=True, timeout=120):
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-a", "/bin/sh", "-c", script],
                           text=True, capture_output=True, env=ENV, timeout=timeout)
        if check and r.returncode != 0:
            raise Failed(f"{self.name}: exit {r.returncode}: {script}\n{r.stdout}{r.stderr}")
        return r

    def out(self, script, **kw):
        return self.sh(script, **kw).stdout.strip()

    def wait_booted(self, timeout=90):
        # right after the exec, the container's own mounts and its bus are not there yet
        deadline = time.monotonic() + timeout
        while True:
            r = self.sh("systemctl is-system-running --wait", check=False, timeout=timeout)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return state
            if time.monotonic() > deadline:
                raise Failed(f"{self.name}: system state {state!r} {r.stderr.strip()}")
            time.sleep(0.5)

    def holds_vip(self):
        r = run(["ip", "-n", self.netns, "-4", "-o", "addr", "show", "dev", "eth0"])
        return f"inet {VIP}/" in r.stdout

    def main_pid(self, unit="redis-server"):
        return int(self.out(f"systemctl show -p MainPID --value {unit}") or 0)

    def cli(self, args, port=6379, password="change-me-redis", check=False):
        pw = password
        return self.out(f"REDISCLI_AUTH={shlex.quote(pw)} redis-cli -p {port} {args}", check=check)

    def proc_status(self, pid):
        st = {}
        for line in self.out(f"cat /proc/{pid}/status").splitlines():
            k, _, v = line.partition(":")
            st[k] = v.strip()
        return st

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        # SIGTERM to nspawn: it asks the container's systemd to power off (--kill-signal)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            if self.pid:
                try:
                    os.kill(self.pid, signal.SIGKILL)  # PID 1 of its namespace: all die
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait(timeout=10)


class Lab:
    def __init__(self, release, keep, valkey=False):
        self.release = release
        self.keep = keep
        self.valkey = valkey
        self.count = 1 if valkey else 3
        self.prefix = f"vsys-{os.getpid()}"
        self.bridge_ns = f"{self.prefix}-br"
        self.workdir = Path(f"/var/tmp/redis-vip-sys-{os.getpid()}")
        self.nodes = []
        self.made_ns = []

    def ip(self, *args):
        run(["ip", *args])

    def __enter__(self):
        try:
            return self._build()
        except BaseException:
            self.__exit__(None, None, None)  # `with` calls it only once __enter__ returned
            raise

    def _build(self):
        root = cached_root(self.release, self.valkey)
        self.workdir.mkdir(parents=True)
        self.ip("netns", "add", self.bridge_ns)
        self.made_ns.append(self.bridge_ns)
        self.ip("-n", self.bridge_ns, "link", "set", "lo", "up")
        self.ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        self.ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        for i in range(self.count):
            node = Node(self, i)
            self.nodes.append(node)
            self.ip("netns", "add", node.netns)
            self.made_ns.append(node.netns)
            # both ends are made inside the namespaces: nothing in the root namespace
            self.ip("-n", self.bridge_ns, "link", "add", node.name, "type", "veth",
                    "peer", "name", "eth0", "netns", node.netns)
            self.ip("-n", self.bridge_ns, "link", "set", node.name, "master", "br0", "up")
            self.ip("-n", node.netns, "link", "set", "lo", "up")
            self.ip("-n", node.netns, "addr", "add", f"{node.addr}/24", "dev", "eth0")
            self.ip("-n", node.netns, "link", "set", "eth0", "up")
            t = time.monotonic()
            subprocess.run(["cp", "-a", "--reflink=auto", str(root), str(node.root)], check=True)
            (node.root / "etc/hostname").write_text(f"{node.name}\n")
            log(f"{node.name}: root copied ({time.monotonic() - t:.1f} s), {node.addr} in {node.netns}")
        return self

    def __exit__(self, *exc):
        for node in self.nodes:
            try:
                node.stop()
            except Exception as e:  # keep cleaning
                print(f"cleanup: {node.name}: {e}", file=sys.stderr)
        for ns in reversed(self.made_ns):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        if self.keep:
            log(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return False


# ---------------------------------------------------------------------------------------------
# the test


class Report:
    def __init__(self):
        self.rows = []
        self.failed = 0

    def check(self, what, ok, measured=""):
        self.rows.append(("PASS" if ok else "FAIL", what, measured))
        if not ok:
            self.failed += 1
        log(f"{'PASS' if ok else 'FAIL'}  {what}  {measured}")

    def print(self):
        print("\n| result | check | measured |\n|---|---|---|")
        for r in self.rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} |")
        print(f"\n{len(self.rows) - self.failed} passed, {self.failed} failed")


def holders(nodes):
    return [n.name for n in nodes if n.holds_vip()]


def wait_for(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return None


def sentinel_master(node):
    out = node.cli("SENTINEL GET-MASTER-ADDR-BY-NAME mymaster", port=26379,
                   password="change-me-sentinel")
    return out.splitlines()[0] if out else ""


def by_addr(nodes, addr):
    return next((n for n in nodes if n.addr == addr), None)


def watch_vip(nodes, seconds, step=0.05):
    """Sample who holds the VIP every `step` for `seconds`: [(t, [holders])]."""
    t0 = time.monotonic()
    samples = []
    while time.monotonic() - t0 < seconds:
        samples.append((time.monotonic() - t0, holders(nodes)))
        time.sleep(step)
    return samples


def settled(nodes):
    """The Sentinels' master holds the VIP, alone, and every Sentinel agrees."""
    masters = {sentinel_master(n) for n in nodes}
    if len(masters) != 1:
        return None
    m = by_addr(nodes, masters.pop())
    return m if m and holders(nodes) == [m.name] else None


def test(lab, deb, rep):
    nodes = lab.nodes
    first, replicas = nodes[0], nodes[1:]
    blocks = walkthrough_blocks()
    settings = blocks[0][1]

    for n in nodes:
        n.boot()
    for n in nodes:
        n.find_systemd()
    for n in nodes:
        state = n.wait_booted()
        log(f"{n.name}: booted ({state}), systemd pid {n.pid}, "
            f"redis-server {n.out('redis-server --version').split()[2]}")
    pid_before = {n.name: n.main_pid() for n in nodes}

    # the walk-through, block by block (the package file in the working directory)
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
    for line in r.stdout.splitlines():
        log(f"    {line}")

    # 1. the VIP on the master only, and reachable
    h = holders(nodes)
    rep.check("VIP on the master only", h == [first.name], f"holders {h}")
    status = first.cli("VIP.STATUS")
    st = dict(zip(status.splitlines()[0::2], status.splitlines()[1::2]))
    # last_error keeps the last fault after it cleared (the Sentinels' polls from before they
    # were started in section 5, if that took more than a few seconds): none may be in force
    rep.check("VIP.STATUS on the master", st.get("state") == "holding" and st.get("error_active") == "0",
              f"state {st.get('state')}, error_active {st.get('error_active')}, "
              f"last_error {st.get('last_error')!r}, errors since the load "
              f"{st.get('errors')}, version {st.get('version')}, build {st.get('build')}")
    for n in replicas:
        s = n.cli("VIP.STATUS").splitlines()
        s = dict(zip(s[0::2], s[1::2]))
        rep.check(f"{n.name}: VIP.STATUS on a replica", s.get("state") == "standby",
                  f"state {s.get('state')}")
    role = nodes[2].cli(f"-h {VIP} ROLE").splitlines()[:1]
    rep.check("a client on n3 reaches the master through the VIP", role == ["master"], f"ROLE {role}")

    # 2. the server's identity and the unit's hardening
    for n in nodes:
        pid = n.main_pid()
        ps = n.proc_status(pid)
        uid = ps["Uid"].split()[0]
        user = n.out(f"getent passwd {uid} | cut -d: -f1")
        rep.check(f"{n.name}: redis-server runs as redis with CapEff 0x3000 only",
                  user == "redis" and int(ps["CapEff"], 16) == 0x3000 and int(ps["CapBnd"], 16) == 0x3000,
                  f"user {user}, CapEff {ps['CapEff']}, CapPrm {ps['CapPrm']}, CapBnd {ps['CapBnd']}, "
                  f"CapAmb {ps['CapAmb']}, NoNewPrivs {ps.get('NoNewPrivs')}")
    props = ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateDevices", "PrivateTmp",
             "PrivateUsers", "MemoryDenyWriteExecute", "RestrictNamespaces", "ProtectKernelTunables",
             "Restart", "RestrictAddressFamilies", "NoExecPaths", "ExecPaths", "DropInPaths"]
    show = first.out("systemctl show redis-server " + " ".join(f"-p {p}" for p in props))
    sp = dict(line.split("=", 1) for line in show.splitlines())
    want = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
            "PrivateDevices": "yes", "PrivateTmp": "yes", "PrivateUsers": "no",
            "MemoryDenyWriteExecute": "yes", "RestrictNamespaces": "yes",
            "ProtectKernelTunables": "yes", "Restart": "always", "NoExecPaths": "/"}
    bad = {k: sp.get(k) for k, v in want.items() if sp.get(k) != v}
    rep.check("the unit's hardening is in force (systemctl show)", not bad,
              ", ".join(f"{k}={sp.get(k)}" for k in want) + (f"; differs: {bad}" if bad else ""))
    rep.check("the drop-in comes from the package",
              "/usr/lib/systemd/system/redis-server.service.d/redis-vip.conf" in sp.get("DropInPaths", ""),
              f"DropInPaths={sp.get('DropInPaths')}; RestrictAddressFamilies={sp.get('RestrictAddressFamilies')}")

    # the Sentinels know everyone before any fault (field notes: inject faults only then)
    def sentinels_ready():
        for n in nodes:
            m = n.cli("SENTINEL MASTER mymaster", port=26379, password="change-me-sentinel").splitlines()
            d = dict(zip(m[0::2], m[1::2]))
            if d.get("num-slaves") != "2" or d.get("num-other-sentinels") != "2":
                return False
        return True
    t = time.monotonic()
    rep.check("every Sentinel sees 2 replicas and 2 other Sentinels", bool(wait_for(sentinels_ready, 60, 0.5)),
              f"after {time.monotonic() - t:.1f} s")

    # 3. kill -9 of the master's redis-server: systemd restarts it, the VIP comes back. The
    #    restarted server can claim again before the dead one's address has expired (1 s), so
    #    the VIP may never be gone: sample it, and report the longest run without a holder.
    master = settled(nodes)
    old_pid = master.main_pid()
    t0 = time.monotonic()
    master.sh(f"kill -9 {old_pid}")
    samples, new_pid, t_restart = [], None, None
    while time.monotonic() - t0 < 15:
        t = time.monotonic() - t0
        samples.append((t, holders(nodes)))
        if new_pid is None:
            p = master.main_pid()
            if p not in (0, old_pid):
                new_pid, t_restart = p, time.monotonic() - t0
        elif t > t_restart + 3:
            break
        time.sleep(0.02)
    back = wait_for(lambda: settled(nodes), 60, 0.05)
    t_back = time.monotonic() - t0
    gap = longest_gap(samples)
    two = [x for x in samples if len(x[1]) > 1]
    rep.check("kill -9 of the master: systemd restarts redis-server (Restart=always)", bool(new_pid),
              f"new MainPID {new_pid} seen {t_restart if t_restart is None else f'{t_restart:.2f} s'} "
              f"after the kill (old {old_pid})")
    rep.check("kill -9: the VIP is on the Sentinels' master again, never on two nodes",
              bool(back) and not two,
              f"held by {back.name if back else None} ({t_back:.2f} s after the kill at the latest); "
              f"longest run with no holder {gap * 1000:.0f} ms, samples with two holders "
              f"{len(two)} of {len(samples)} (~30 ms sampling)")
    if back:
        ps = back.proc_status(back.main_pid())
        rep.check("the restarted server has the same capabilities", int(ps["CapEff"], 16) == 0x3000,
                  f"{back.name} CapEff {ps['CapEff']}")
    wait_for(sentinels_ready, 60, 0.5)

    # 4. a Sentinel failover moves the VIP
    master = settled(nodes)
    t0 = time.monotonic()
    nodes[1].cli("SENTINEL FAILOVER mymaster", port=26379, password="change-me-sentinel", check=True)
    samples = watch_vip(nodes, 8, 0.02)
    new = wait_for(lambda: (m := settled(nodes)) and m is not master and m, 30, 0.1)
    two = [s for s in samples if len(s[1]) > 1]
    gap = longest_gap(samples)
    moved = next((t for t, h in samples if new and h == [new.name]), None)
    rep.check("SENTINEL FAILOVER: the VIP moves to the new master, never on two nodes",
              bool(new) and not two,
              f"{master.name} -> {new.name if new else None}; on the new master "
              f"{moved if moved is None else f'{moved:.2f} s'} after the command; samples with two "
              f"holders: {len(two)} of {len(samples)}; longest run with no holder {gap * 1000:.0f} ms "
              f"(20 ms sampling)")
    wait_for(sentinels_ready, 60, 0.5)

    # 5. systemctl stop of the master releases the VIP; the Sentinels' new master takes it
    master = settled(nodes)
    t0 = time.monotonic()
    master.sh("systemctl stop redis-server")
    t_stop = time.monotonic() - t0
    released = not master.holds_vip()
    new = wait_for(lambda: (m := settled(nodes)) and m is not master and m, 60, 0.05)
    rep.check("systemctl stop on the master releases the VIP at once", released,
              f"{master.name}: no VIP when systemctl stop returned ({t_stop:.2f} s)")
    rep.check("after the stop the Sentinels' new master holds the VIP", bool(new),
              f"{new.name if new else None} {time.monotonic() - t0:.1f} s after the stop "
              f"(down-after-milliseconds 2000 + failover)")
    master.sh("systemctl start redis-server")
    rep.check("the stopped node starts again and never holds the VIP beside the new master",
              wait_for(lambda: master.out("systemctl is-active redis-server", check=False) == "active", 20)
              and not any(len(s[1]) > 1 for s in watch_vip(nodes, 12, 0.05)),
              f"{master.name}: 12 s watched after its start")

    # 6. rolling upgrade to a newer .deb, docs/operations.md method A: the replicas, then a
    #    planned failover, then the old master; the VIP sampled all along
    rolling_upgrade(lab, deb, rep)

    # 7. apt-get remove: the package names the lines to delete; then purge
    outputs = {}
    for n in nodes:
        pid = n.main_pid()
        r = n.sh("apt-get remove -y redis-vip 2>&1")
        outputs[n.name] = r.stdout
        rep.check(f"{n.name}: apt-get remove restarts nothing", n.main_pid() == pid,
                  f"MainPID {pid} before and {n.main_pid()} after")
    warn = outputs[first.name]
    seds = re.findall(r"^\s+(sed -i .*)$", warn, re.M)
    rep.check("apt-get remove names the file and the lines that would stop the server",
              "/etc/redis/redis.conf:" in warn and "loadmodule /usr/lib/redis/modules/libredis_vip.so" in warn
              and len(seds) == 1, f"{len(seds)} command(s) printed: {seds[:1]}")
    print("\n".join("    | " + line for line in warn.splitlines() if line.strip()), flush=True)
    # the operator runs what the package printed, then restarts: replicas first, master last
    master = settled(nodes) or first
    order = [n for n in nodes if n is not master] + [master]
    for n in order:
        cmd = re.findall(r"^\s+(sed -i .*)$", outputs[n.name], re.M)
        for c in cmd:
            n.sh(c)
        n.sh("systemctl restart redis-server")
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


def valkey_status(n):
    st = n.out("valkey-cli VIP.STATUS", check=False).splitlines()
    return dict(zip(st[0::2], st[1::2]))


def test_valkey(lab, deb, rep):
    """One Debian node with Debian's valkey-server.service: the package's Valkey path and drop-in.

    Basic mode (no Sentinels: the three-node Sentinel checks run on redis-server in test());
    what is checked is what differs for Valkey: the unit, its drop-in, the module path, the
    removal."""
    n = lab.nodes[0]
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

    # an instance (valkey-server@second.service, /etc/valkey/valkey-second.conf) with its own
    # VIP: the template's drop-in applies to it
    n.sh("printf '%s\\n' 'port 6380' 'bind 127.0.0.1' 'supervised systemd' 'daemonize no' "
         "'pidfile /run/valkey-second/valkey-server.pid' 'logfile /var/log/valkey/valkey-second.log' "
         "'dir /var/lib/valkey' 'dbfilename second.rdb' "
         "'loadmodule /usr/lib/valkey/modules/libredis_vip.so' "
         f"'vip.address {VIP2}/24' 'vip.interface eth0' > /etc/valkey/valkey-second.conf\n"
         "chown valkey:valkey /etc/valkey/valkey-second.conf && chmod 640 /etc/valkey/valkey-second.conf\n"
         "systemctl start valkey-server@second")
    held2 = wait_for(lambda: f"inet {VIP2}/" in run(["ip", "-n", n.netns, "-4", "-o", "addr", "show",
                                                      "dev", "eth0"]).stdout, 20, 0.05)
    ps = n.proc_status(n.main_pid("valkey-server@second"))
    dropins = n.out("systemctl show -p DropInPaths --value valkey-server@second")
    rep.check("valkey: an instance (valkey-server@second) gets the template's drop-in and holds its VIP",
              bool(held2) and int(ps["CapEff"], 16) == 0x3000
              and "/usr/lib/systemd/system/valkey-server@.service.d/redis-vip.conf" in dropins,
              f"VIP {VIP2} held {bool(held2)}, CapEff {ps['CapEff']}, DropInPaths={dropins}")
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


class Sampler(threading.Thread):
    """Who holds the VIP, every 20 ms, until stopped."""

    def __init__(self, nodes):
        super().__init__(daemon=True)
        self.nodes, self.samples, self.halt = nodes, [], threading.Event()
        self.t0 = time.monotonic()

    def run(self):
        while not self.halt.is_set():
            self.samples.append((time.monotonic() - self.t0, holders(self.nodes)))
            time.sleep(0.02)

    def stop(self):
        self.halt.set()
        self.join()
        return self.samples


def rolling_upgrade(lab, deb, rep):
    nodes = lab.nodes
    new_deb, version = newer_deb(deb, lab.workdir)
    for n in nodes:
        shutil.copy(new_deb, n.root / "root" / new_deb.name)
    master = settled(nodes)
    replicas = [n for n in nodes if n is not master]
    sampler = Sampler(nodes)
    sampler.start()
    t0 = time.monotonic()

    def upgrade(n):
        pid = n.main_pid()
        n.sh(f"apt-get install -y /root/{new_deb.name}")
        same = n.main_pid() == pid
        # the running server keeps the file it mapped; dpkg put a new one at the path
        mapped_old = "libredis_vip.so (deleted)" in n.out(f"grep libredis_vip /proc/{pid}/maps | head -1")
        n.sh("systemctl restart redis-server")
        up = wait_for(lambda: "master_link_status:up" in n.cli("INFO replication"), 60, 0.2)
        maps = n.out(f"grep libredis_vip /proc/{n.main_pid()}/maps | head -1")
        return same, mapped_old, bool(up), "(deleted)" not in maps and "libredis_vip.so" in maps

    def replicas_in_sync():
        # docs/operations.md method A, step 1: every Sentinel lists both replicas without
        # s_down or disconnected, their link to the master up
        for n in nodes:
            out = n.cli("SENTINEL REPLICAS mymaster", port=26379, password="change-me-sentinel")
            lines = out.splitlines()
            entries = [dict(zip(e[0::2], e[1::2])) for e in _split_entries(lines)]
            if len(entries) != 2 or any(e.get("flags") != "slave" or e.get("master-link-status") != "ok"
                                        for e in entries):
                return False
        return True

    results = {}
    for n in replicas:
        results[n.name] = upgrade(n)
    t = time.monotonic()
    if not wait_for(replicas_in_sync, 60, 0.5):
        raise Failed("rolling upgrade: the Sentinels do not list both replicas in sync after 60 s")
    log(f"rolling upgrade: replicas upgraded, every Sentinel lists them in sync after "
        f"{time.monotonic() - t:.1f} s more")
    t_fail = time.monotonic() - t0
    # -INPROG while the Sentinels still finish an earlier failover: retry, as an operator would
    deadline = time.monotonic() + 90
    while True:
        reply = nodes[0].cli("SENTINEL FAILOVER mymaster", port=26379, password="change-me-sentinel",
                             check=True)
        log(f"rolling upgrade: SENTINEL FAILOVER -> {reply!r}")
        if reply == "OK" or time.monotonic() > deadline:
            break
        time.sleep(2)
    t_fail = time.monotonic() - t0
    new_master = wait_for(lambda: (m := settled(nodes)) and m is not master and m, 90, 0.1)
    if not new_master:
        sampler.stop()
        logs = {n.name: n.out("tail -n 15 /var/log/redis/redis-sentinel.log", check=False) for n in nodes}
        raise Failed(f"rolling upgrade: no new master 90 s after SENTINEL FAILOVER ({reply!r}); the old "
                     f"master is left running. Sentinel logs:\n" +
                     "\n".join(f"--- {k}\n{v}" for k, v in logs.items()))
    log(f"rolling upgrade: every Sentinel names {new_master.name} and it alone holds the VIP "
        f"{time.monotonic() - t0 - t_fail:.2f} s after SENTINEL FAILOVER")
    wait_for(lambda: "role:slave" in master.cli("INFO replication"), 30, 0.2)
    results[master.name] = upgrade(master)
    settled_master = wait_for(lambda: settled(nodes), 30, 0.1)
    samples = sampler.stop()
    two = [x for x in samples if len(x[1]) > 1]
    before = [x for x in samples if x[0] < t_fail]
    rep.check(f"rolling upgrade to {version}: dpkg restarts nothing, the running server keeps the old file",
              all(r[0] and r[1] for r in results.values()),
              ", ".join(f"{k}: MainPID kept {r[0]}, old file still mapped {r[1]}" for k, r in results.items()))
    rep.check("rolling upgrade: every node back in sync with the new file mapped",
              all(r[2] and r[3] for r in results.values()),
              ", ".join(f"{k}: link up {r[2]}, new file {r[3]}" for k, r in results.items()))
    versions = {n.name: n.out("dpkg-query -W -f='${Version}' redis-vip") for n in nodes}
    rep.check("rolling upgrade: the VIP on one node at most, on the new master at the end",
              not two and bool(new_master) and settled_master is new_master,
              f"{master.name} -> {new_master.name if new_master else None}; {len(samples)} samples over "
              f"{samples[-1][0]:.0f} s, two holders in {len(two)}; longest run with no holder "
              f"{longest_gap(samples) * 1000:.0f} ms (20 ms sampling; while the replicas were "
              f"upgraded: {longest_gap(before) * 1000:.0f} ms); installed {versions}")


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


def longest_gap(samples):
    best = cur = 0.0
    prev = None
    for t, h in samples:
        if not h:
            cur += (t - prev) if prev is not None else 0
            best = max(best, cur)
        else:
            cur = 0.0
        prev = t
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("deb")
    ap.add_argument("--release", default="bookworm")
    ap.add_argument("--keep", action="store_true", help="leave the node roots")
    ap.add_argument("--valkey", action="store_true",
                    help="one node with Debian's valkey-server instead (Debian 13 and later)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "ip"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: apt-get install debootstrap systemd-container util-linux iproute2")
    deb = Path(args.deb).resolve()
    if not deb.is_file():
        sys.exit(f"{deb}: no such package (make deb builds it)")
    # a SIGTERM cleans up like Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rep = Report()
    commit = run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], check=False).stdout.strip()
    log(f"system test: {deb.name} on Debian {args.release}, commit {commit}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    try:
        with Lab(args.release, args.keep, args.valkey) as lab:
            (test_valkey if args.valkey else test)(lab, deb, rep)
    except Failed as e:
        rep.check("the run completed", False, str(e).splitlines()[0])
        print(str(e), file=sys.stderr)
    except (subprocess.SubprocessError, OSError) as e:
        rep.check("the run completed", False, f"{type(e).__name__}: {e}")
        print(getattr(e, "stderr", "") or "", file=sys.stderr)
    rep.print()
    log("done")
    sys.exit(1 if rep.failed else 0)


if __name__ == "__main__":
    main()
