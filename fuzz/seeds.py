#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into fuzz/seeds/<target>/.

Seeds come from real data where it is cheap to get:
  config_value, module_args  the strings of the unit tests in src/config.rs, and the
                             example configuration;
  frames                     the frames of the unit tests in src/packet.rs, and the ARP and
                             ICMPv6 frames a real kernel exchanges over a veth pair (root);
  netlink_reply              the datagrams a real kernel answers to the requests the module
                             makes: link and address dumps, ACKs, NACKs with extended-ack
                             text (root);
  sentinel_reply             the replies of a real Sentinel (Debian's redis-server) to the
                             poller's commands, RESP2 and RESP3, and the test vectors of
                             src/sentinel/answer.rs.

The captures run in network namespaces this script makes and removes (root), and on
127.0.0.1 (Sentinel). Whatever cannot run here is skipped with a note. The seeds are
committed; run this again only to refresh them:  python3 fuzz/seeds.py
"""

import codecs
import hashlib
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEEDS = os.path.join(HERE, "seeds")


def save(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def note(msg):
    print(f"seeds: {msg}", file=sys.stderr)


# ---------------------------------------------------------------- config values, arguments

def rust_strings(path, after):
    """The string literals of a Rust file after the first line containing `after`."""
    text = open(path, encoding="utf-8").read()
    text = text[text.index(after):]
    out = []
    for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', text):
        if "{" in lit:
            continue  # a format string, not a value
        out.append(codecs.decode(lit, "unicode_escape"))
    return out


def config_seeds():
    values = set(rust_strings(os.path.join(ROOT, "src/config.rs"), "mod tests"))
    for line in open(os.path.join(ROOT, "redis.conf.example"), encoding="utf-8"):
        if line.startswith("vip."):
            values.add(line.split(None, 1)[1].strip())
    for v in sorted(values):
        save("config_value", v)
    n = 0
    for args in [
        ["address", "192.0.2.100/24", "interface", "v0"],
        ["adress", "192.0.2.100/24", "interface", "v0"],
        ["release-on-shutdown", "true"],
        ["release-on-shutdown", "yes", "enabled", "No"],
        ["vip.address", "192.0.2.100/24"],
        ["address", "192.0.2.100/24", "address", "192.0.2.101/24"],
        ["address"],
        ["interfce", "eth0"],
        ["sentinels", "192.0.2.11:26379,192.0.2.12:26379", "master-name", "mymaster",
         "quorum", "2", "lease-ms", "3000", "sentinel-auth-pass", "s3cr%t"],
    ]:
        save("module_args", "\0".join(args).encode())
        n += 1
    note(f"config_value {len(values)}, module_args {n}")


# ---------------------------------------------------------------------------------- frames

def rust_byte_arrays(path):
    """Byte-array constants (`const NAME: [u8; N] = [ ... ];`) of a Rust file."""
    text = open(path, encoding="utf-8").read()
    out = {}
    for name, body in re.findall(r"const (\w+): \[u8; \d+\] = \[(.*?)\];", text, re.S):
        body = re.sub(r"//[^\n]*", "", body)
        out[name] = bytes(int(x, 0) for x in re.findall(r"0x[0-9a-fA-F]+", body))
    # frames only, not the MAC addresses
    return {k: v for k, v in out.items() if len(v) >= 42}


def frame_seeds():
    arrays = rust_byte_arrays(os.path.join(ROOT, "src/packet.rs"))
    for name, frame in arrays.items():
        save("frames", frame, name.lower())
        # as it arrives on the wire: padded to Ethernet's 60 bytes, or with trailing bytes
        pad = bytes(60 - len(frame)) if len(frame) < 60 else b"\xee" * 10
        save("frames", frame + pad, name.lower() + "_padded")
    note(f"frames from src/packet.rs: {len(arrays)}")
    if os.geteuid() != 0:
        note("frames from a kernel: skipped (needs root for namespaces)")
        return
    with Namespaces(2) as (a, b):
        ip(a, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", b)
        for ns, dev, n in ((a, "v0", 1), (b, "v1", 2)):
            ip(ns, "link", "set", dev, "up")
            ip(ns, "addr", "add", f"192.0.2.{n}/24", "dev", dev)
            ip(ns, "addr", "add", f"2001:db8::{n}/64", "dev", dev, "nodad")
        cap = subprocess.Popen(
            ["ip", "netns", "exec", a, sys.executable, __file__, "--capture-frames", "v0"],
            stdout=subprocess.PIPE)
        time.sleep(0.5)
        for cmd in (["ping", "-c", "1", "-W", "1", "192.0.2.1"],
                    ["ping", "-6", "-c", "1", "-W", "1", "2001:db8::1"]):
            subprocess.run(["ip", "netns", "exec", b] + cmd, capture_output=True)
        frames = read_blobs(cap.communicate(timeout=10)[0])
    for f in frames:
        save("frames", f)
    note(f"frames from a kernel: {len(frames)}")


def capture_frames(dev):
    """(In a namespace) every ARP and IPv6 frame on `dev` for 2 s, as length-prefixed blobs."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((dev, 0))
    end = time.monotonic() + 2.0
    seen = []
    while time.monotonic() < end and len(seen) < 24:
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            f = s.recv(65535)
            if f[12:14] in (b"\x08\x06", b"\x86\xdd", b"\x08\x00") and f not in seen:
                seen.append(f)
    write_blobs(seen)


# -------------------------------------------------------------------------------- netlink

NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
RTM_GETLINK, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 18, 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3


def nla(kind, value):
    n = 4 + len(value)
    return struct.pack("=HH", n, kind) + value + bytes((4 - n % 4) % 4)


def ifaddrmsg(family, prefix, index, flags=0):
    return struct.pack("=BBBBI", family, prefix, flags, 0, index)


def capture_netlink():
    """(In a namespace) the kernel's answers to the module's kinds of request."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.bind((0, 0))
    s.setsockopt(270, 11, 1)  # NETLINK_EXT_ACK
    s.setsockopt(270, 10, 1)  # NETLINK_CAP_ACK
    s.settimeout(2)
    v0 = socket.if_nametoindex("v0")
    v4 = socket.inet_pton(socket.AF_INET, "192.0.2.100")
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::100")
    cache = struct.pack("=IIII", 5, 5, 0, 0)  # ifa_cacheinfo: preferred, valid
    requests = [
        (RTM_GETLINK, NLM_F_DUMP, struct.pack("=BxHiII", 0, 0, 0, 0, 0)),
        (RTM_GETLINK, NLM_F_ACK, struct.pack("=BxHiII", 0, 0, 0, 0, 0) + nla(3, b"v0\0")),
        (RTM_GETLINK, NLM_F_ACK, struct.pack("=BxHiII", 0, 0, 0, 0, 0) + nla(3, b"nosuch\0")),
        (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
         ifaddrmsg(2, 24, v0) + nla(2, v4) + nla(1, v4) + nla(3, b"v0:vip\0") + nla(6, cache)),
        (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
         ifaddrmsg(10, 64, v0, 0x02) + nla(1, v6) + nla(8, struct.pack("=I", 0x02))
         + nla(6, struct.pack("=IIII", 0, 0xffffffff, 0, 0))),
        (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
         ifaddrmsg(2, 24, v0) + nla(2, v4) + nla(1, v4)),
        (RTM_NEWADDR, NLM_F_CREATE | NLM_F_ACK,
         ifaddrmsg(2, 24, v0) + nla(2, v4) + nla(1, v4) + nla(3, b"a-label-far-too-long\0")),
        (RTM_NEWADDR, NLM_F_CREATE | NLM_F_ACK, ifaddrmsg(2, 24, 9999) + nla(2, v4) + nla(1, v4)),
        (RTM_GETADDR, NLM_F_DUMP, ifaddrmsg(0, 0, 0)),
        (RTM_DELADDR, NLM_F_ACK, ifaddrmsg(2, 24, v0) + nla(2, v4) + nla(1, v4)),
        (RTM_DELADDR, NLM_F_ACK, ifaddrmsg(2, 24, v0) + nla(2, v4) + nla(1, v4)),
    ]
    out = []
    for seq, (kind, flags, body) in enumerate(requests, start=1):
        msg = struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body
        s.send(msg)
        while True:
            d = s.recv(1 << 16)
            out.append(d)
            # the last message of the datagram decides whether the answer is complete
            off, last = 0, None
            while off + 16 <= len(d):
                n, last = struct.unpack_from("=IH", d, off)
                off += (n + 3) & ~3
                if n < 16:
                    break
            if last in (NLMSG_ERROR, NLMSG_DONE):
                break
    write_blobs(out)


def netlink_seeds():
    if os.geteuid() != 0:
        note("netlink_reply: skipped (needs root for a namespace)")
        return
    with Namespaces(1) as (a,):
        ip(a, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip(a, "link", "set", "v0", "up")
        ip(a, "addr", "add", "198.51.100.1/24", "dev", "v0")
        out = subprocess.run(
            ["ip", "netns", "exec", a, sys.executable, __file__, "--capture-netlink"],
            stdout=subprocess.PIPE, check=True, timeout=30).stdout
    blobs = read_blobs(out)
    for d in blobs:
        save("netlink_reply", d)
    note(f"netlink_reply: {len(blobs)} datagrams from a kernel")


# ------------------------------------------------------------------------------- Sentinel

def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        a = a.encode()
        out.append(f"${len(a)}\r\n".encode() + a + b"\r\n")
    return b"".join(out)


def bulk_array(pairs):
    return resp(*[x for kv in pairs for x in kv])


def answer_vectors():
    """The test vectors of src/sentinel/answer.rs, as the bytes a Sentinel would send."""
    master = [("name", "mymaster"), ("ip", "192.0.2.11"), ("port", "6379"), ("runid", "AB12"),
              ("flags", "master"), ("link-pending-commands", "0"), ("link-refcount", "1"),
              ("last-ping-sent", "0"), ("last-ok-ping-reply", "530"),
              ("last-ping-reply", "530"), ("down-after-milliseconds", "1000"),
              ("info-refresh", "8402"), ("role-reported", "master"),
              ("role-reported-time", "90123"), ("config-epoch", "3"), ("num-slaves", "2"),
              ("num-other-sentinels", "2"), ("quorum", "2"), ("failover-timeout", "180000"),
              ("parallel-syncs", "1")]
    failover = [("name", "mymaster"), ("ip", "192.0.2.11"), ("port", "6379"), ("runid", ""),
                ("flags", "s_down,o_down,master,disconnected,failover_in_progress"),
                ("failover-state", "send_slaveof_noone"), ("last-ping-sent", "1400"),
                ("down-after-milliseconds", "1000"), ("config-epoch", "0"), ("quorum", "2")]
    resp3_replica = (b"*1\r\n%4\r\n$2\r\nip\r\n$12\r\n2001:db8::11\r\n$4\r\nport\r\n:6380\r\n"
                     b"$5\r\nflags\r\n$14\r\nslave,promoted\r\n$5\r\nrunid\r\n$2\r\ncd\r\n")
    return [
        bulk_array(master),
        bulk_array(failover),
        resp3_replica,
        b"-ERR No such master with that name\r\n",
        b"*1\r\n" + bulk_array([("ip", "192.0.2.1"), ("port", "70000"), ("flags", "")]),
        b"$40\r\n0123456789abcdef0123456789ABCDEF01234567\r\n",
        # one exchange of the poller: MASTER, REPLICAS, SENTINELS in a row
        bulk_array(failover) + resp3_replica + b"*0\r\n",
    ]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(sock, *commands):
    """Send the commands in one write and return the raw bytes of the replies."""
    sock.sendall(b"".join(resp(*c) for c in commands))
    data, deadline = b"", time.monotonic() + 2
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.2)
        if not r:
            if data:
                break
            continue
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return data


def sentinel_seeds():
    for v in answer_vectors():
        save("sentinel_reply", v)
    note(f"sentinel_reply: {len(answer_vectors())} from src/sentinel/answer.rs")
    server = shutil.which("redis-server")
    if not server:
        note("sentinel_reply from a Sentinel: skipped (no redis-server)")
        return
    tmp = tempfile.mkdtemp(prefix="vip-fuzz-seeds-")
    procs = []
    try:
        master, replica = free_port(), free_port()
        sentinels = [free_port(), free_port()]
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp]
        procs.append(subprocess.Popen([server, "--port", str(master)] + common,
                                      stdout=subprocess.DEVNULL))
        procs.append(subprocess.Popen([server, "--port", str(replica), "--replicaof",
                                       "127.0.0.1", str(master)] + common,
                                      stdout=subprocess.DEVNULL))
        time.sleep(1.5)  # the replica connects; Sentinels started later see it at once
        for i, port in enumerate(sentinels):
            conf = os.path.join(tmp, f"sentinel{i}.conf")
            with open(conf, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
                        f"sentinel monitor mymaster 127.0.0.1 {master} 2\n"
                        "sentinel down-after-milliseconds mymaster 1000\n")
            procs.append(subprocess.Popen([server, conf, "--sentinel"],
                                          stdout=subprocess.DEVNULL))
        time.sleep(5)  # hellos every 2 s: each Sentinel learns the other
        s = socket.create_connection(("127.0.0.1", sentinels[0]), timeout=2)
        got = 0
        for proto in ("2", "3"):
            if proto == "3":
                ask(s, ("HELLO", "3"))
            for cmd in (("SENTINEL", "MYID"), ("SENTINEL", "MASTER", "mymaster"),
                        ("SENTINEL", "REPLICAS", "mymaster"),
                        ("SENTINEL", "SENTINELS", "mymaster"),
                        ("SENTINEL", "MASTER", "nosuch")):
                save("sentinel_reply", ask(s, cmd))
                got += 1
            save("sentinel_reply", ask(s, ("SENTINEL", "MASTER", "mymaster"),
                                       ("SENTINEL", "REPLICAS", "mymaster"),
                                       ("SENTINEL", "SENTINELS", "mymaster")))
            got += 1
        s.close()
        note(f"sentinel_reply: {got} from a Sentinel (RESP2 and RESP3)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


# -------------------------------------------------------------------------------- helpers

def write_blobs(blobs):
    out = sys.stdout.buffer
    for b in blobs:
        out.write(struct.pack("=I", len(b)) + b)
    out.flush()


def read_blobs(data):
    out, off = [], 0
    while off + 4 <= len(data):
        (n,) = struct.unpack_from("=I", data, off)
        out.append(data[off + 4:off + 4 + n])
        off += 4 + n
    return out


def ip(ns, *args):
    subprocess.run(["ip", "-n", ns] + list(args), check=True)


class Namespaces:
    """Network namespaces made for the capture, removed on exit (also on error)."""

    def __init__(self, count):
        self.names = [f"vipfz{os.getpid()}{i}" for i in range(count)]

    def __enter__(self):
        for n in self.names:
            subprocess.run(["ip", "netns", "add", n], check=True)
        return self.names

    def __exit__(self, *exc):
        for n in self.names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def main():
    if sys.argv[1:2] == ["--capture-frames"]:
        return capture_frames(sys.argv[2])
    if sys.argv[1:2] == ["--capture-netlink"]:
        return capture_netlink()
    shutil.rmtree(SEEDS, ignore_errors=True)
    config_seeds()
    frame_seeds()
    netlink_seeds()
    sentinel_seeds()


if __name__ == "__main__":
    main()
