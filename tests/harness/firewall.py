"""A packet filter inside one test namespace: drop the traffic between it and given hosts or
addresses, both ways or one way, and undo it. The asymmetric cases use it: a master cut off
from the Sentinels but not from its replicas, from one Sentinel only, or from its replicas only.

nftables (`nft`, Debian package nftables; scripts/install-deps.sh installs it), run with
``ip netns exec`` in that namespace only: one table ``netdev vtfw`` there, made at the first
``block``, with four address sets and two chains on the namespace's interface (eth0)::

    table netdev vtfw {
        set in4/in6   { ... }   # frames FROM these addresses are dropped as they arrive (ingress)
        set out4/out6 { ... }   # frames TO these addresses are dropped as they leave (egress)
        chain ingress { type filter hook ingress device "eth0" priority -10; ip saddr @in4 counter drop; ... }
        chain egress  { type filter hook egress device "eth0" priority -10; ip daddr @out4 counter drop; ... }
    }

Why the device hooks and not the inet family's input/output: a packet dropped in the output
hook fails the sender's own call with EPERM at once (a connect() refused locally), which no
real network does; dropped at the device's egress (kernel 5.16 or later) it is sent as far as
the sender can tell, and only silence follows. A cut link looks like silence: connects and
reads time out. Established connections are cut too: nothing is stateful.

``block``/``unblock`` add and remove set elements (each one nft transaction, atomic), so rules
never pile up. ARP still passes (the rules match IP only), so gratuitous ARPs still reach a
blocked peer; IPv6 neighbour discovery is ICMPv6 and is dropped with the rest for a blocked
IPv6 address. The table lives in the namespace: deleting the namespace (Topology.close, even
after a failed test) removes it; nothing is ever added to the root namespace.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    from .topology import Topology

TABLE = "vtfw"
DIRECTIONS = ("both", "in", "out")


def _setup(dev: str) -> str:
    return f"""
table netdev {TABLE} {{
    set in4 {{ type ipv4_addr; }}
    set out4 {{ type ipv4_addr; }}
    set in6 {{ type ipv6_addr; }}
    set out6 {{ type ipv6_addr; }}
    chain ingress {{
        type filter hook ingress device "{dev}" priority -10; policy accept;
        ip saddr @in4 counter drop
        ip6 saddr @in6 counter drop
    }}
    chain egress {{
        type filter hook egress device "{dev}" priority -10; policy accept;
        ip daddr @out4 counter drop
        ip6 daddr @out6 counter drop
    }}
}}
"""


def nft_problem() -> str | None:
    """Why the firewall cannot work here, or None."""
    if shutil.which("nft") is None:
        return "nft not installed (Debian package nftables: scripts/install-deps.sh)"
    return None


class Firewall:
    """The filter of namespace ``ns`` of ``topo`` (``topo.firewall(ns)`` keeps one per
    namespace). Peers are host names of the topology ('s1', 'n2', 'obs': their IPv4 address,
    and their IPv6 one on a dual-stack topology) or addresses.

    ``direction``: 'both' (nothing passes either way), 'in' (what the peers send is dropped on
    arrival: they cannot reach this namespace, while its packets still reach them), 'out'
    (what this namespace sends them is dropped: it cannot reach them, while theirs arrive).
    ``dev``: the interface filtered (eth0, the namespace's link to the bridge).
    """

    def __init__(self, topo: "Topology", ns: str, dev: str = "eth0"):
        self.topo = topo
        self.ns = topo.short(ns)
        self.dev = dev
        self._made = False
        self._blocked: dict[str, set[str]] = {"in": set(), "out": set()}

    # -- what to drop ---------------------------------------------------------------------------
    def _addresses(self, peers: Iterable[str]) -> list[str]:
        out: list[str] = []
        for p in peers:
            try:
                out.append(str(ipaddress.ip_address(p)))
                continue
            except ValueError:
                pass
            out.append(self.topo.addr4(p))
            if self.topo.ipv6:
                out.append(str(ipaddress.ip_address(self.topo.addr6(p))))
        return out

    @staticmethod
    def _sides(direction: str) -> tuple[str, ...]:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        return ("in", "out") if direction == "both" else (direction,)

    def _nft(self, script: str) -> None:
        problem = nft_problem()
        if problem:
            raise RuntimeError(problem)
        self.topo.run(self.ns, "nft", "-f", "-", input=script)

    def _elements(self, verb: str, sides: tuple[str, ...], addrs: list[str]) -> str:
        lines = []
        for side in sides:
            for fam, pick in (("4", lambda a: ":" not in a), ("6", lambda a: ":" in a)):
                these = [a for a in addrs if pick(a)]
                if these:
                    lines.append(f"{verb} element netdev {TABLE} {side}{fam} {{ {', '.join(these)} }}")
        return "\n".join(lines) + "\n"

    def block(self, *peers: str, direction: str = "both") -> None:
        """Drop the traffic between this namespace and ``peers`` (see the class doc)."""
        sides = self._sides(direction)
        addrs = self._addresses(peers)
        script = "" if self._made else _setup(self.dev)
        self._nft(script + self._elements("add", sides, addrs))
        self._made = True
        for side in sides:
            self._blocked[side].update(addrs)

    def unblock(self, *peers: str, direction: str = "both") -> None:
        """Let the traffic with ``peers`` pass again (what is not blocked is left alone)."""
        sides = self._sides(direction)
        addrs = self._addresses(peers)
        for side in sides:
            present = [a for a in addrs if a in self._blocked[side]]
            if present:
                self._nft(self._elements("delete", (side,), present))
                self._blocked[side].difference_update(present)

    def clear(self) -> None:
        """Let everything pass again (the table goes)."""
        if self._made:
            self._nft(f"delete table netdev {TABLE}\n")
        self._made = False
        self._blocked = {"in": set(), "out": set()}

    @contextmanager
    def blocking(self, *peers: str, direction: str = "both") -> Iterator["Firewall"]:
        """``with topo.firewall('n1').blocking('s1', 's2'): ...``: blocked inside, unblocked
        after, even when the body raises."""
        self.block(*peers, direction=direction)
        try:
            yield self
        finally:
            self.unblock(*peers, direction=direction)

    # -- inspection -----------------------------------------------------------------------------
    def blocked(self) -> dict[str, list[str]]:
        """{'in': [...], 'out': [...]}: what is dropped now, as this object set it."""
        return {k: sorted(v) for k, v in self._blocked.items()}

    def dropped(self) -> dict[str, int]:
        """Packets dropped so far, {'in': n, 'out': n}, from the rules' counters: proof that
        the cut took effect (a test of a cut that dropped nothing proves nothing)."""
        out = {"in": 0, "out": 0}
        if not self._made:
            return out
        cp = self.topo.run(self.ns, "nft", "-j", "list", "table", "netdev", TABLE)
        for item in json.loads(cp.stdout).get("nftables", []):
            rule = item.get("rule")
            if not rule:
                continue
            side = "in" if rule.get("chain") == "ingress" else "out"
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    out[side] += int(expr["counter"].get("packets", 0))
        return out

    def ruleset(self) -> str:
        """The namespace's whole nft ruleset as text (for failure messages)."""
        return self.topo.run(self.ns, "nft", "list", "ruleset", check=False).stdout
