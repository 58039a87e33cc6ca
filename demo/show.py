"""How the demo prints: colours (off when not a terminal or with NO_COLOR), headers, steps and
the addresses of each namespace."""

from __future__ import annotations

import os
import sys
import time

from tests.harness.netns import addr_only
from tests.harness.topology import Topology

_COLOR = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _c(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _COLOR else text


def bold(t: str) -> str:
    return _c("1", t)


def dim(t: str) -> str:
    return _c("2", t)


def green(t: str) -> str:
    return _c("32", t)


def red(t: str) -> str:
    return _c("31", t)


def yellow(t: str) -> str:
    return _c("33", t)


WIDTH = 78


def header(title: str) -> None:
    print()
    print(bold(title))
    print(dim("─" * WIDTH))


def step(text: str) -> float:
    print(f"  • {text} ... ", end="", flush=True)
    return time.monotonic()


def done(t_start: float, extra: str = "") -> None:
    took = time.monotonic() - t_start
    print(green("ok") + dim(f" ({took:.1f} s)") + (f"  {extra}" if extra else ""), flush=True)


def fmt_ms(ms: float) -> str:
    return f"{ms:+.0f}" if round(ms) != 0 else "0"


def show_addresses(topo: Topology, nodes: list[str], vip_ip: str) -> None:
    for n in nodes + ["obs"]:
        out = topo.ipcmd(n, "-br", "addr", "show", "dev", "eth0").stdout.strip()
        fields = out.split()
        # 'eth0@if12  UP  192.0.2.11/24 192.0.2.100/24'
        dev = fields[0].split("@")[0] if fields else "eth0"
        state = fields[1] if len(fields) > 1 else "?"
        addrs = " ".join(bold(a) if addr_only(a) == vip_ip else a for a in fields[2:])
        print(f"    {n:<4} {dev:<5} {state:<5} {addrs}")
