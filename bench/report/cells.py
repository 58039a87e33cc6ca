"""Table cells, statistics per figure and the small helpers every section uses."""

from __future__ import annotations

from bench.common import summary
from bench.mechanisms import LABELS

POLL_MS = 100  # vip.poll-interval-ms default
TARGET_ROUTED_MS = 20  # issue 11: planned switch, the route moves within 20 ms of the promotion
TARGET_KILL_SLACK_MS = 200  # issue 11: kill -9, within the address lifetime + 200 ms
FAST_POLL_MS = 10  # while any Sentinel shows a failover under way


def cell(s: dict | None, nd: int = 1, unit: str = "") -> str:
    """'median [min–max]' (+ how many runs gave no value)."""
    if not s or s.get("median") is None:
        if s and s.get("missing"):
            return f"— (none in {s['missing']} runs)" if s["missing"] > 1 else "—"
        return "—"
    f = f"{{:.{nd}f}}"
    if s["n"] == 1:
        out = f"{f.format(s['median'])}{unit}"
    else:
        out = f"{f.format(s['median'])}{unit} [{f.format(s['min'])}–{f.format(s['max'])}]"
    if s.get("missing"):
        out += f" ({s['missing']} of {s['n'] + s['missing']} runs: none)"
    return out


def num(v, nd: int = 1) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def repo_path(p: str) -> str:
    """The module's path as a checkout of the repository has it (`target/release/...`), not the
    measuring machine's absolute path; other paths unchanged."""
    parts = p.split("/")
    return "/".join(parts[parts.index("target"):]) if p.startswith("/") and "target" in parts else p


def ok_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if "not_ready" not in r and "harness_error" not in r]


def _status(rows: list[dict]) -> str | None:
    for r in rows:
        if "not_ready" in r:
            return "not measured: " + r["not_ready"]
        if "harness_error" in r:
            return "harness error: " + r["harness_error"]
    return None


def stat(rows: list[dict], get) -> dict:
    """summary() of get(row) over the rows (a key name or a function)."""
    f = (lambda r: r.get(get)) if isinstance(get, str) else get
    vals = []
    for r in rows:
        try:
            vals.append(f(r))
        except (KeyError, TypeError):
            vals.append(None)
    return summary(vals)


def med(s: dict | None):
    return (s or {}).get("median")


def ratio_matrix(get, mechs: list[str]) -> list[str]:
    """Rows: mechanism; columns: each peer; value = median(row) / median(column)."""
    have = [m for m in mechs if get(m) is not None]
    if len(have) < 2:
        return []
    lines = ["| ÷ | " + " | ".join(LABELS[m] for m in have) + " |", "|---|" + "---|" * len(have)]
    for a in have:
        row = []
        for b in have:
            ma, mb = get(a), get(b)
            if a == b:
                row.append("1")
            elif mb == 0 or ma == 0:
                row.append("—")
            else:
                r = ma / mb
                row.append(f"1/{1 / r:.0f}" if r < 0.01 else (f"{r:.3f}" if r < 0.1 else f"{r:.2f}"))
        lines.append(f"| **{LABELS[a]}** | " + " | ".join(row) + " |")
    return lines


def ratio_block(L: list[str], title: str, get, mechs: list[str]) -> None:
    """A ratio matrix of the mechanisms whose median is measured and non-zero, with the ones at
    0 named (a ratio to 0 has no meaning)."""
    vals = {m: get(m) for m in mechs}
    zero = [m for m, v in vals.items() if v == 0]
    nonzero = [m for m, v in vals.items() if v]
    at_zero = f"0 for {', '.join(LABELS[m] for m in zero)}" if zero else ""
    if len(nonzero) < 2:
        if zero and nonzero:
            L.append(f"{title}: no ratio ({at_zero}).")
            L.append("")
        return
    L.append(f"{title} (median of the row ÷ median of the column)" + (f"; {at_zero}" if zero else "") + ":")
    L.append("")
    L.extend(ratio_matrix(get, nonzero))
    L.append("")


def count_cell(rows: list[dict], key: str) -> str:
    """'median [min–max], total N' of a count."""
    s = stat(rows, key)
    if s["median"] is None or s["n"] == 1:
        return cell(s, 0)
    return f"{cell(s, 0)}, total {sum(s['values']):.0f}"


def runs_with(rows: list[dict], key: str) -> str:
    n = sum(1 for r in rows if r.get(key))
    return f"{n} of {len(rows)}"


# ----------------------------------------------------------------------------------------------
# statistics per figure


def failover_stats(results: dict) -> dict:
    out = {}
    for m, rows in results.get("failover", {}).items():
        ok = ok_rows(rows)
        out[m] = {
            "promo_garp": stat(ok, "promotion_to_garp_ms"),
            "claim_ms": stat(ok, lambda r: r["module_claim_latency_us"] / 1000),
            "rtt": stat(ok, "sentinel_rtt_ms"),
            "outage": stat(ok, "outage_ms"),
            "promotion": stat(ok, "sentinel_promotion_ms"),
            "switch": stat(ok, "switch_master_ms"),
            "excess": stat(ok, "outage_minus_promotion_ms"),
            "later_gap": stat(ok, "later_gap_ms"),
            "rate": stat(ok, "writer_rate_per_s"),
            "second": sum(1 for r in ok if r.get("second_failover")),
            "status": _status(rows),
            "runs": len(ok),
            "rows": ok,
        }
    return out


def scen(results: dict, name: str, m: str) -> list[dict]:
    return ok_rows(results.get("scenarios", {}).get(name, {}).get(m, []))


def scen_status(results: dict, name: str, m: str) -> str | None:
    return _status(results.get("scenarios", {}).get(name, {}).get(m, []))


def open_section(L: list[str], results: dict, name: str, mechs: list[str], title: str, intro: str) -> list[str]:
    """The mechanisms measured in scenario ``name``; when there are any, the section's title and
    its opening paragraph are written first."""
    ms = scen_mechs(results, name, mechs)
    if ms:
        L += [title, "", intro, ""]
    return ms


def scen_mechs(results: dict, name: str, mechs: list[str]) -> list[str]:
    per = results.get("scenarios", {}).get(name, {})
    return [m for m in mechs if m in per]


def two(r: dict, phase: str = "total") -> float:
    return r[phase]["two_holders_ms"]


def none_(r: dict, phase: str = "total") -> float:
    return r[phase]["no_holder_ms"]


def table(L: list[str], mechs: list[str], rows: list[tuple[str, object]]) -> None:
    """A figure-by-mechanism table; each row is (label, fn(mech) -> text)."""
    L.append("| | " + " | ".join(LABELS[m] for m in mechs) + " |")
    L.append("|---|" + "---|" * len(mechs))
    for label, fn in rows:
        L.append(f"| {label} | " + " | ".join(fn(m) for m in mechs) + " |")


def runs_cell(n: int, status: str | None) -> str:
    return str(n) if not status else f"{n} ({status[:80]}…)"


def _vs(value: float | None, target: float, unit: str = "ms", nd: int = 0) -> str:
    if value is None:
        return "not measured"
    if value <= target:
        return f"within the target ({value:.{nd}f} {unit} ≤ {target:g} {unit})"
    return f"**misses the target**: {value:.{nd}f} {unit} > {target:g} {unit}"
