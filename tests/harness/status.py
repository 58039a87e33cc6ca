"""VIP.STATUS and VIP.SENTINELS as Python values, and one line per node for failure messages.
"""

from __future__ import annotations

from .clients import pairs_to_dict
from .processes import RedisGroup, RedisNode


def status(node: RedisNode) -> dict[str, str]:
    """VIP.STATUS with every value as a string."""
    return {str(k): ("" if v is None else str(v)) for k, v in node.vip_status().items()}


def try_status(node: RedisNode) -> dict[str, str]:
    try:
        return status(node)
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        return {"error": f"{type(exc).__name__}: {exc}"}


def statuses(g: RedisGroup) -> str:
    """One line per live node: the VIP.STATUS fields that matter for the Sentinel mode."""
    keys = ("state", "role", "holding", "reason", "claims", "releases", "fences", "sentinels_reachable",
            "sentinels_confirming", "quorum", "lease_remaining_ms", "last_fence_reason", "last_error",
            "conflicts")
    out = []
    for name, n in g.nodes.items():
        if not n.alive():
            out.append(f"{name}: dead")
            continue
        s = try_status(n)
        out.append(f"{name}: " + ", ".join(f"{k}={s.get(k)!r}" for k in keys if k in s) +
                   (f" error={s['error']}" if "error" in s else ""))
    return "\n".join(out)


def sentinel_rows(node: RedisNode) -> list[dict]:
    """VIP.SENTINELS as a list of dicts."""
    return [pairs_to_dict(r) for r in node.execute("VIP.SENTINELS")]
