"""Packet captures: tcpdump in a namespace, and a pcap reader for the frames the tests look at.
"""

from __future__ import annotations

import socket
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from .netns import addr_only, terminate, wait_until

if TYPE_CHECKING:
    from .topology import Topology



@dataclass
class Packet:
    ts: float
    src_mac: str
    dst_mac: str
    ethertype: int
    kind: str  # 'arp' | 'na' | 'ns' | 'icmp6' | 'ipv6' | 'other'
    arp_op: Optional[int] = None  # 1 request, 2 reply
    sender_mac: Optional[str] = None  # ARP sender hardware address
    sender_ip: Optional[str] = None  # ARP sender protocol address
    target_mac: Optional[str] = None
    target_ip: Optional[str] = None  # ARP target IP, or NA/NS target address
    ip6_src: Optional[str] = None
    ip6_dst: Optional[str] = None
    hop_limit: Optional[int] = None
    na_flags: dict = field(default_factory=dict)  # router / solicited / override
    tlla: Optional[str] = None  # NA target link-layer address option

    @property
    def is_garp(self) -> bool:
        return self.kind == "arp" and self.sender_ip is not None and self.sender_ip == self.target_ip

    def announces(self, ip: str) -> bool:
        """A gratuitous ARP or an (unsolicited-style) NA for ip."""
        ip = addr_only(ip)
        if self.kind == "arp":
            return self.is_garp and self.sender_ip == ip
        if self.kind == "na":
            return self.target_ip == ip
        return False


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def pcap_records(data: bytes) -> tuple[int, list[tuple[float, bytes]]]:
    """(link type, [(timestamp, frame)]) of a (possibly still growing) pcap file; a record
    cut short at the end is left for the next read. Raises ValueError if it is not pcap."""
    if len(data) < 24:
        return 1, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a pcap file")
    nsec = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    out = []
    while off + 16 <= len(data):
        ts_s, ts_f, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        if off + 16 + incl > len(data):
            break
        out.append((ts_s + ts_f / (1e9 if nsec else 1e6), data[off + 16: off + 16 + incl]))
        off += 16 + incl
    return linktype, out


def parse_pcap(data: bytes) -> list[Packet]:
    """Parse a (possibly still growing) pcap file of Ethernet frames."""
    linktype, records = pcap_records(data)
    if linktype != 1:
        return []
    return [_parse_frame(ts, frame) for ts, frame in records if len(frame) >= 14]


def _parse_frame(ts: float, f: bytes) -> Packet:
    dst, src = _mac(f[0:6]), _mac(f[6:12])
    et = struct.unpack("!H", f[12:14])[0]
    body = f[14:]
    p = Packet(ts=ts, src_mac=src, dst_mac=dst, ethertype=et, kind="other")
    if et == 0x0806 and len(body) >= 28:
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", body[:8])
        if hlen == 6 and plen == 4:
            p.kind = "arp"
            p.arp_op = op
            p.sender_mac = _mac(body[8:14])
            p.sender_ip = socket.inet_ntop(socket.AF_INET, body[14:18])
            p.target_mac = _mac(body[18:24])
            p.target_ip = socket.inet_ntop(socket.AF_INET, body[24:28])
    elif et == 0x86DD and len(body) >= 40:
        p.kind = "ipv6"
        nh = body[6]
        p.hop_limit = body[7]
        p.ip6_src = socket.inet_ntop(socket.AF_INET6, body[8:24])
        p.ip6_dst = socket.inet_ntop(socket.AF_INET6, body[24:40])
        icmp = body[40:]
        if nh == 58 and len(icmp) >= 4:
            p.kind = "icmp6"
            typ = icmp[0]
            if typ in (135, 136) and len(icmp) >= 24:
                p.kind = "na" if typ == 136 else "ns"
                p.target_ip = socket.inet_ntop(socket.AF_INET6, icmp[8:24])
                if typ == 136:
                    fl = icmp[4]
                    p.na_flags = {"router": bool(fl & 0x80), "solicited": bool(fl & 0x40),
                                  "override": bool(fl & 0x20)}
                opts = icmp[24:]
                while len(opts) >= 8:
                    otype, olen = opts[0], opts[1] * 8
                    if olen == 0:
                        break
                    if otype == 2 and olen >= 8:
                        p.tlla = _mac(opts[2:8])
                    opts = opts[olen:]
    return p


