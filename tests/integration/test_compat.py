"""What each server offers the module, probed by behaviour (issue 10), for docs/compatibility.md.

Never decided by a server's name, version string or the bytes of its binary: each feature is
asked of the running server. The results go to target/compat/<server>.json; `make compat`
(scripts/compat.py) writes docs/compatibility.md from them and the test results.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.harness.netns import VIP4
from tests.harness.servers import server_binary
from tests.integration.conftest import FLAVORS

OUT = Path(__file__).resolve().parents[2] / "target" / "compat"


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_probe_server_features(make_topology, module_path, flavor):
    topo = make_topology(nodes=1)
    g = topo.redis(flavor=flavor, nodes=["n1"])
    g.start()
    n1 = g["n1"]
    features: dict[str, object] = {"server": flavor}
    version = subprocess.run([server_binary(flavor), "--version"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    features["version_line"] = version
    # the module says at verbose level whether the server has module defrag callbacks (it no
    # longer lets the crate warn about them at notice level and above)
    n1.execute("CONFIG", "SET", "loglevel", "verbose")
    n1.execute("MODULE", "LOADEX", module_path, "CONFIG", "vip.address", VIP4, "CONFIG", "vip.interface", "eth0")
    n1.execute("CONFIG", "SET", "loglevel", "notice")
    features["module_loadex"] = True
    cats = [c.decode() if isinstance(c, bytes) else c for c in n1.execute("ACL", "CAT")]
    features["module_acl_category"] = "vip" in cats
    try:
        n1.execute("CLIENT", "SETINFO", "LIB-NAME", "probe")
        features["client_setinfo"] = True
    except redis.ResponseError:
        features["client_setinfo"] = False
    modules = sorted(str(m.get("name")) for m in n1.client().module_list())
    features["other_modules"] = [m for m in modules if m != "vip"]
    n1.execute("REPLICAOF", "192.0.2.99", "6379")  # nobody there: a role change only
    n1.execute("REPLICAOF", "NO", "ONE")
    time.sleep(0.1)
    log = n1.log_text()
    features["promotion_log_line"] = ("PRIMARY MODE enabled" if "PRIMARY MODE enabled" in log
                                     else "MASTER MODE enabled" if "MASTER MODE enabled" in log else "?")
    features["defrag_callbacks"] = (True if "the server has module defrag callbacks" in log
                                    else False if "the server lacks module defrag callbacks" in log else "?")
    status = {str(k): v for k, v in zip(*[iter(n1.execute("VIP.STATUS"))] * 2)}
    assert status.get("state") in ("holding", "standby"), status
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{flavor}.json").write_text(json.dumps(features, indent=1))
    print(f"\n[{flavor}] {features}")
