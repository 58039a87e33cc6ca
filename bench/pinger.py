#!/usr/bin/env python3
"""PING latency probe for the main-thread figure: one connection, one PING every interval,
round trip timed with perf_counter. Writes one latency in microseconds per line at exit.

Runs inside the server's namespace (`ip netns exec <ns> [taskset -c 1] python3 pinger.py`).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--interval-us", type=float, default=1000.0)
    ap.add_argument("--duration-s", type=float, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    s = socket.create_connection((a.host, a.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    period = a.interval_us / 1e6
    end = time.monotonic() + a.duration_s
    next_t = time.monotonic()
    while not stop and time.monotonic() < end:
        t0 = time.perf_counter()
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        buf = b""
        while not buf.endswith(b"\r\n"):
            chunk = s.recv(64)
            if not chunk:
                raise SystemExit("server closed the connection")
            buf += chunk
        lat.append((time.perf_counter() - t0) * 1e6)
        next_t += period
        d = next_t - time.monotonic()
        if d > 0:
            time.sleep(d)
        else:
            next_t = time.monotonic()
    with open(a.out, "w") as f:
        f.write("\n".join(f"{x:.1f}" for x in lat) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