class Capture:
    """tcpdump (pcap file, packet-buffered) inside ns on dev with a BPF filter."""

    def __init__(self, topo: Topology, ns: str = "obs", dev: str = "eth0", filter: str = "arp or icmp6"):
        self.topo = topo
        self.ns = ns
        self.dev = dev
        self.filter = filter
        self.seq = len(topo.captures)
        self.file = topo.workdir / f"capture-{topo.short(ns)}-{dev}-{self.seq}.pcap"
        self.errfile = topo.workdir / f"capture-{topo.short(ns)}-{dev}-{self.seq}.err"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> "Capture":
        err = open(self.errfile, "wb")
        try:
            # -Z root: keep root so the -w file in our temp dir stays writable
            self.proc = self.topo.popen(self.ns, "tcpdump", "-i", self.dev, "-n", "-e", "-U", "--immediate-mode", "-Z", "root",
                                        "-s", "256", "-w", str(self.file), *self.filter.split(),
                                        stdout=subprocess.DEVNULL, stderr=err)
        finally:
            err.close()

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tcpdump exited: {self.errfile.read_text(errors='replace')}")
            return "listening on" in self.errfile.read_text(errors="replace")

        wait_until(listening, timeout, 0.02, msg="tcpdump listening")
        return self

    def packets(self) -> list[Packet]:
        try:
            return parse_pcap(self.file.read_bytes())
        except FileNotFoundError:
            return []

    def matching(self, pred: Callable[[Packet], bool]) -> list[Packet]:
        return [p for p in self.packets() if pred(p)]

    def wait_for(self, pred: Callable[[Packet], bool], timeout: float = 10, count: int = 1,
                 msg: str = "matching packet") -> list[Packet]:
        """Wait until at least count packets match pred; return the matching packets."""
        def got() -> list[Packet]:
            m = self.matching(pred)
            return m if len(m) >= count else []

        return wait_until(got, timeout, 0.05, msg=lambda: f"{msg} in capture ({len(self.packets())} packets seen: "
                                                          f"{self.summary()})")

    def summary(self, last: int = 10) -> str:
        out = []
        for p in self.packets()[-last:]:
            if p.kind == "arp":
                out.append(f"ARP op{p.arp_op} {p.src_mac} {p.sender_ip}->{p.target_ip}")
            elif p.kind in ("na", "ns"):
                out.append(f"{p.kind.upper()} {p.src_mac} tgt {p.target_ip} tlla {p.tlla}")
            else:
                out.append(f"{p.kind} {p.src_mac}")
        return "; ".join(out)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            terminate(self.proc)
# ----------------------------------------------------------------------------------------------
# TCP payloads from a pcap (tcpdump -i any gives LINUX_SLL/SLL2 frames; eth0 gives Ethernet)


def tcp_payloads(path) -> list[tuple[float, bytes]]:
    """(timestamp, TCP payload) of every IPv4/TCP packet in a pcap file (snaplen-truncated)."""
    try:
        linktype, records = pcap_records(Path(path).read_bytes())
    except (FileNotFoundError, ValueError):
        return []
    l2 = {1: 14, 113: 16, 276: 20, 0: 4, 12: 0, 101: 0}.get(linktype)
    if l2 is None:
        return []
    out = []
    for ts, frame in records:
        if len(frame) < l2 + 20:
            continue
        if linktype == 1 and frame[12:14] != b"\x08\x00":
            continue
        if linktype == 113 and frame[14:16] != b"\x08\x00":
            continue
        if linktype == 276 and frame[0:2] != b"\x08\x00":
            continue
        ip = frame[l2:]
        if ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        tcp = ip[ihl:]
        if len(tcp) < 20:
            continue
        doff = (tcp[12] >> 4) * 4
        out.append((ts, bytes(tcp[doff:])))
    return out


def first_payload_time(path, needle: bytes, after: float) -> Optional[float]:
    needle = needle.lower()
    for ts, payload in tcp_payloads(path):
        if ts > after and needle in payload.lower():
            return ts
    return None
