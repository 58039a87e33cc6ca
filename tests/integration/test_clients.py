"""Can clients connect through the VIP? The module compares the server's `bind` and protected
mode with the VIP, says so in VIP.STATUS and the log, and a real client from the observer
namespace shows that it is right both ways.

Run: python3 -m pytest tests/integration/test_clients.py -q -s
"""

from __future__ import annotations

import time

import pytest
import redis

from tests.harness.netns import VIP4, VIP_IP, wait_until
from tests.harness.status import status
from tests.integration.conftest import FLAVORS


def reach(topo) -> str:
    """What a client in the observer namespace gets from the VIP: 'ok', or the error's kind."""
    c = topo.client("obs", VIP_IP, socket_timeout=2, socket_connect_timeout=2)
    try:
        return "ok" if c.ping() else "no"
    except redis.ConnectionError as exc:
        return "refused" if "refused" in str(exc).lower() else f"connection error: {exc}"
    except redis.ResponseError as exc:
        return "denied" if "DENIED" in str(exc) else f"error: {exc}"
    finally:
        c.connection_pool.disconnect()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_bind_without_the_vip_is_told_and_fixed(topo, module_path, flavor):
    """Debian's default `bind 127.0.0.1 -::1`: the VIP is claimed and announced, and every
    client connecting to it is refused. The module says so (clients_can_connect 0, the fix in
    clients_problem and a warning). CONFIG SET bind with the VIP lets clients in and clears
    it; protected mode without a password refuses them again (the module's unit tests cover a
    password as the other fix), and protected-mode no clears it."""
    g = topo.redis(flavor=flavor, module=module_path, vip=VIP4, nodes=["n1"],
                   extra_conf=["bind 127.0.0.1 -::1"])
    g.start(wait_replication=False)
    n1 = g["n1"]
    wait_until(lambda: status(n1)["holding"] == "1", 15, 0.05, msg=lambda: f"n1 holds: {status(n1)}")
    s = status(n1)
    seen = [("bind 127.0.0.1 -::1", reach(topo), s["clients_can_connect"], s["clients_problem"])]
    assert seen[0][1] == "refused", seen
    assert s["clients_can_connect"] == "0", s
    assert s["clients_problem"].startswith(
        f"clients cannot connect through the VIP: the server does not listen on {VIP_IP} (bind 127.0.0.1 -::1)"), s
    assert s["clients_problem"] in n1.log_text()

    assert n1.config_set("bind", f"127.0.0.1 -::1 {VIP_IP}") is None
    wait_until(lambda: status(n1)["clients_can_connect"] == "1", 10, 0.05, msg=lambda: f"cleared: {status(n1)}")
    seen.append(("bind with the VIP", reach(topo), status(n1)["clients_can_connect"], status(n1)["clients_problem"]))
    assert seen[-1][1] == "ok", seen

    assert n1.config_set("protected-mode", "yes") is None
    wait_until(lambda: status(n1)["clients_can_connect"] == "0", 10, 0.05, msg=lambda: f"protected: {status(n1)}")
    seen.append(("protected-mode yes", reach(topo), status(n1)["clients_can_connect"], status(n1)["clients_problem"]))
    assert seen[-1][1] == "denied", seen
    assert seen[-1][3].startswith("clients cannot connect through the VIP: protected-mode refuses"), seen

    assert n1.config_set("protected-mode", "no") is None
    wait_until(lambda: status(n1)["clients_can_connect"] == "1", 10, 0.05, msg=lambda: f"unprotected: {status(n1)}")
    seen.append(("protected-mode no", reach(topo), status(n1)["clients_can_connect"], status(n1)["clients_problem"]))
    assert seen[-1][1] == "ok", seen
    time.sleep(0.2)
    assert "clients can connect through the VIP again" in n1.log_text()
    print(f"\n[{flavor}] " + "; ".join(f"{what}: client {r}, clients_can_connect {c}" for what, r, c, _p in seen))
