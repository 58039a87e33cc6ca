"""Netlink dumps inside namespaces: a node's addresses (RTM_GETADDR) and a router's routes
(RTM_GETROUTE), parsed from the bytes with no subprocess per sample.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Iterable, Iterator

from .netns import Recorder

if TYPE_CHECKING:
    from .topology import Topology



_NLMSG_HDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_RTNEXTHOP = struct.Struct("=HBBi")
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_RTM_NEWADDR, _RTM_DELADDR, _RTM_GETADDR = 20, 21, 22
_RTM_NEWROUTE, _RTM_GETROUTE = 24, 26
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_RTA_DST, _RTA_GATEWAY, _RTA_MULTIPATH, _RTA_TABLE = 1, 5, 9, 15
_RT_TABLE_MAIN = 254
_RTMGRP_IPV4_IFADDR, _RTMGRP_IPV4_ROUTE, _RTMGRP_IPV6_ROUTE = 0x10, 0x40, 0x400


def _netlink(groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's namespace, bound to the multicast
    ``groups`` (route notifications) or to none (dumps only)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((0, groups))
    s.settimeout(2.0)
    return s


def _dump(s: socket.socket, seq: int, request: int, body: bytes) -> Iterator[tuple[int, bytes, int, int]]:
    """Send one dump request and yield (type, buffer, offset, length) of each answer message
    with our sequence number, until NLMSG_DONE; an error answer raises OSError."""
    s.send(_NLMSG_HDR.pack(_NLMSG_HDR.size + len(body), request, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0) + body)
    while True:
        data = s.recv(1 << 16)
        off = 0
        while off + _NLMSG_HDR.size <= len(data):
            ln, typ, _flags, sq, _pid = _NLMSG_HDR.unpack_from(data, off)
            if ln < _NLMSG_HDR.size:
                raise ValueError("short netlink message")
            if sq == seq:
                if typ == _NLMSG_DONE:
                    return
                if typ == _NLMSG_ERROR:
                    code = struct.unpack_from("=i", data, off + 16)[0]
                    if code:
                        raise OSError(-code, f"netlink dump failed: {errno.errorcode.get(-code, code)}")
                else:
                    yield typ, data, off, ln
            off += (ln + 3) & ~3


def _messages(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(type, offset, length) of each netlink message in one datagram."""
    off = 0
    while off + _NLMSG_HDR.size <= len(data):
        ln, typ = struct.unpack_from("=IH", data, off)
        if ln < _NLMSG_HDR.size:
            return
        yield typ, off, ln
        off += (ln + 3) & ~3


