"""The Debian package on Debian booted with systemd: ``python3 -m tests.system.run`` (run.py says
what it does). One file per job:

- common.py       constants, the log line, the report table, ``Failed``, waiting
- lab.py          the Debian root (debootstrap, cached), the nodes (systemd-nspawn) and the lab
                  (bridge and namespaces) that holds them
- vip.py          who holds the VIP, the Sentinels' master, sampling
- walkthrough.py  docs/walkthrough.md's blocks run on the nodes, then the checks of the result
- faults.py       kill -9, SENTINEL FAILOVER and systemctl stop of the master
- upgrade.py      the rolling upgrade to a newer .deb (docs/operations.md, method A)
- removal.py      apt-get remove and purge
- valkey.py       the --valkey run: one node with Debian's valkey-server.service
"""
