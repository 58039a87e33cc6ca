#!/usr/bin/env python3
"""The Debian package on Debian booted with systemd: three containers, the walk-through's commands.

    python3 -m tests.system.run target/debian/redis-vip_0.2.0-1_amd64.deb [--release bookworm|trixie]

from the repository root (`make test-system` builds the package and runs this). As root. What
it does (the files of tests/system/, one per job, are listed in its __init__.py):

1. A Debian root with systemd, redis-server and redis-sentinel (debootstrap, cached under
   /var/cache/redis-vip/system/<release>), copied once per node.
2. A bridge in its own network namespace (vsys-<pid>-br) and one namespace per node
   (vsys-<pid>-n1..n3, eth0 = 192.0.2.11..13/24). No address outside these namespaces.
3. Each node boots with `systemd-nspawn --boot` in its namespace; commands run inside with
   `nsenter -t <its systemd> -a`.
4. The commands of docs/walkthrough.md, read from its marked ```sh blocks, in order.
5. Checks, with the figures printed: the VIP on the master only, reachable from a replica;
   redis-server as `redis` with CapEff 0x3000 and the unit's hardening in force; the package
   restarted nothing; kill -9 of the master (systemd restarts it, the VIP comes back);
   SENTINEL FAILOVER (the VIP moves); systemctl stop (the VIP is released, the Sentinels'
   new master takes it); a rolling upgrade to a newer .deb (the same package, version
   +systest1) as docs/operations.md's method A; apt-get remove with the lines it prints
   deleted, then purge: no
   address, no drop-in, no capability, and a server that starts.

--valkey (Debian 13 and later): one node with Debian's valkey-server.service instead, in basic
mode: the module from /usr/lib/valkey/modules, the unit's drop-in, kill -9, stop, an instance
(valkey-server@second) with its own VIP, removal.

Everything it made (containers, namespaces, node roots) is removed at the end, also on failure;
--keep leaves the node roots for a look. Exit status 0 when every check passed.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.netns import WaitTimeout

from .common import REPO, Failed, Report, log, run
from .faults import failover, kill_master, stop_master
from .lab import Lab
from .removal import remove_and_purge
from .upgrade import rolling_upgrade
from .valkey import test_valkey
from .walkthrough import (boot, check_hardening, check_identity, check_sentinels_ready, check_vip,
                          run_blocks, walkthrough_blocks)


def test(lab, deb, rep):
    """The three-node run, step by step (the numbers are the docstring's checks)."""
    nodes = lab.nodes
    blocks = walkthrough_blocks()
    boot(nodes)
    r = run_blocks(nodes, deb, blocks, rep)
    for line in r.stdout.splitlines():
        log(f"    {line}")
    check_vip(nodes, rep)                 # 1
    check_identity(nodes, rep)            # 2
    check_hardening(nodes[0], rep)
    check_sentinels_ready(nodes, rep)
    kill_master(nodes, rep)               # 3
    failover(lab, rep)                    # 4
    stop_master(lab, rep)                 # 5
    rolling_upgrade(lab, deb, rep)        # 6
    remove_and_purge(nodes, rep)          # 7


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("deb")
    ap.add_argument("--release", default="bookworm")
    ap.add_argument("--keep", action="store_true", help="leave the node roots")
    ap.add_argument("--valkey", action="store_true",
                    help="one node with Debian's valkey-server instead (Debian 13 and later)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "ip"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: apt-get install debootstrap systemd-container util-linux iproute2")
    deb = Path(args.deb).resolve()
    if not deb.is_file():
        sys.exit(f"{deb}: no such package (make deb builds it)")
    # a SIGTERM cleans up like Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rep = Report()
    commit = run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], check=False).stdout.strip()
    log(f"system test: {deb.name} on Debian {args.release}, commit {commit}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    try:
        with Lab(args.release, args.keep, args.valkey) as lab:
            (test_valkey if args.valkey else test)(lab, deb, rep)
    except (Failed, WaitTimeout) as e:  # WaitTimeout: the harness's sampler got no first sample
        rep.check("the run completed", False, str(e).splitlines()[0])
        print(str(e), file=sys.stderr)
    except (subprocess.SubprocessError, OSError) as e:
        rep.check("the run completed", False, f"{type(e).__name__}: {e}")
        print(getattr(e, "stderr", "") or "", file=sys.stderr)
    rep.print()
    log("done")
    sys.exit(1 if rep.failed else 0)


if __name__ == "__main__":
    main()
