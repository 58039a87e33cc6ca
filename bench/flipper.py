#!/usr/bin/env python3
"""Role flapping for the cost/main-thread figures: REPLICAOF NO ONE and REPLICAOF <host> <port>
alternately every period, each followed by a role event in the server (a claim, then a
release, when the module is loaded). <host> is an address nobody has, so no replication
traffic ever starts. Writes each command's round trip (microseconds) per line at exit.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time


def resp(*parts: str) -> bytes:
    out = b"*%d\r\n" % len(parts)
    for p in parts:
        b = p.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--to", default="192.0.2.99", help="master address for the replica half")
    ap.add_argument("--period-ms", type=float, default=50.0)
    ap.add_argument("--duration-s", type=float, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    cmds = [resp("REPLICAOF", a.to, "6379"), resp("REPLICAOF", "NO", "ONE")]
    lat = []
    end = time.monotonic() + a.duration_s
    next_t = time.monotonic()
    i = 0
    while time.monotonic() < end:
        t0 = time.perf_counter()
        s.sendall(cmds[i % 2])
        buf = b""
        while not buf.endswith(b"\r\n"):
            chunk = s.recv(256)
            if not chunk:
                raise SystemExit("server closed the connection")
            buf += chunk
        if not buf.startswith(b"+"):
            raise SystemExit(f"REPLICAOF failed: {buf!r}")
        lat.append((time.perf_counter() - t0) * 1e6)
        i += 1
        next_t += a.period_ms / 1000.0
        d = next_t - time.monotonic()
        if d > 0:
            time.sleep(d)
    if i % 2 == 1:  # end as master, like it started
        s.sendall(cmds[1])
        s.recv(256)
    with open(a.out, "w") as f:
        f.write("\n".join(f"{x:.1f}" for x in lat) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
