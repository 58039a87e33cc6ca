"""Who holds the VIP, what the Sentinels name as master, and the VIP sampled over time.

``holders`` asks `ip` per node: one look, as the checks print it. Sampling over seconds is the
harness's HolderSampler (a netlink dump per node namespace); the lab offers what it asks of a
topology (``node_names``, ``in_ns``)."""

import time

from tests.harness.sampling import HolderSampler

from .common import SENTINEL_PASSWORD, VIP, as_dict


def holders(nodes):
    return [n.name for n in nodes if n.holds_vip()]


def sentinel_master(node):
    out = node.cli("SENTINEL GET-MASTER-ADDR-BY-NAME mymaster", port=26379,
                   password=SENTINEL_PASSWORD)
    return out.splitlines()[0] if out else ""


def by_addr(nodes, addr):
    return next((n for n in nodes if n.addr == addr), None)


def settled(nodes):
    """The Sentinels' master holds the VIP, alone, and every Sentinel agrees."""
    masters = {sentinel_master(n) for n in nodes}
    if len(masters) != 1:
        return None
    m = by_addr(nodes, masters.pop())
    return m if m and holders(nodes) == [m.name] else None


def sentinels_ready(nodes):
    """Every Sentinel sees 2 replicas and 2 other Sentinels."""
    for n in nodes:
        d = as_dict(n.cli("SENTINEL MASTER mymaster", port=26379, password=SENTINEL_PASSWORD).splitlines())
        if d.get("num-slaves") != "2" or d.get("num-other-sentinels") != "2":
            return False
    return True


def vip_sampler(lab, step=0.02):
    """Who holds the VIP, every `step`, on a thread: start() it, stop() it, read it with samples_since."""
    return HolderSampler(lab, vip=VIP, interval=step)


def samples_since(sampler, t0):
    """The sampler's history as [(seconds since t0, [holders])]."""
    return [(s.t - t0, list(s.holders)) for s in sampler.snapshot()]


def watch_vip(lab, seconds, step=0.05):
    """Sample who holds the VIP every `step` for `seconds`: [(t, [holders])]."""
    t0 = time.monotonic()
    sampler = vip_sampler(lab, step).start()
    try:
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    finally:
        sampler.stop()
    return samples_since(sampler, t0)


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
