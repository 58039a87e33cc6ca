"""The containers: a Debian root with systemd (debootstrap, cached), one copy per node, each
node booted with ``systemd-nspawn --boot`` in its own network namespace on a bridge that lives
in a namespace of its own. Nothing in the root namespace."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.netns import run_in_netns

from .common import CACHE, ENV, NODE_ADDR, PACKAGES, VALKEY_PACKAGES, VIP, Failed, log, run

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


def _systemd_child(parent):
    """The pid of the process called systemd whose parent is `parent`, or None."""
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            st = dict(line.split(":\t", 1) for line in
                      (p / "status").read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if st.get("PPid", "").strip() == str(parent) and st.get("Name", "").strip() == "systemd":
            return int(p.name)
    return None


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
        # not wait_until: an exited systemd-nspawn ends the wait at once, with its own message
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failed(f"{self.name}: systemd-nspawn exited {self.proc.returncode}")
            self.pid = _systemd_child(self.proc.pid)
            if self.pid:
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
        # right after the exec, the container's own mounts and its bus are not there yet.
        # Not wait_until: each try itself waits (is-system-running --wait), and the last
        # state and its message make the failure
        deadline = time.monotonic() + timeout
        while True:
            r = self.sh("systemctl is-system-running --wait", check=False, timeout=timeout)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return state
            if time.monotonic() > deadline:
                raise Failed(f"{self.name}: system state {state!r} {r.stderr.strip()}")
            time.sleep(0.5)

    def holds_vip(self, vip=VIP):
        r = run(["ip", "-n", self.netns, "-4", "-o", "addr", "show", "dev", "eth0"])
        return f"inet {vip}/" in r.stdout

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


# ---------------------------------------------------------------------------------------------
# the lab


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

    # what the harness's HolderSampler asks of a topology
    @property
    def node_names(self):
        return [n.name for n in self.nodes]

    def in_ns(self, name, fn, *args, **kwargs):
        node = next(n for n in self.nodes if n.name == name)
        return run_in_netns(node.netns, fn, *args, **kwargs)

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
            self._add_node(Node(self, i), root)
        return self

    def _add_node(self, node, root):
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

