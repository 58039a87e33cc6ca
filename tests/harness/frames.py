"""Frames the tests inject: gratuitous ARP and unsolicited NA, sent on a packet socket.
"""

from __future__ import annotations

import socket
import struct
from typing import Iterable

from .clients import _icmp_checksum


def send_frames(dev: str, frames: Iterable[bytes]) -> None:
    """Send raw Ethernet frames on dev from the current thread's namespace (AF_PACKET)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as s:
        s.bind((dev, 0))
        for f in frames:
            s.send(f)


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def garp_frame(mac: str, ip: str, op: int = 1) -> bytes:
    m = _mac_bytes(mac)
    ipb = socket.inet_pton(socket.AF_INET, ip)
    tha = b"\0" * 6 if op == 1 else m
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + m + ipb + tha + ipb
    return b"\xff" * 6 + m + struct.pack("!H", 0x0806) + arp


def na_frame(mac: str, ip6: str) -> bytes:
    m = _mac_bytes(mac)
    src = socket.inet_pton(socket.AF_INET6, ip6)
    dst = socket.inet_pton(socket.AF_INET6, "ff02::1")
    body = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + src + bytes([2, 1]) + m
    pseudo = src + dst + struct.pack("!I", len(body)) + b"\0\0\0" + bytes([58])
    cs = _icmp_checksum(pseudo + body)
    body = body[:2] + struct.pack("!H", cs) + body[4:]
    ip6h = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + dst
    return b"\x33\x33\x00\x00\x00\x01" + m + struct.pack("!H", 0x86DD) + ip6h + body
