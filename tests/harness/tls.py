"""TLS for the integration tests: certificates made with the openssl command, server config
lines as Redis's TLS documentation gives them, and redis-py clients that speak TLS from inside
a namespace.

    pki = make_pki(dir)          one CA, a server certificate (every node and Sentinel), a client
                                 certificate, an expired server certificate, and a second CA with
                                 a certificate of its own
    server_tls_conf(pki, ...)    tls-port / port 0 / tls-replication / tls-auth-clients lines
    tls_client(topo, ns, ...)    a redis.Redis over TLS, connected from inside ``ns``
    use_tls_clients(node, pki)   make the harness's own client of a node speak TLS
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .netns import REDIS_PORT, run_in_netns
from .writer import VipWriter


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def server_has_tls(binary: str) -> bool:
    """Whether a server binary was built with TLS (Debian's redis-server links libssl)."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libssl" in out


@dataclass
class Pki:
    dir: Path
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    expired_cert: str
    other_ca: str
    other_cert: str
    other_key: str


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _key_and_csr(d: Path, name: str, cn: str) -> None:
    _openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/O=redis-vip test/CN={cn}", cwd=d)


def _sign(d: Path, name: str, ca: str, days: int) -> None:
    _openssl("x509", "-req", "-sha256", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", str(days), "-out", f"{name}.crt", cwd=d)


def make_pki(d: Path) -> Pki:
    """Certificates as Redis's utils/gen-test-certs.sh makes them (one CA, certificates it
    signed), with P-256 keys for speed. ``-days -1`` makes a certificate that expired at once."""
    d.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "30",
                 "-subj", f"/O=redis-vip test/CN={ca} Certificate Authority", cwd=d)
    for name, cn, ca, days in (("server", "Server", "ca", 30), ("client", "redis-vip", "ca", 30),
                               ("expired", "Server", "ca", -1), ("other", "Server", "other-ca", 30)):
        _key_and_csr(d, name, cn)
        _sign(d, name, ca, days)
    for p in d.iterdir():
        p.chmod(0o644)  # the servers run as root here, but keep the files readable anyway
    return Pki(d, str(d / "ca.crt"), str(d / "server.crt"), str(d / "server.key"), str(d / "client.crt"),
               str(d / "client.key"), str(d / "expired.crt"), str(d / "other-ca.crt"), str(d / "other.crt"),
               str(d / "other.key"))


def server_tls_conf(pki: Pki, port: int, auth_clients: bool = False, replication: bool = True,
                    cert: Optional[str] = None, key: Optional[str] = None) -> list[str]:
    """A TLS-only server as Redis's docs describe it: ``port 0``, ``tls-port``,
    ``tls-replication yes`` (its replication and, for a Sentinel, its links to the nodes over
    TLS), the certificate files, and ``tls-auth-clients``."""
    return [
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {cert or pki.server_cert}",
        f"tls-key-file {key or pki.server_key}",
        f"tls-ca-cert-file {pki.ca}",
        f"tls-auth-clients {'yes' if auth_clients else 'no'}",
        f"tls-replication {'yes' if replication else 'no'}",
    ]


class NetnsSSLConnection(redis.connection.SSLConnection):
    """redis-py TLS connection whose socket is created inside a network namespace."""

    def __init__(self, *args: Any, netns: str, **kwargs: Any) -> None:
        self.netns = netns
        super().__init__(*args, **kwargs)

    def _connect(self):  # type: ignore[override]
        return run_in_netns(self.netns, super()._connect)


def ssl_options(pki: Pki, client_cert: bool = True) -> dict:
    opts: dict = dict(ssl_ca_certs=pki.ca, ssl_cert_reqs="required", ssl_check_hostname=False)
    if client_cert:
        opts.update(ssl_certfile=pki.client_cert, ssl_keyfile=pki.client_key)
    return opts


def tls_client(netns: str, host: str, port: int, pki: Pki, **kwargs: Any) -> redis.Redis:
    opts = dict(decode_responses=True, socket_timeout=5, socket_connect_timeout=3, retry=Retry(NoBackoff(), 1))
    opts.update(ssl_options(pki))
    opts.update(kwargs)
    pool = redis.ConnectionPool(connection_class=NetnsSSLConnection, netns=netns, host=host, port=port, **opts)
    return redis.Redis(connection_pool=pool)


def use_tls_clients(node: Any, pki: Pki) -> None:
    """The harness's cached client of ``node`` (what ``node.client()`` and ``execute`` use)
    speaks TLS to 127.0.0.1 in the node's namespace."""
    node._client = tls_client(node.ns, "127.0.0.1", node.port, pki)


class TlsVipWriter(VipWriter):
    """VipWriter over TLS: the nodes listen only on their tls-port."""

    def __init__(self, topo: Any, pki: Pki, **kwargs: Any) -> None:
        super().__init__(topo, **kwargs)
        self.pki = pki

    def _new_connection(self):  # type: ignore[override]
        return NetnsSSLConnection(netns=self.topo.ns("obs"), host=self.host, port=REDIS_PORT,
                                  socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                                  retry=Retry(NoBackoff(), 0), **ssl_options(self.pki))


def secrets_in(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The secrets that appear in any of the texts."""
    return [s for s in secrets if any(s in t for t in texts)]
