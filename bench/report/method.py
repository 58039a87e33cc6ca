"""How each figure is measured: the method section of the document."""

from __future__ import annotations

METHOD = """## How each figure is measured

Topology (tests/harness/topology.py): a bridge namespace and namespaces n1, n2, n3 (Redis
7.0 + Sentinel each, 192.0.2.11-13) and obs (the client, 192.0.2.50); VIP 192.0.2.100/24.
n1 starts as master, n2 and n3 replicate it; one Sentinel per node (quorum 2,
down-after-milliseconds 1000 for every mechanism (figures 12 and 13 also at other
settings), failover-timeout 10000). Every repetition
builds a fresh topology, so no Sentinel state carries over. Mechanisms:

- **redis-vip basic**: `loadmodule libredis_vip.so address 192.0.2.100/24 interface eth0`,
  defaults (address lifetime 1 s, check interval 1000 ms, 5 GARPs 200 ms apart).
- **redis-vip sentinel**: the same plus `sentinels 192.0.2.11:26379,192.0.2.12:26379,192.0.2.13:26379
  master-name mymaster`, defaults otherwise: polls every 100 ms (10 ms while a Sentinel shows a
  failover under way), quorum = the larger of a majority of the Sentinels and N − q + 1 (2),
  lease = half of down-after (500 ms). It holds only while the Sentinels confirm it
  (docs/safety.md).
- **Sentinel script**: `sentinel client-reconfig-script mymaster bench/peers/sentinel-reconfig-vip.sh`
  on every Sentinel, the widely circulated recipe (new master: `ip addr add` + `arping -q -c 3 -A`;
  every other host: `ip addr del`); the VIP is put on n1 by hand at setup, as the recipe says.
- **keepalived**: on every node, `bench/peers/keepalived.conf.in`: state BACKUP, priority 100,
  advert_int 1, preemption on (the default; no nopreempt), `vrrp_script` =
  `bench/peers/keepalived-check-redis-master.sh` (redis-cli INFO replication | grep role:master)
  with interval 1, weight 20. One keepalived per namespace (`--dont-fork --vrrp`, own pid
  files and log), so VRRP multicast stays on the test bridge. This is the common configuration,
  with 1 s timers.
- **keepalived 0.1 s** (figure 14 only; `--mechanisms keepalived-fast`): the same with
  sub-second VRRP timers, `bench/peers/keepalived-fast.conf.in`: VRRPv3 (`vrrp_version 3`,
  whose advertisement interval is counted in centiseconds; no authentication in VRRPv3) with
  `advert_int 0.1`, so a backup takes over about 0.35 s after the last advertisement it heard.
  The role check still runs every second: keepalived 2.2.7 accepts no script interval below
  1 s (fractional script intervals came with keepalived 2.3.2).

Figures 1 and 2 come from the same failovers: a writer in obs (bench/writer.py, plain
sockets) sends a SET through the VIP every 5 ms (reply timeout 200 ms). After an error it
starts a new non-blocking connect on every tick while earlier ones stay pending (up to 1 s),
so a SYN lost while no node answered for the VIP does not hold it back until TCP's 1 s
retransmission; the first connect to complete carries the next SET. The rate it achieved in
the second before the fault is printed per run. Then `kill -9` of the n1 redis-server; its
Sentinel stays up. Each run ends once the Sentinels have settled on a master (all name it,
none shows a failover or the master down, unchanged for 3 s).

1. **Promotion → first GARP**: promotion = the moment the Sentinel leader's `SLAVEOF NO ONE`
   reaches the first promoted node (tcpdump on all interfaces of each node namespace, µs
   timestamps; the role event follows within microseconds). First GARP = first ARP with
   sender IP = target IP = the VIP from that node's MAC, captured by tcpdump in obs. Same
   machine, same clock. The module's own figure (VIP.STATUS `last_claim_latency_us`: role
   event → first announcement sent) is shown beside it. One Sentinel round trip: `SENTINEL
   MASTER mymaster` from n2 to n3's Sentinel with redis-py, median of 20 before the fault (an
   upper bound: the client's own time is included). 1b: the same path without Sentinel, basic
   mode only: a client in n1 sends `REPLICAOF NO ONE` (after `REPLICAOF <nobody>`), from its
   send time to the first GARP in obs.
2. **Client outage**: last successful SET answered before the killed process was reaped to
   the first successful SET sent after that (reply times). Sentinel's own promotion time =
   kill → `SLAVEOF NO ONE` at the new master (as above); the difference is what the VIP
   mechanism adds. "Longest gap after the client was back": a second failover shows there.

Figures 3 and 7-9 (bench/scenarios.py) share one harness: holders sampled every 10 ms
(rtnetlink address dumps in each node namespace); a node counts as a holder while the VIP is
on its interface and its link is up (an isolated node cannot take client traffic), whether or
not its Redis runs: after kill -9 the dead node's kernel keeps the address until its
lifetime (1 s with redis-vip) runs out or someone deletes it. A client in obs
(tests/harness/writer.py `VipWriter`, redis-py) writes through the VIP every 10 ms on
one connection at a time and asks `CONFIG GET dir` once per connection, so each acknowledged
write is attributed to the node that executed it. **Writes acknowledged by the old master
after the promotion** = writes n1 acknowledged that were *sent* after the first promotion's
"MASTER MODE enabled" log line (so n1 certainly executed them after it): split-brain writes.
"Missing from the settled master" also counts what asynchronous replication loses at a kill.
Release times: redis-vip's own "releasing" log line (ms) when it falls within the samples'
bracket, else the midpoint of the last sample with the VIP and the first without (±5 ms).
Each run ends once the old master is a replica, the Sentinels have settled, and the settled
master alone has held the VIP for 3 s.

3. **Stale restart**: kill -9 of the master; once the new master has held the VIP for 1 s, the
   old one restarts from its config file (a master, empty data set) until Sentinel converts
   it. **Isolation**: the master's bridge port down for 8 s, then up. Taking the bridge port
   down also takes the carrier away from n1's eth0: keepalived then enters its FAULT state
   and drops the VIP itself.
7. **Planned failover**: `SENTINEL FAILOVER mymaster` sent to n2's Sentinel, every node
   healthy; the leader's choice is `+failover-state-send-slaveof-noone` in its log.
8. **Busy master**: `DEBUG SLEEP 5` on n1 (`enable-debug-command yes`), sent on its own
   connection.
9. **Stopped Sentinels**: SIGSTOP of n2's and n3's Sentinels for 10 s, then SIGCONT; the run
   ends when n1 has held the VIP alone for 2 s.

10. **Start-up** (bench/startup.py): Redis and the Sentinels running and settled, then
   `MODULE LOAD` on n1 (redis-vip) or keepalived started on the three nodes; to the first GARP
   from n1 in obs.

11. **Routed mode** (bench/routed_mode.py; tests/harness/routed.py's topology, imported): a
   router namespace (BIRD 2, AS 65000, ECMP on only so that an overlap would show) with a
   point-to-point link and an eBGP session to each of n1-n3 (BIRD, or FRR's zebra + bgpd,
   exporting only 198.51.100.10/32) and to the client namespace; Redis 7.0 + the module
   (`address 198.51.100.10/32 interface lo announce no sentinels ... master-name mymaster`,
   lifetime 1 s) and a Sentinel (down-after 1000, quorum 2) on each node. A fresh topology per
   repetition, BIRD and FRR interleaved. The router's kernel table for the VIP is dumped over
   netlink every 5 ms and at once on every route notification; each change is timed
   (time.time()), and the time with two next hops or none is summed from the changes. The
   router's RIB is read from its BIRD log (`debug { routes }`, ms). Planned: `SENTINEL
   FAILOVER` to n2's Sentinel. kill -9: of n1's redis-server (its Sentinel and daemon stay up);
   the address's deletion on n1 is sampled every 10 ms. Clients: bench/writer.py (5 ms; the
   outage as in figure 2, or for the planned switch the longest gap between acknowledged
   writes) and the harness's VipWriter through the VIP (5 ms; errors, lost writes, writes the old
   master acknowledged after the promotion).

4-6 are described with their tables. Timeouts in the harness are upper bounds against hangs;
nothing here asserts on a timing.
"""

