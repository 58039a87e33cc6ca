"""A client in the observer namespace writing through the VIP, recording which node acknowledged
each write (one TCP connection = one server, asked once per connection).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from redis.backoff import NoBackoff
from redis.retry import Retry

from .clients import NetnsConnection
from .netns import REDIS_PORT, VIP_IP
from .processes import RedisNode

if TYPE_CHECKING:
    from .topology import Topology


@dataclass
class Ack:
    seq: int
    node: str  # which node acknowledged it (n1, n2, ...)
    t_send: float  # time.time() when the SET was sent
    t_ack: float  # time.time() when OK arrived


class VipWriter:
    """``SET <prefix>:<n> <n>`` through the VIP from the observer namespace, one connection at a
    time, every ``pause`` seconds. Each new connection asks ``CONFIG GET dir`` once, which names
    the node (its directory is redis-<node>), so every acknowledged write is attributed to the
    server that executed it. Any error closes the connection; the next attempt reconnects.
    ``host`` is the address written to (default the VIP; the routed tests give theirs)."""

    def __init__(self, topo: Topology, prefix: str = "w", pause: float = 0.01, timeout: float = 0.5,
                 host: str = VIP_IP):
        self.topo = topo
        self.host = host
        self.prefix = prefix
        self.pause = pause
        self.timeout = timeout
        self.acks: list[Ack] = []
        self.errors = 0
        self.connects = 0
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vip-writer", daemon=True)

    def _new_connection(self) -> NetnsConnection:
        """An unconnected client for the VIP, from the observer's namespace (TlsVipWriter
        makes a TLS one)."""
        return NetnsConnection(netns=self.topo.ns("obs"), host=self.host, port=REDIS_PORT,
                               socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                               retry=Retry(NoBackoff(), 0))

    def _connect(self) -> tuple[NetnsConnection, str]:
        conn = self._new_connection()
        try:
            conn.connect()
            conn.send_command("CONFIG", "GET", "dir")
            reply = conn.read_response()
            m = re.search(r"redis-(n\d+)", str(reply))
            if not m:
                raise RuntimeError(f"cannot tell the node from {reply!r}")
            self.connects += 1
            return conn, m.group(1)
        except BaseException:
            conn.disconnect()
            raise

    def _run(self) -> None:
        conn: Optional[NetnsConnection] = None
        node = ""
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn, node = self._connect()
                self.seq += 1
                n = self.seq
                t_send = time.time()
                conn.send_command("SET", f"{self.prefix}:{n}", str(n))
                reply = conn.read_response()
                t_ack = time.time()
                if reply in (b"OK", "OK", True):
                    self.acks.append(Ack(n, node, t_send, t_ack))
                else:
                    self.errors += 1
                self._stop.wait(self.pause)
            except Exception:  # noqa: BLE001 - any failure: new connection after a short pause
                self.errors += 1
                if conn is not None:
                    try:
                        conn.disconnect()
                    except Exception:  # noqa: BLE001
                        pass
                conn = None
                self._stop.wait(0.02)
        if conn is not None:
            conn.disconnect()

    def start(self) -> "VipWriter":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> "VipWriter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def acked_by(self, node: str, sent_after: float = float("-inf")) -> list[Ack]:
        """Writes acknowledged by ``node`` that were sent after ``sent_after`` (time.time())."""
        return [a for a in self.acks if a.node == node and a.t_send > sent_after]

    def missing_from(self, master: RedisNode) -> list[int]:
        """Acknowledged writes absent from ``master`` (lost)."""
        c = master.client()
        keys = [f"{self.prefix}:{a.seq}" for a in self.acks]
        present: list = []
        for i in range(0, len(keys), 500):
            present += c.mget(keys[i:i + 500])
        return [a.seq for a, v in zip(self.acks, present) if v is None]


# ----------------------------------------------------------------------------------------------
# Redis + Sentinel groups in the Sentinel-confirmed mode
