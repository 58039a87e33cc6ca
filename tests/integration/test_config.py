"""Arguments and configs (issue 8): every mistake a clear error, at load and at CONFIG SET.

Each test runs one redis-server in a namespace of its own and loads the module with MODULE LOAD
(or at start-up), then reads what the load answered and what the Redis log says.
"""

from __future__ import annotations

import pytest
import redis

from tests.harness.netns import VIP4, addr_only, wait_until
from tests.harness.processes import RedisNode
from tests.harness.topology import Topology
from tests.integration.conftest import FLAVORS

VIP_IP = addr_only(VIP4)
BASE = ["address", VIP4, "interface", "eth0"]


def bare_node(topo: Topology, flavor: str = "redis", **kw) -> RedisNode:
    g = topo.redis(flavor=flavor, nodes=["n1"], **kw)
    g.start()
    return g["n1"]


def load_fails(node: RedisNode, module_path: str, *args: str) -> str:
    """MODULE LOAD that must fail; returns the module's log line explaining why."""
    before = len(node.log_text())
    with pytest.raises(redis.ResponseError):
        node.execute("MODULE", "LOAD", module_path, *args)
    assert node.ping(), "the server went down"
    assert "vip" not in node.module_list()
    new = node.log_text()[before:]
    lines = [ln for ln in new.splitlines() if "redis-vip not loaded" in ln]
    assert lines, f"no log line says why the load failed:\n{new}"
    return lines[-1]


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_mistyped_or_incomplete_arguments_fail_the_load(make_topology, module_path, flavor):
    """A typo, a vip. prefix, a missing value or a repeated argument: the load fails, the server
    stays up, and the log line names the argument (and the config meant, where one is close)."""
    n1 = bare_node(make_topology(nodes=1), flavor)
    # (arguments, text the log line must contain)
    cases = [
        (["adress", VIP4, "interface", "eth0"], "unknown argument 'adress'; did you mean 'address'?"),
        ([*BASE, "vip.enabled", "yes"], "without the vip. prefix: 'enabled'"),
        ([*BASE, "master-name"], "argument 'master-name' has no value"),
        ([*BASE, "address", "192.0.2.101/24"], "argument 'address' is given twice"),
        ([*BASE, "release-on-shutdown", "true"], "'release-on-shutdown' is 'true': expected yes or no"),
        ([*BASE, "quorum", "abc"], "argument 'quorum' is 'abc': expected a whole number from 0 to 16"),
        ([*BASE, "poll-interval-ms", "5"], "argument 'poll-interval-ms' is '5': expected a whole number from 10 to 1000"),
        ([*BASE, "label", "a b"], "invalid configuration: label 'a b' contains ' '"),
    ]
    for args, want in cases:
        line = load_fails(n1, module_path, *args)
        assert want in line, f"{args}: {line}"
    # and a valid load still works afterwards; names and yes/no in any case
    n1.execute("MODULE", "LOAD", module_path, *BASE, "release-on-shutdown", "NO", "ANNOUNCE-COUNT", "3")
    assert n1.config_get("vip.release-on-shutdown") == "no"
    assert n1.config_get("vip.announce-count") == "3"
    n1.execute("MODULE", "UNLOAD", "vip")
    n1.execute("MODULE", "LOAD", module_path, *BASE, "release-on-shutdown", "No")
    assert n1.config_get("vip.release-on-shutdown") == "no"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_refused_load_leaves_the_server_safe_to_shut_down(make_topology, module_path, flavor):
    """A refused load removes the event subscriptions it made, and only those: on Redis 7.0,
    removing one never made added a listener without a callback, and the next SHUTDOWN crashed
    (signal 11 at address 0) after any refused MODULE LOAD."""
    n1 = bare_node(make_topology(nodes=1), flavor)
    load_fails(n1, module_path, "adress", VIP4)
    load_fails(n1, module_path, *BASE, "label", "a b")
    load_fails(n1, module_path, *BASE, "quorum", "99")
    try:
        n1.execute("SHUTDOWN", "NOSAVE")
    except redis.ConnectionError:
        pass
    code = n1.wait_exit(15)
    assert "crashed by signal" not in n1.log_text(), n1.log_tail(30)
    assert code == 0, n1.log_tail(30)


