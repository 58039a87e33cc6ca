#!/usr/bin/env python3
"""Instruction counts of the module's per-command cost, free of the machine's load:
redis-server under `valgrind --tool=callgrind` in a namespace, without the module, with it in
basic mode and in the Sentinel-confirmed mode (confirmed by a Sentinel in the same namespace,
so that it holds the VIP and polls as in production; the same Sentinel watches the server in
every configuration), the same redis-benchmark SET/GET load. Per request, on the main thread:
all instructions, the instructions executed inside the module's own code (its object file),
and the inclusive cost of Redis' module command-filter dispatch (the module registers no
filter: expected 0 more than without the module).

    python3 -m bench.callgrind [--requests 20000]

Prints a small table (and writes it with --out). perf is not needed. Slow: valgrind runs the
server ~50x slower, so the request count is small; instruction counts do not depend on it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import log
from bench.mechanisms import DOWN_AFTER_MS, module_path, sentinel_mode_args
from tests.harness.netns import VIP4, wait_until
from tests.harness.processes import SentinelNode
from tests.harness.topology import Topology

CONFIGS = ("none", "basic", "sentinel")


def annotate(outfile: Path) -> tuple[int, dict[str, int]]:
    """Total Ir and inclusive Ir of functions of interest, from callgrind_annotate."""
    cp = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(outfile)],
                        capture_output=True, text=True, timeout=300)
    total = 0
    fns: dict[str, int] = {}
    for line in cp.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(?[\d.%\s)]*PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
            continue
        m = re.match(r"^\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?(\S.*?)\s*$", line)
        if m:
            name = m.group(2)
            for key in ("call(client", "processCommand", "moduleCallCommandFilters", "aeProcessEvents"):
                if key in name and key not in fns:
                    fns[key] = int(m.group(1).replace(",", ""))
    return total, fns


def object_ir(outfile: Path, needle: str) -> int:
    """Self instructions executed in code of the object files whose path contains ``needle``,
    read from a callgrind output file (ob= sets the object of the cost lines that follow; the
    line after a calls= line is the inclusive cost of that call, counted where it is spent, so
    it is skipped)."""
    names: dict[str, str] = {}
    total = 0
    current = ""
    after_call = False
    with open(outfile, errors="replace") as f:
        for line in f:
            if line.startswith(("ob=", "cob=")):
                # object names are compressed: "(id) name" the first time, in an ob= or a
                # cob= line, "(id)" after that
                ref = line.split("=", 1)[1].strip()
                m = re.match(r"\((\d+)\)(?:\s+(.*))?$", ref)
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("ob="):
                    current = names.get(m.group(1), "") if m else ref
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if after_call:
                    after_call = False
                    continue
                if needle in current:
                    parts = line.split()
                    if len(parts) >= 2 and parts[1].isdigit():
                        total += int(parts[1])
            else:
                after_call = False
    return total


def run_one(cfg: str, requests: int, workdir: Path, pipeline: int = 16) -> dict:
    with Topology("bprof", nodes=1, workdir=workdir / f"{cfg}-{requests}-{pipeline}") as topo:
        out = topo.workdir / "callgrind.out"
        kw: dict = {}
        if cfg != "none":
            kw = {"module": module_path(), "vip": VIP4,
                  "module_args": sentinel_mode_args(topo, ["n1"]) if cfg == "sentinel" else []}
        g = topo.redis(nodes=["n1"], wrapper=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                              "--separate-threads=yes"], **kw)
        g.start(wait_replication=False, timeout=120)
        node = g["n1"]
        sentinel = SentinelNode(topo, "n1", master_addr=node.address, quorum=1, down_after_ms=DOWN_AFTER_MS)
        g.sentinels["n1"] = sentinel
        sentinel.start()
        sentinel.wait_ready()
        state = None
        if cfg == "sentinel":
            wait_until(lambda: str(node.vip_status().get("holding")) == "1", 60, 0.2,
                       msg=lambda: f"the Sentinel-mode module holding under valgrind: {node.vip_status()}")
        time.sleep(1.0)
        topo.run("n1", "redis-benchmark", "-h", "127.0.0.1", "-c", "50", "-P", str(pipeline), "-n", str(requests),
                 "-t", "set,get", "-q", timeout=900)
        if cfg != "none":
            st = node.vip_status()
            state = {k: st.get(k) for k in ("state", "mode", "holding", "reason")}
        node.shutdown_and_wait(120)
        # one file per thread: <out>-01 is the main thread (the one that serves requests)
        files = sorted(out.parent.glob(out.name + "-*"))
        main = out.parent / (out.name + "-01")
        total, fns = annotate(main)
        all_ir = sum(annotate(f)[0] for f in files)
        mod = Path(module_path()).name
        module_main = object_ir(main, mod) if cfg != "none" else 0
        module_all = sum(object_ir(f, mod) for f in files) if cfg != "none" else 0
    return {"cfg": cfg, "requests": requests, "total_ir": total, "all_threads_ir": all_ir, "functions": fns,
            "module_main_ir": module_main, "module_all_threads_ir": module_all, "status": state}


def available() -> bool:
    return bool(shutil.which("valgrind") and shutil.which("callgrind_annotate"))


def measure(requests: int, pipelines: tuple[int, ...] = (16, 1)) -> dict:
    """Pipeline 16 (figure 4's load), and 1 (a client waiting for each reply) for context."""
    import tempfile
    work = Path(tempfile.mkdtemp(prefix="vt-prof-"))
    try:
        parts = [_measure(requests if p > 1 else max(2000, requests // 4), work / f"p{p}", p) for p in pipelines]
        return {"rows": [r for p in parts for r in p["rows"]], "text": "\n\n".join(p["text"] for p in parts)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(requests: int, work: Path, pipeline: int = 16) -> dict:
    rows = []
    n1, n2 = requests, 3 * requests
    for cfg in CONFIGS:
        log(f"callgrind: {cfg}, -P {pipeline}, -n {n1} and -n {n2}")
        r1, r2 = run_one(cfg, n1, work / "a", pipeline), run_one(cfg, n2, work / "b", pipeline)
        # marginal cost: the difference of two runs cancels start-up, module load and shutdown
        per = 2 * (n2 - n1)
        rows.append({"cfg": cfg, "pipeline": pipeline, "ir_per_request": (r2["total_ir"] - r1["total_ir"]) / per,
                     "all_threads_ir_per_request": (r2["all_threads_ir"] - r1["all_threads_ir"]) / per,
                     "filters_ir": (r2["functions"].get("moduleCallCommandFilters", 0)
                                    - r1["functions"].get("moduleCallCommandFilters", 0)) / per,
                     "module_main_ir": (r2["module_main_ir"] - r1["module_main_ir"]) / per,
                     "module_all_threads_ir": (r2["module_all_threads_ir"] - r1["module_all_threads_ir"]) / per,
                     "status": r2["status"]})
    base = rows[0]["ir_per_request"]
    lines = [f"callgrind, redis-benchmark -c 50 -P {pipeline} -t set,get, marginal instructions per request "
             f"(runs of -n {n1} and -n {n2} differenced: start-up and shutdown cancel out)", "",
             "| server | main thread Ir/request | ratio to without | in the module's code, main thread "
             "| in the module's code, all threads | moduleCallCommandFilters (incl.) | all threads Ir/request |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r.get("status") or {}
        name = r["cfg"] + (f" ({st.get('state')})" if st.get("state") else "")
        lines.append(f"| {name} | {r['ir_per_request']:.0f} | {r['ir_per_request'] / base:.4f} | "
                     f"{r['module_main_ir']:.2f} | {r['module_all_threads_ir']:.2f} | {r['filters_ir']:.1f} | "
                     f"{r['all_threads_ir_per_request']:.0f} |")
    return {"rows": rows, "text": "\n".join(lines)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--pipelines", default="16,1")
    a = ap.parse_args()
    if not available():
        sys.exit("valgrind missing: apt-get install -y valgrind")
    res = measure(a.requests, tuple(int(x) for x in a.pipelines.split(",")))
    print(res["text"])
    if a.out:
        Path(a.out).write_text(res["text"] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
