"""What every part of the system test shares: the constants, the log line, the report table,
``Failed`` and waiting."""

import subprocess
import time
from pathlib import Path

from tests.harness.netns import WaitTimeout, wait_until

REPO = Path(__file__).resolve().parents[2]
WALKTHROUGH = REPO / "docs" / "walkthrough.md"
CACHE = Path("/var/cache/redis-vip/system")
PACKAGES = "systemd,systemd-sysv,dbus,redis-server,redis-sentinel,iproute2"
VALKEY_PACKAGES = "systemd,systemd-sysv,dbus,valkey-server,valkey-tools,iproute2"
VIP = "192.0.2.100"
VIP2 = "192.0.2.101"  # the --valkey run's second instance
NODE_ADDR = ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
SENTINEL_PASSWORD = "change-me-sentinel"
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "SYSTEMD_PAGER": "",
    "DEBIAN_FRONTEND": "noninteractive",
}
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


class Failed(Exception):
    pass


def wait_for(cond, timeout, step=0.05):
    """cond()'s first truthy value within timeout, or None: the harness's wait_until, with a
    timeout that is a result to report here rather than an error."""
    try:
        return wait_until(cond, timeout, step)
    except WaitTimeout:
        return None


def as_dict(lines):
    """redis-cli's reply to a map as key, value, key, value lines -> dict."""
    return dict(zip(lines[0::2], lines[1::2]))


class Report:
    def __init__(self):
        self.rows = []
        self.failed = 0

    def check(self, what, ok, measured=""):
        self.rows.append(("PASS" if ok else "FAIL", what, measured))
        if not ok:
            self.failed += 1
        log(f"{'PASS' if ok else 'FAIL'}  {what}  {measured}")

    def print(self):
        print("\n| result | check | measured |\n|---|---|---|")
        for r in self.rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} |")
        print(f"\n{len(self.rows) - self.failed} passed, {self.failed} failed")