def test_server_with_a_mistyped_argument_does_not_start(make_topology, module_path):
    """The same typo in redis.conf's loadmodule line: the server refuses to start and says why."""
    topo = make_topology(nodes=1)
    g = topo.redis(nodes=["n1"], module=module_path, vip=None, interface="",
                   module_args=["address", VIP4, "interfac", "eth0"])
    n1 = g["n1"]
    n1.start()
    code = n1.wait_exit(15)
    assert code != 0
    assert "unknown argument 'interfac'; did you mean 'interface'?" in n1.log_text(), n1.log_tail(20)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_config_file_line_wins_and_says_so(make_topology, module_path, flavor):
    """`loadmodule ... address A` and a later `vip.address B` line: B is in force (Redis applies
    the file after the arguments), and the log says which value overrode which."""
    topo = make_topology(nodes=1)
    g = topo.redis(flavor=flavor, nodes=["n1"], module=module_path, vip=VIP4,
                   extra_conf=["vip.address 192.0.2.101/24"])
    n1 = g["n1"]
    n1.start()
    n1.wait_ready()
    assert n1.config_get("vip.address") == "192.0.2.101/24"
    wait_until(lambda: topo.holders("192.0.2.101") == ["n1"], 10, 0.05, msg="n1 holds 192.0.2.101")
    assert topo.holders(VIP_IP) == []
    assert ("vip.address '192.0.2.101/24' from the configuration file overrides the loadmodule argument "
            f"'{VIP4}'") in n1.log_text()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_every_config_is_accepted_as_an_argument(make_topology, module_path, flavor):
    """The argument checker knows every config the module registers: MODULE LOAD with every
    `vip.*` name (as CONFIG GET lists them) and its current value loads."""
    topo = make_topology(nodes=1)
    n1 = bare_node(topo, flavor, protected_configs=True)
    n1.execute("MODULE", "LOAD", module_path, *BASE)
    configs = n1.client().config_get("vip.*")
    assert len(configs) >= 18, configs
    n1.execute("MODULE", "UNLOAD", "vip")
    args: list[str] = []
    for name, value in sorted(configs.items()):
        args += [name.removeprefix("vip."), value]
    n1.execute("MODULE", "LOAD", module_path, *args)
    assert n1.client().config_get("vip.*") == configs


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_read_only_user_can_read_the_status(make_topology, module_path, flavor):
    """An ACL user with +@read +info: where the server lets modules give their commands ACL
    categories (COMMAND INFO shows them: Redis 7.2+, Valkey), VIP.STATUS, VIP.SENTINELS and
    VIP.EVENTS are in @read and @vip and it may run them; on a server that cannot (Redis 7.0),
    it gets NOPERM, and the documented grant +vip.status +vip.sentinels works. (ACL CAT vip lists
    nothing on Valkey 8.0.1, though the categories apply: the probe asks COMMAND INFO.)"""
    topo = make_topology(nodes=1)
    n1 = bare_node(topo, flavor)
    n1.execute("MODULE", "LOAD", module_path, *BASE)
    info = n1.execute("COMMAND", "INFO", "vip.status")
    entry = info["vip.status"] if isinstance(info, dict) else info[0]
    categories = entry.get("acl_categories", []) if isinstance(entry, dict) else []
    n1.execute("ACL", "SETUSER", "monitor", "on", ">pw", "+@read", "+info")
    mon = n1.client(username="monitor", password="pw")
    try:
        if "@read" in categories:
            assert "@vip" in categories, categories
            assert mon.execute_command("VIP.STATUS")
            assert mon.execute_command("VIP.SENTINELS") == []
            assert isinstance(mon.execute_command("VIP.EVENTS"), list)
            n1.execute("ACL", "SETUSER", "vipreader", "on", ">pw", "+@vip")
            reader = n1.client(username="vipreader", password="pw")
            assert reader.execute_command("VIP.STATUS")
            reader.close()
        else:
            with pytest.raises(redis.exceptions.NoPermissionError):
                mon.execute_command("VIP.STATUS")
            n1.execute("ACL", "SETUSER", "monitor", "+vip.status", "+vip.sentinels")
            assert mon.execute_command("VIP.STATUS")
    finally:
        mon.close()


@pytest.mark.smoke
@pytest.mark.parametrize("flavor", FLAVORS)
def test_config_rewrite_survives_a_restart(make_topology, module_path, flavor):
    """CONFIG SET of vip.* then CONFIG REWRITE: the file carries the values (the password too,
    as Redis writes masterauth) and a restarted server runs with them."""
    topo = make_topology(nodes=1)
    g = topo.redis(flavor=flavor, nodes=["n1"], module=module_path, vip=VIP4, protected_configs=True)
    n1 = g["n1"]
    n1.start()
    n1.wait_ready()
    wait_until(lambda: topo.holders(VIP_IP) == ["n1"], 10, 0.05, msg="n1 holds")
    for key, value in (("vip.address", "192.0.2.101/24"), ("vip.announce-count", "3"),
                       ("vip.master-name", "othermaster"), ("vip.release-on-shutdown", "no")):
        assert n1.config_set(key, value) is None, key
    n1.execute("CONFIG", "REWRITE")
    text = n1.conf.read_text()
    assert 'vip.address "192.0.2.101/24"' in text and "vip.announce-count 3" in text, text
    n1.restart()
    assert n1.config_get("vip.address") == "192.0.2.101/24"
    assert n1.config_get("vip.release-on-shutdown") == "no"
    assert n1.config_get("vip.master-name") == "othermaster"
    wait_until(lambda: topo.holders("192.0.2.101") == ["n1"], 10, 0.05, msg="n1 holds the rewritten address")
