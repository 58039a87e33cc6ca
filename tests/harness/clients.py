"""Clients inside a namespace: redis-py connections made on a thread that entered it, RESP
replies as dicts, an ICMP echo.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .netns import addr_only, run_in_netns


class NetnsConnection(redis.connection.Connection):
    """redis-py connection whose socket is created inside a network namespace."""

    def __init__(self, *args: Any, netns: str, **kwargs: Any) -> None:
        self.netns = netns
        super().__init__(*args, **kwargs)

    def _connect(self):  # type: ignore[override]
        return run_in_netns(self.netns, super()._connect)

    def repr_pieces(self):  # type: ignore[override]
        return super().repr_pieces() + [("netns", self.netns)]


def netns_client(netns: str, host: str, port: int, **kwargs: Any) -> redis.Redis:
    """A redis.Redis client whose connections are made from inside ``netns``."""
    # one immediate retry on connection errors: a pooled connection may have been dropped by a
    # server restart or by Sentinel's CLIENT KILL on promotion
    opts = dict(decode_responses=True, socket_timeout=5, socket_connect_timeout=3,
                retry=Retry(NoBackoff(), 1))
    opts.update(kwargs)
    pool = redis.ConnectionPool(connection_class=NetnsConnection, netns=netns, host=host, port=port, **opts)
    return redis.Redis(connection_pool=pool)


def pairs_to_dict(reply: Any) -> dict:
    """Flat [k1, v1, k2, v2, ...] array (or an already-parsed dict) -> dict."""
    if isinstance(reply, dict):
        return dict(reply)
    it = iter(reply)
    return {k: v for k, v in zip(it, it)}



def _icmp_checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def icmp_echo(ip: str, count: int = 1, timeout_s: float = 2) -> bool:
    """Send up to count ICMP(v6) echo requests to ip from the current thread's namespace."""
    v6 = ":" in ip
    fam, proto, req, rep = ((socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, 129) if v6
                            else (socket.AF_INET, socket.IPPROTO_ICMP, 8, 0))
    ident = (os.getpid() ^ threading.get_ident()) & 0xFFFF
    with socket.socket(fam, socket.SOCK_RAW, proto) as s:
        for seq in range(1, count + 1):
            payload = b"redis-vip-test"
            hdr = struct.pack("!BBHHH", req, 0, 0, ident, seq)
            cs = 0 if v6 else _icmp_checksum(hdr + payload)  # kernel fills the ICMPv6 checksum
            s.sendto(struct.pack("!BBHHH", req, 0, cs, ident, seq) + payload, (ip, 0))
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data, src = s.recvfrom(2048)
                except socket.timeout:
                    break
                icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
                if len(icmp) >= 8 and icmp[0] == rep:
                    _t, _c, _cs, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
                    if rid == ident and rseq == seq and addr_only(src[0].split("%")[0]) == ip:
                        return True
    return False
