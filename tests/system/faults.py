"""Faults on the master, each checked with the VIP watched: kill -9 (systemd restarts it),
SENTINEL FAILOVER (the VIP moves), systemctl stop (the VIP is released, the Sentinels' new
master takes it)."""

import time

from .common import SENTINEL_PASSWORD, wait_for
from .vip import holders, longest_gap, sentinels_ready, settled, watch_vip


def _sample_until_restarted(nodes, master, old_pid, t0):
    """Who holds the VIP every ~30 ms until 3 s after systemd started a new redis-server on the
    master (15 s at most): (samples, new MainPID, seconds to it). Not the harness's sampler: each
    round also asks systemd for the MainPID, so both are seen on one clock."""
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
    return samples, new_pid, t_restart


def kill_master(nodes, rep):
    """3. kill -9 of the master's redis-server: systemd restarts it, the VIP comes back. The
    restarted server can claim again before the dead one's address has expired (1 s), so the
    VIP may never be gone: sample it, and report the longest run without a holder."""
    master = settled(nodes)
    old_pid = master.main_pid()
    t0 = time.monotonic()
    master.sh(f"kill -9 {old_pid}")
    samples, new_pid, t_restart = _sample_until_restarted(nodes, master, old_pid, t0)
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
    wait_for(lambda: sentinels_ready(nodes), 60, 0.5)


def failover(lab, rep):
    """4. A Sentinel failover moves the VIP."""
    nodes = lab.nodes
    master = settled(nodes)
    nodes[1].cli("SENTINEL FAILOVER mymaster", port=26379, password=SENTINEL_PASSWORD, check=True)
    samples = watch_vip(lab, 8, 0.02)
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
    wait_for(lambda: sentinels_ready(nodes), 60, 0.5)


def stop_master(lab, rep):
    """5. systemctl stop of the master releases the VIP; the Sentinels' new master takes it."""
    nodes = lab.nodes
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
              and not any(len(s[1]) > 1 for s in watch_vip(lab, 12, 0.05)),
              f"{master.name}: 12 s watched after its start")