def _attrs(data: bytes, off: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each route attribute between off and end."""
    while off + _RTATTR.size <= end:
        alen, atype = _RTATTR.unpack_from(data, off)
        if alen < _RTATTR.size:
            return
        yield atype, data[off + 4:off + alen]
        off += (alen + 3) & ~3


class AddrDumper:
    """One NETLINK_ROUTE socket per namespace, opened inside it (a socket stays in the
    namespace it was created in); ``addresses(ns)`` is one RTM_GETADDR dump: every address of
    every interface of that namespace. ``close()`` must be called: an open socket keeps its
    namespace alive after `ip netns del`."""

    def __init__(self, topo: Topology, hosts: Iterable[str]):
        self.topo = topo
        self._socks: dict[str, socket.socket] = {}
        self._seq = int(time.time()) & 0xFFFF
        self._lock = threading.Lock()
        try:
            for h in hosts:
                self._socks[h] = topo.in_ns(h, _netlink)
        except BaseException:
            self.close()
            raise

    def addresses(self, host: str) -> set[str]:
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            seq = self._seq
            s = self._socks[host]
            try:
                return self._dump(s, seq)
            except (OSError, ValueError):
                # a timed-out dump may leave a partial answer in the socket: start afresh
                try:
                    s.close()
                finally:
                    self._socks[host] = self.topo.in_ns(host, _netlink)
                raise

    @staticmethod
    def _dump(s: socket.socket, seq: int) -> set[str]:
        out: set[str] = set()
        for typ, data, off, ln in _dump(s, seq, _RTM_GETADDR, _IFADDRMSG.pack(0, 0, 0, 0, 0)):
            if typ != _RTM_NEWADDR:
                continue
            fam = data[off + 16]
            local = addr = None
            for atype, val in _attrs(data, off + 16 + _IFADDRMSG.size, off + ln):
                if atype == _IFA_LOCAL:
                    local = val
                elif atype == _IFA_ADDRESS:
                    addr = val
            raw = local or addr
            if raw:
                out.add(socket.inet_ntop(socket.AF_INET if fam == socket.AF_INET else socket.AF_INET6, raw))
        return out

    def close(self) -> None:
        for s in self._socks.values():
            try:
                s.close()
            except OSError:
                pass
        self._socks.clear()




def dump_routes(s: socket.socket, seq: int, prefixes: dict[tuple[int, bytes, int], str]) -> dict[str, tuple[str, ...]]:
    """One RTM_GETROUTE dump (IPv4 and IPv6, main table) on netlink socket s: for each watched
    prefix, the sorted next-hop gateways of every route to it (several = ECMP or several routes)."""
    out: dict[str, list[str]] = {p: [] for p in prefixes.values()}
    families = sorted({fam for fam, _, _ in prefixes})
    for fam in families:
        for typ, data, off, ln in _dump(s, seq, _RTM_GETROUTE, _RTMSG.pack(fam, 0, 0, 0, 0, 0, 0, 0, 0)):
            if typ == _RTM_NEWROUTE:
                _route(data, off, ln, fam, prefixes, out)
    return {p: tuple(sorted(v)) for p, v in out.items()}


def _route(data: bytes, off: int, ln: int, fam: int, prefixes, out) -> None:
    rfam, dst_len, _sl, _tos, table, _proto, _scope, rtype, _flags = _RTMSG.unpack_from(data, off + 16)
    if rtype != 1:  # RTN_UNICAST only
        return
    dst = b""
    gws: list[str] = []
    for atype, val in _attrs(data, off + 16 + _RTMSG.size, off + ln):
        if atype == _RTA_DST:
            dst = val
        elif atype == _RTA_TABLE:
            table = struct.unpack("=I", val)[0]
        elif atype == _RTA_GATEWAY:
            gws.append(socket.inet_ntop(rfam, val))
        elif atype == _RTA_MULTIPATH:
            o = 0
            while o + _RTNEXTHOP.size <= len(val):
                nlen, _f, _h, _ifi = _RTNEXTHOP.unpack_from(val, o)
                if nlen < _RTNEXTHOP.size:
                    break
                for a2, v2 in _attrs(val, o + _RTNEXTHOP.size, o + nlen):
                    if a2 == _RTA_GATEWAY:
                        gws.append(socket.inet_ntop(rfam, v2))
                o += (nlen + 3) & ~3
    if table != _RT_TABLE_MAIN:
        return
    key = (rfam, dst, dst_len)
    if key in prefixes:
        out[prefixes[key]] += gws or ["(no gateway)"]


class AddressMonitor(Recorder):
    """RTM_NEWADDR / RTM_DELADDR of an IPv4 address in each node namespace, timestamped on
    receipt.

    One NETLINK_ROUTE socket per namespace subscribed to RTMGRP_IPV4_IFADDR; a socket stays in
    the namespace of the thread that created it (topo.in_ns), so one thread can read them all.
    The module refreshes the VIP's lifetime every 500 ms with a replace, which the kernel also
    reports as RTM_NEWADDR: only the first add after a period without the VIP counts as a claim.
    """

    thread_name = "addr-monitor"

    def __init__(self, topo: Topology, nodes: list[str], vip_ip: str):
        self.vip = socket.inet_aton(vip_ip)
        self.socks: dict[int, tuple[str, socket.socket]] = {}
        for n in nodes:
            s = topo.in_ns(n, _netlink, _RTMGRP_IPV4_IFADDR)
            self.socks[s.fileno()] = (n, s)
        self.events: list[tuple[float, str, str]] = []  # (t, node, 'add'|'del')
        self.present = {n: topo.has_address(n, vip_ip) for n in nodes}
        super().__init__()

    def _run(self) -> None:
        fds = list(self.socks)
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                return
            now = time.time()
            for fd in ready:
                node, s = self.socks[fd]
                try:
                    data = s.recv(65536)
                except OSError:
                    continue
                for kind in self._parse(data):
                    self.events.append((now, node, kind))

    def _parse(self, data: bytes) -> Iterator[str]:
        for typ, off, ln in _messages(data):
            if typ not in (_RTM_NEWADDR, _RTM_DELADDR) or ln < _NLMSG_HDR.size + _IFADDRMSG.size:
                continue
            if data[off + 16] != socket.AF_INET:
                continue
            for atype, val in _attrs(data, off + 16 + _IFADDRMSG.size, off + ln):
                if atype in (_IFA_LOCAL, _IFA_ADDRESS) and val[:4] == self.vip:
                    yield "add" if typ == _RTM_NEWADDR else "del"
                    break

    def transitions(self) -> list[tuple[float, str, str]]:
        """Claims and removals only (refreshes of an address already present dropped)."""
        present = dict(self.present)
        out = []
        for t, node, kind in sorted(self.events):
            if kind == "add" and not present.get(node):
                present[node] = True
                out.append((t, node, "add"))
            elif kind == "del" and present.get(node):
                present[node] = False
                out.append((t, node, "del"))
        return out

    def stop(self, timeout: float = 2.0) -> None:
        super().stop(timeout)
        for _, s in self.socks.values():
            s.close()
