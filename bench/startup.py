"""Figure 10: start-up, from the moment the mechanism starts to the first gratuitous ARP for the
VIP from n1 (the master), captured in the observer namespace.

- redis-vip, basic and Sentinel-confirmed: Redis (n1 master, n2 and n3 replicas) and the three
  Sentinels already run, and the Sentinels see every replica and each other; then MODULE LOAD
  on n1, a running master, with the loadmodule line's arguments. Measured from the client's
  send time. In the Sentinel-confirmed mode n1 claims only once the Sentinels confirm it.
- keepalived: Redis and the Sentinels running as above; keepalived started on the three nodes
  at once. Its VRRP master-down timer (3 x advert_int + skew, ~3.6 s) comes first.
- Sentinel script: not measured: the recipe puts the VIP on the first master by hand.

Each repetition builds a fresh topology.
"""

from __future__ import annotations

import time

from bench.common import wait_value as _wait
from bench.mechanisms import TAGS, Deployment
from tests.harness.logs import log_events
from tests.harness.netns import VIP4, VIP_IP
from tests.harness.status import try_status
from tests.harness.topology import Topology

MEASURED = ("vip-basic", "vip-sentinel", "keepalived")




def startup_rep(mech: str, down_after_ms: int, keep: bool) -> dict:
    if mech not in MEASURED:
        raise ValueError(f"start-up is not measured for {mech}")
    res: dict = {"mech": mech, "down_after_ms": down_after_ms}
    with Topology("bu" + TAGS[mech], nodes=3, keep_workdir=keep) as topo:
        dep = Deployment(topo, mech, down_after_ms, module_at_start=False).start(wait_vip=False)
        macs = {n: topo.mac(n) for n in topo.node_names}
        cap = topo.capture("obs", filter="arp")
        if mech.startswith("vip-"):
            t0, t_reply = dep.load_module()
            res["module_load_reply_ms"] = (t_reply - t0) * 1000
        else:
            t0 = time.time()
            dep.start_keepalived()

        def from_n1():
            return cap.matching(lambda p: p.announces(VIP_IP) and p.src_mac == macs["n1"] and p.ts > t0)

        got = _wait(from_n1, 30)
        res["vip_ms"] = (got[0].ts - t0) * 1000 if got else None
        first_any = cap.matching(lambda p: p.announces(VIP_IP) and p.ts > t0)
        res["first_garp_node"] = next((n for n, m in macs.items() if first_any and first_any[0].src_mac == m), None)
        time.sleep(0.5)
        res["holders_after"] = topo.holders(VIP4)
        if mech.startswith("vip-"):
            claimed = [t for t, msg in log_events(dep.group["n1"], "claiming")
                       if t >= t0 - 0.001 and "<vip>" in msg]
            res["claim_log_ms"] = (claimed[0] + 0.0005 - t0) * 1000 if claimed else None
            st = try_status(dep.group["n1"])
            res["n1_status"] = {k: st.get(k) for k in ("state", "mode", "holding", "reason", "sentinels_known",
                                                        "sentinels_reachable", "sentinels_confirming", "quorum",
                                                        "lease_ms", "last_claim_latency_us", "error") if k in st}
        cap.stop()
        dep.check_alive()
    return res