# figure 12's paragraph of the method, before the line that ends it (only when it was measured)
METHOD_ANCHOR = "4-6 are described with their tables."
METHOD_12 = """12. **Nothing failed** (bench/scenarios.py, at down-after 1000 and at 30 000, the figure 3
   harness): a crash restarted at once (`kill -9` of n1's redis-server, then a start from the
   same config file at once) and a backup client (`redis-cli --rdb` from obs against n1, its RDB
   held back by `repl-diskless-sync-delay 20` until every Sentinel lists it as `ip:0`).

"""
METHOD_13 = """13. **TLS to the Sentinels** (bench/tls_cost.py; tests/harness/tls.py's certificates and
   server lines): the TLS deployment of tests/integration/test_tls.py against the same in
   plaintext, a fresh topology per run: kill -9 of the master (Sentinel and node logs, an ARP
   capture in obs, the holders sampled every 20 ms), 3 and 30 nodes polling one set of 3
   Sentinels (the Sentinels' CPU with the modules polling and with `vip.enabled no`, `ss` and
   CLIENT LIST for the connections), and one node under callgrind for the instructions per poll.

"""
METHOD_14 = """14. **Other down-after settings** (`--down-after 5000,30000`): figures 1-2, 7, 3's isolation
   and 9 (two of three Sentinels stopped) measured as above with Sentinel's
   down-after-milliseconds set to each value on every Sentinel (the Sentinel-confirmed mode's
   lease follows it: half of down-after). Above 1000 the isolation lasts down-after + 8 s,
   since a shorter one fails nothing over; the Sentinels' stop stays 10 s, so at 30000 it is
   shorter than the lease (15 s). Figure 8 (DEBUG SLEEP 5) is not repeated: a 5 s sleep fails
   nothing over at 5000 or more. Figure 14 also has keepalived 0.1 s (`--mechanisms
   keepalived-fast`) at every setting measured.

"""
METHOD_15 = """15. **The failsafe and the asymmetric cases** (bench/witness.py, the figure 3 harness): redis-vip
   sentinel (`vip.failsafe yes`, the default) beside **redis-vip sentinel, failsafe no**
   (`failsafe no` on the loadmodule line). (a) is figure 9's scenario. (b) and (d) run the
   Sentinels on hosts s1-s3 of their own (192.0.2.31-33), and cut with nftables inside n1's
   namespace (tests/harness/firewall.py: its interface's ingress and egress hooks drop every
   packet from and to the given hosts; established TCP connections stall, nothing is reset):
   n1 from the three Sentinels or from n2 and n3, 8 s (above down-after 1000: down-after + 8 s);
   n1 from s2 2 s before `SENTINEL FAILOVER` to s2 (and, forced at once, right before it), until
   the failover is done plus 3 s. The crash
   after the promotion is `SENTINEL SIMULATE-FAILURE crash-after-promotion` then
   `SENTINEL FAILOVER` on s2,
   restarted from its configuration 5 s after it exited. (c) stops n3's Sentinel (SIGSTOP) 2 s
   before `SENTINEL FAILOVER` to n2's. At down-after settings other than 1000 each cell is one
   run.

"""
