#!/usr/bin/env python3
"""redis-vip routed demo: the VIP as a /32 announced over BGP, through a planned failover and a
kill -9, with the router's view of the route.

    make demo ROUTED=1   (as root: installs what it needs, builds, runs this)
    python3 -m demo.routed [--module PATH] [--speaker bird|frr]

Everything runs inside network namespaces it creates and removes (tests/harness/routed.py;
addresses from 192.0.2.0/24, 198.51.100.0/24 and 2001:db8::/32 only): a router running BIRD 2
with eBGP to three nodes, each node running redis-server with the module (`address
198.51.100.10/32 interface lo announce no sentinels ... master-name mymaster`), a Sentinel and
BIRD (or FRR), and a client behind the router writing through the VIP every 2 ms.

  1. shows the router's route for 198.51.100.10/32: via n1 only;
  2. SENTINEL FAILOVER: prints a timeline in milliseconds from the command (the leader's choice,
     the old master's route withdrawn, the promotion, the new route), the gap without a route,
     and whether any moment had two next hops or a write was lost;
  3. kill -9 of the new master: the timeline from the kill (its address expires, its route is
     withdrawn, the promotion, the route moves).

Exit status: 0 when both failovers moved the route to the new master with never two next hops
and no acknowledged write lost; 1 otherwise; 2 when the environment is not usable (not root,
module not built, bird2/frr missing); 130 when interrupted. Namespaces and processes are
removed in every case. docs/routed.md explains the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tests.harness.logs import log_events, promotions
from tests.harness.netns import (DEFAULT_MODULE, MASTER_NAME, root_and_module_problem, sweep_stale_namespaces,
                                 wait_until)
from tests.harness.routed import VIP4_R, RoutedTopology, sweep_stale_rundirs
from tests.harness.routed_setup import RoutedVipWriter, start_routed
from tests.harness.routes import RouteWatcher
from tests.harness.sentinel import wait_settled
from tests.harness.speakers import speakers_available


def first_promotion(g, after: float) -> tuple[float, str]:
    found = wait_until(lambda: [p for p in promotions(g) if p[0] >= after - 0.01], 30, 0.05, msg="a promotion")
    return found[0]


def line(t_ms: float, what: str) -> None:
    print(f"  {t_ms:8.0f} ms  {what}")


def planned(r, rw: RouteWatcher, w: RoutedVipWriter) -> bool:
    g = r.group
    old = "n1"
    print("\n== planned failover: SENTINEL FAILOVER mymaster")
    t0, wall0 = time.monotonic(), time.time()
    g.sentinels["n2"].execute("SENTINEL", "FAILOVER", MASTER_NAME)
    promoted, new = first_promotion(g, wall0)
    moved = rw.wait_for(VIP4_R, lambda h: h == (new,), 30, f"route via {new}", since=t0)
    final = wait_settled(g)
    rw.wait_for(VIP4_R, lambda h: h == (final,), 30, f"route via {final}", since=t0)
    withdrawn = next(c for c in rw.history(VIP4_R, since=t0) if old not in c.hops)
    chosen = [t for t, _ in log_events(g.sentinels["n2"], "+failover-state-send-slaveof-noone") if t >= wall0 - 0.01]
    line(0, "SENTINEL FAILOVER sent")
    if chosen:
        line((chosen[0] - wall0) * 1000, f"the leader chose {new} (+failover-state-send-slaveof-noone)")
    line((withdrawn.wall - wall0) * 1000, f"router: route via {old} withdrawn (its module released on the choice)")
    line((promoted - wall0) * 1000, f"{new} promoted (MASTER MODE enabled): its module claims")
    line((moved.wall - wall0) * 1000, f"router: route via {new}")
    gap = (moved.t - withdrawn.t) * 1000
    lost = w.missing_from(g[final])
    print(f"  no route for {gap:.0f} ms, two next hops in {len(rw.multi)} route dumps; client: {len(w.acks)} writes "
          f"acknowledged, {len(lost)} lost, {w.errors} errors")
    return not rw.multi and not lost and final == new


def kill9(r, rw: RouteWatcher) -> bool:
    g = r.group
    victim = wait_settled(g)
    print(f"\n== kill -9 of the master ({victim})")
    t0, wall0 = time.monotonic(), time.time()
    g[victim].kill9()
    withdrawn = rw.wait_for(VIP4_R, lambda h: victim not in h, 10, f"route via {victim} withdrawn", since=t0)
    promoted, new = first_promotion(g, wall0)
    moved = rw.wait_for(VIP4_R, lambda h: h == (new,), 30, f"route via {new}", since=t0)
    line(0, f"kill -9 {victim}'s redis-server")
    line((withdrawn.wall - wall0) * 1000, f"router: route via {victim} withdrawn (the kernel deleted the VIP at the "
                                          "end of its 1 s lifetime; its routing daemon withdrew)")
    line((promoted - wall0) * 1000, f"{new} promoted by the Sentinels (down-after 1000 + election)")
    line((moved.wall - wall0) * 1000, f"router: route via {new}")
    print(f"  no route for {(moved.t - withdrawn.t) * 1000:.0f} ms (clients get 'network unreachable' at once)")
    return not rw.multi


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--module", default=os.environ.get("VIP_MODULE") or str(DEFAULT_MODULE))
    ap.add_argument("--speaker", choices=["bird", "frr"], default="bird")
    args = ap.parse_args()
    problem = root_and_module_problem(args.module, "the routed demo") or speakers_available()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    sweep_stale_namespaces()
    sweep_stale_rundirs()
    topo = RoutedTopology("demorouted")
    try:
        print(f"starting: router + 3 nodes ({args.speaker} on each), 3 Redis with the module, 3 Sentinels ...")
        r = start_routed(topo, args.module, speaker=args.speaker)
        print("\nthe router's route for the VIP (birdc show route):")
        print("\n".join("  " + x for x in r.router.show(f"show route for {VIP4_R}").splitlines()[1:]))
        with RouteWatcher(topo, r.vips) as rw, RoutedVipWriter(topo, pause=0.002) as w:
            time.sleep(0.5)
            ok = planned(r, rw, w)
            ok = kill9(r, rw) and ok
        print("\nOK: the route followed the master, never two next hops" if ok else "\nFAILED (see above)")
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    except AssertionError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        topo.close()


if __name__ == "__main__":
    sys.exit(main())
