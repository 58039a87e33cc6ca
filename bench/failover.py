"""Figures 1-2: kill -9 of the master, Sentinel failover, a client writing through the VIP;
figure 1b: promotions by hand (basic mode).

Each repetition builds a fresh topology (namespaces, 3 Redis, 3 Sentinels, the mechanism)
so repetitions are independent (no Sentinel failover-timeout carry-over), and tears it down.
The other fault scenarios (stale restart, isolation, planned failover, busy master, stopped
Sentinels) are in scenarios.py.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time

from bench.common import BENCH_DIR, read_writer as _read_writer, wait_value as _wait
from bench.mechanisms import TAGS, Deployment
from tests.harness.logs import log_times
from tests.harness.netns import MASTER_NAME, NODE_ADDR4, SENTINEL_PORT, VIP_IP
from tests.harness.pcap import first_payload_time
from tests.harness.topology import Topology

WRITER = BENCH_DIR / "writer.py"


def _topo(tag: str, keep: bool) -> Topology:
    return Topology(tag, nodes=3, keep_workdir=keep)




def _new_master(dep: Deployment, old: str, among: list[str] | None = None) -> str | None:
    addr = dep.sentinel_master(among)
    if not addr:
        return None
    name = dep.node_of(addr)
    if name == old:
        return None
    try:
        return name if dep.group[name].role() == "master" else None
    except Exception:  # noqa: BLE001
        return None


def _switch_master_time(dep: Deployment, after: float) -> float | None:
    ts = []
    for s in dep.group.sentinels.values():
        ts += [t for t in log_times(s.log_text(), "+switch-master") if t >= after - 0.001]
    return min(ts) if ts else None


def _promotion_time(dep: Deployment, node: str, after: float) -> float | None:
    """'MASTER MODE enabled' of node after `after`, as the midpoint of its logged millisecond
    (Redis prints the time truncated to the ms: the event lies in [t, t+1 ms))."""
    ts = [t for t in log_times(dep.group[node].log_text(), "MASTER MODE enabled") if t >= after - 0.001]
    return (ts[0] + 0.0005) if ts else None




def _writer_ok_since(path, since: float, hold: float) -> bool:
    """Every attempt in the last `hold` seconds succeeded, and that window starts after since."""
    rows = _read_writer(path)
    if not rows:
        return False
    now = rows[-1][1]
    if now - hold < since or rows[0][0] > now - hold:
        return False
    recent = [r for r in rows if r[0] >= now - hold]
    return len(recent) >= 5 and all(r[2] for r in recent)


# ----------------------------------------------------------------------------------------------
# figures 1 and 2: kill -9 of the master, Sentinel failover, client through the VIP


def _first_slaveof_no_one(cmd_caps: dict, nodes, after: float) -> tuple[float, str] | tuple[None, None]:
    """(time, node) of the first SLAVEOF NO ONE reaching any of the nodes after ``after``."""
    seen = [(t, n) for n in nodes
            if (t := first_payload_time(cmd_caps[n].file, b"\r\nNO\r\n$3\r\nONE\r\n", after)) is not None]
    return min(seen) if seen else (None, None)


def _sentinel_rtt_ms(topo: Topology, count: int = 20) -> float:
    """One Sentinel round trip as the module makes it: `SENTINEL MASTER mymaster` from n2 to the
    Sentinel on n3, over the bridge (median of ``count``; redis-py's own time included, so an
    upper bound)."""
    c = topo.client("n2", NODE_ADDR4["n3"], SENTINEL_PORT)
    c.ping()
    times = []
    for _ in range(count):
        t = time.perf_counter()
        c.execute_command("SENTINEL", "MASTER", MASTER_NAME)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def failover_rep(mech: str, down_after_ms: int, interval_ms: float, keep: bool) -> dict:
    res: dict = {"mech": mech, "down_after_ms": down_after_ms}
    with _topo("bf" + TAGS[mech], keep) as topo:
        dep = Deployment(topo, mech, down_after_ms).start()
        macs = {n: topo.mac(n) for n in topo.node_names}
        cap = topo.capture("obs", filter="arp")
        # the promotion command as it reaches each node (any interface: lo carries the local
        # Sentinel's connection, eth0 the others'), to time the promotion to the microsecond
        cmd_caps = {n: topo.capture(n, dev="any", filter=f"tcp dst port 6379 and dst host {NODE_ADDR4[n]}")
                    for n in topo.node_names}
        wfile = topo.workdir / "writer.log"
        werr = open(topo.workdir / "writer.err", "wb")
        writer = topo.popen("obs", sys.executable, str(WRITER), "--host", VIP_IP,
                            "--interval-ms", str(interval_ms), "--out", str(wfile),
                            stdout=werr, stderr=subprocess.STDOUT)
        werr.close()
        if not _wait(lambda: _writer_ok_since(wfile, 0, 1.0), 15):
            raise RuntimeError(f"{mech}: the writer does not succeed through the VIP before the fault "
                               f"(last lines: {_read_writer(wfile)[-3:]})")
        res["sentinel_rtt_ms"] = _sentinel_rtt_ms(topo)
        old = dep.group["n1"]
        t_kill = time.time()
        os.kill(old.pid, signal.SIGKILL)
        old.proc.wait(timeout=10)
        t_dead = time.time()  # reaped: nothing sent after this can reach the old master
        new = _wait(lambda: _new_master(dep, "n1"), 30 + down_after_ms / 1000, 0.05)
        res["new_master"] = new
        if new:
            # the client is back once every write of the last second succeeded
            _wait(lambda: _writer_ok_since(wfile, t_kill, 1.0), 30, 0.05)
            _wait(lambda: cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac == macs[new]
                                       and p.ts > t_kill), 10, 0.05)
        # the outcome: Sentinel sometimes fails the new master over again ~1 s after
        # +switch-master at down-after 1000; the writer keeps writing through that
        settled = dep.settled(60, ignore=("n1",))
        res["settled_master"] = settled
        if settled:
            _wait(lambda: _writer_ok_since(wfile, t_kill, 1.0), 30, 0.05)
        time.sleep(0.2)
        t_end = time.time()
        writer.send_signal(signal.SIGTERM)
        try:
            writer.wait(timeout=5)
        except subprocess.TimeoutExpired:
            writer.kill()
        cap.stop()
        for c in cmd_caps.values():
            c.stop()
        dep.check_alive()
        proms = dep.promotions(t_kill)

        # -- analysis --------------------------------------------------------------------
        res["promotions"] = len(proms)
        res["promoted_nodes"] = [n for _t, n in proms]
        res["second_failover"] = len(proms) > 1
        rows = _read_writer(wfile)
        before = [r for r in rows if r[0] >= t_kill - 1.0 and r[1] <= t_kill]
        starts = [r[0] for r in before]
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        res["writer_rate_per_s"] = len(before) / 1.0
        res["writer_interval_ms_median"] = statistics.median(gaps) * 1000 if gaps else None
        res["writer_interval_ms_max"] = max(gaps) * 1000 if gaps else None
        # last success before the kill took effect, first success of a write sent after it:
        # a write in flight at the kill may still be answered by the dying server
        last_ok = max((r[1] for r in rows if r[2] and r[1] <= t_dead), default=None)
        first_ok = min((r[1] for r in rows if r[2] and r[0] >= t_dead), default=None)
        res["outage_ms"] = (first_ok - last_ok) * 1000 if (first_ok and last_ok) else None
        # after the client was back: the longest gap between two successful writes (a second
        # failover shows here)
        oks = [r[1] for r in rows if r[2] and first_ok and first_ok <= r[1] <= t_end]
        res["later_gap_ms"] = max((b - a for a, b in zip(oks, oks[1:])), default=0.0) * 1000 if oks else None
        res["errors_after_kill"] = {}
        for r in rows:
            if not r[2] and r[0] > t_kill:
                res["errors_after_kill"][r[3]] = res["errors_after_kill"].get(r[3], 0) + 1
        # promotion: the Sentinel leader's SLAVEOF NO ONE reaching the first promoted node
        # (pcap, us); the "MASTER MODE enabled" log line (ms, printed after the role event) as
        # a fallback
        t_cmd, first = _first_slaveof_no_one(cmd_caps, [n for n in topo.node_names if n != "n1"], t_kill)
        if first is None and proms:
            first = proms[0][1]
        res["first_promoted"] = first
        t_log = _promotion_time(dep, first, t_kill) if first else None
        res["promotion_source"] = "SLAVEOF NO ONE on the wire" if t_cmd else ("log" if t_log else None)
        t_promo = t_cmd or t_log
        res["sentinel_promotion_ms"] = (t_promo - t_kill) * 1000 if t_promo else None
        res["promotion_log_ms"] = (t_log - t_kill) * 1000 if t_log else None
        t_switch = _switch_master_time(dep, t_kill)
        res["switch_master_ms"] = (t_switch - t_kill) * 1000 if t_switch else None
        garps = [p for p in cap.packets() if first and p.announces(VIP_IP) and p.src_mac == macs[first]
                 and p.ts > t_kill]
        res["first_garp_ms_after_kill"] = (garps[0].ts - t_kill) * 1000 if garps else None
        res["promotion_to_garp_ms"] = ((garps[0].ts - t_promo) * 1000) if (garps and t_promo) else None
        res["log_promotion_to_garp_ms"] = ((garps[0].ts - t_log) * 1000) if (garps and t_log) else None
        res["garps_from_new_master"] = len(garps)
        if res["outage_ms"] is not None and res["sentinel_promotion_ms"] is not None:
            res["outage_minus_promotion_ms"] = res["outage_ms"] - res["sentinel_promotion_ms"]
        if mech.startswith("vip-") and first:
            st = dep.status(first)
            if "error" in st:
                res["module_status_error"] = st["error"]
            else:
                res["module_claim_latency_us"] = int(st.get("last_claim_latency_us") or 0) or None
                res["module_state"] = st.get("state")
    return res


# ----------------------------------------------------------------------------------------------
# figure 1b: many promotions by hand, for a tight distribution of the module's claim path


def manual_promotions(mech: str, count: int, keep: bool) -> dict:
    """One server with the module in n1: REPLICAOF <nobody> (release), then REPLICAOF NO ONE
    sent from a client in n1, `count` times. Latency = client's send time of REPLICAOF NO ONE
    -> first GARP from n1's MAC captured in obs. Basic mode only: in the Sentinel-confirmed
    mode a promotion no Sentinel asked for is never confirmed, so it never claims."""
    import socket as so

    from bench.mechanisms import module_path
    if mech != "vip-basic":
        raise ValueError("promotions by hand claim only in basic mode")
    res: dict = {"mech": mech, "latency_ms": [], "module_claim_us": []}
    with Topology("bm" + TAGS[mech], nodes=1, keep_workdir=keep) as topo:
        g = topo.redis(nodes=["n1"], module=module_path(), vip=f"{VIP_IP}/24")
        g.start(wait_replication=False)
        node = g["n1"]
        mac = topo.mac("n1")
        cap = topo.capture("obs", filter="arp")
        sock = topo.in_ns("n1", so.create_connection, ("127.0.0.1", 6379), 5)

        def cmd(*parts: str) -> bytes:
            wire = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p.encode()) for p in parts)
            sock.sendall(wire)
            return sock.recv(256)

        try:
            for i in range(count):
                cmd("REPLICAOF", "192.0.2.99", "6379")
                _wait(lambda: VIP_IP not in topo.addresses("n1") or None, 5, 0.02)
                time.sleep(0.15)
                t0 = time.time()
                cmd("REPLICAOF", "NO", "ONE")
                got = _wait(lambda: [p for p in cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac == mac
                                                             and p.ts > t0)], 5, 0.01)
                res["latency_ms"].append((got[0].ts - t0) * 1000 if got else None)
                if len(res["latency_ms"]) >= 3 and not any(res["latency_ms"][-3:]):
                    st = node.vip_status()
                    res["note"] = (f"no claim after 3 promotions in a row: state {st.get('state')!r}, "
                                   f"reason {st.get('reason')!r}")
                    break
                try:
                    v = int(node.vip_status().get("last_claim_latency_us") or 0) if got else 0
                    res["module_claim_us"].append(v or None)
                except Exception:  # noqa: BLE001
                    res["module_claim_us"].append(None)
        finally:
            sock.close()
            cap.stop()
    return res
