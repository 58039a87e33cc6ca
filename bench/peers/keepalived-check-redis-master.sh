#!/bin/bash
# keepalived vrrp_script for Redis + Sentinel: succeed only while the local Redis is a master,
# so the tracked VRRP priority (+weight) follows the role that Sentinel gives the node.
# The usual community check (redis-cli INFO replication | grep role:master).
REDIS_HOST=127.0.0.1
REDIS_PORT=@PORT@

if [ ! "$(redis-cli -h $REDIS_HOST -p $REDIS_PORT info replication | grep role:master)" ]; then
    exit 1
fi
exit 0
