#!/bin/bash
# Sentinel client-reconfig-script that moves a VIP: the widely circulated community recipe
# ("Redis Sentinel + VIP" blog posts and gists). Sentinel runs it on every failover, on the
# leader and on every other Sentinel, with:
#   <master-name> <role> <state> <from-ip> <from-port> <to-ip> <to-port>
# Each host keeps its own copy with MY_IP set to its own address: the host that is the new
# master adds the VIP and sends 3 unsolicited ARP replies (arping -A, 1 s apart); every other
# host deletes it. The VIP is put on the first master by hand when the setup is installed.
#
# Benchmark copy: bench/run.py fills in the four values below per node (the recipe has them
# edited by hand on each host). The recipe prefixes ip/arping with `sudo` because Sentinel
# runs as the redis user; here Sentinel runs as root in a network namespace, so no sudo.

MASTER_IP=${6}
MY_IP='@MY_IP@'          # this host's address
VIP='@VIP@'              # the virtual IP
NETMASK='@NETMASK@'      # its prefix length
INTERFACE='@INTERFACE@'  # the interface that carries it

if [ ${MASTER_IP} = ${MY_IP} ]; then
    /sbin/ip addr add ${VIP}/${NETMASK} dev ${INTERFACE}
    @ARPING@ -q -c 3 -A ${VIP} -I ${INTERFACE}
    exit 0
else
    /sbin/ip addr del ${VIP}/${NETMASK} dev ${INTERFACE}
    exit 0
fi
exit 1
