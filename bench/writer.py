#!/usr/bin/env python3
"""Client that writes through the VIP at a fixed period and logs every attempt.

Started by bench/run.py inside the observer namespace (`ip netns exec <obs> python3 writer.py`),
so its sockets live there. Plain sockets and hand-written RESP keep each attempt cheap and the
period steady (redis-py adds ~0.2 ms per command and its own retry logic).

One line per attempt, flushed as written:  <t_start> <t_end> <ok|err> [reason]
(t_* are CLOCK_REALTIME seconds, the clock tcpdump and the Redis logs use.)
A failed attempt closes the connection; the next tick connects afresh.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("--connect-timeout-ms", type=float, default=50.0)
    ap.add_argument("--op-timeout-ms", type=float, default=200.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    out = open(a.out, "w", buffering=1)
    period = a.interval_ms / 1000.0
    sock: socket.socket | None = None
    seq = 0
    next_t = time.monotonic()
    while not stop:
        seq += 1
        key = b"bench:writer"
        val = str(seq).encode()
        cmd = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val)
        t0 = time.time()
        reason = ""
        try:
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(a.connect_timeout_ms / 1000.0)
                sock.connect((a.host, a.port))
            sock.settimeout(a.op_timeout_ms / 1000.0)
            sock.sendall(cmd)
            buf = b""
            while not buf.endswith(b"\r\n"):
                chunk = sock.recv(512)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
            ok = buf.startswith(b"+OK")
            if not ok:
                reason = buf.split(b" ")[0].decode(errors="replace").strip("-\r\n")
        except (OSError, ConnectionError) as exc:
            ok = False
            reason = type(exc).__name__
        t1 = time.time()
        if not ok and sock is not None:
            try:
                sock.close()
            except OSError:
                pass
            sock = None
        out.write(f"{t0:.6f} {t1:.6f} {'ok' if ok else 'err'} {reason}\n")
        next_t += period
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_t = time.monotonic()  # late (slow attempt): restart the schedule from now
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
