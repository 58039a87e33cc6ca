#!/usr/bin/env python3
"""Client that writes through the VIP at a fixed period and logs every attempt.

Started by bench/run.py inside the observer namespace (`ip netns exec <obs> python3 writer.py`),
so its sockets live there. Plain sockets and hand-written RESP keep each attempt cheap and the
period steady (redis-py adds ~0.2 ms per command and its own retry logic).

One line per attempt, flushed as written:  <t_start> <t_end> <ok|err> [reason]
(t_* are CLOCK_REALTIME seconds, the clock tcpdump and the Redis logs use.)
A failed attempt closes the connection; while disconnected, every tick starts another
non-blocking connect (earlier ones stay pending up to --connect-timeout-ms) and the first to
complete carries the next SET.
"""

from __future__ import annotations

import argparse
import errno
import select
import signal
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("--connect-timeout-ms", type=float, default=1000.0)
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
    # While disconnected, a new non-blocking connect starts every tick and earlier ones stay
    # pending (up to connect-timeout): a SYN lost while no node had the VIP does not hold the
    # client back until its retransmission; the first connect to complete is used.
    pending: list[tuple[float, socket.socket]] = []
    poller = select.poll()
    seq = 0
    next_t = time.monotonic()
    while not stop:
        if sock is None:
            s_new = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s_new.setblocking(False)
            s_new.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = s_new.connect_ex((a.host, a.port))
            if rc in (0, errno.EINPROGRESS):
                pending.append((time.monotonic(), s_new))
                poller.register(s_new, select.POLLOUT)
            else:
                s_new.close()
                out.write(f"{time.time():.6f} {time.time():.6f} err connect:{errno.errorcode.get(rc, rc)}\n")
            # wait for a connect to complete, at most until the next tick
            while sock is None and pending and not stop:
                left = next_t + period - time.monotonic()
                if left <= 0:
                    break
                for fd, _ev in poller.poll(left * 1000):
                    for item in list(pending):
                        if item[1].fileno() != fd:
                            continue
                        pending.remove(item)
                        poller.unregister(fd)
                        err = item[1].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err == 0 and sock is None:
                            sock = item[1]
                        else:
                            t = time.time()
                            out.write(f"{t:.6f} {t:.6f} err connect:{errno.errorcode.get(err, err)}\n")
                            item[1].close()
            now = time.monotonic()
            for item in list(pending):
                if sock is not None or now - item[0] > a.connect_timeout_ms / 1000.0:
                    pending.remove(item)
                    poller.unregister(item[1])
                    item[1].close()
        if sock is not None:
            seq += 1
            key = b"bench:writer"
            val = str(seq).encode()
            cmd = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val)
            t0 = time.time()
            reason = ""
            try:
                sock.setblocking(True)
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
            if not ok:
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
    for _t, p in pending:
        p.close()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
