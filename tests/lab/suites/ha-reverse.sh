#!/usr/bin/env bash
# ha-reverse: ha-mixed the other way round (#16): pg-test on Debian 12 (bookworm:
# PostgreSQL 15, Patroni 3.0.2) deployed, switched over and failed over from a Debian 13
# (trixie) admin node; HA_BRIEF (deploy, switchover, crash, partition, rm and join, with
# pg_conf crit); a trixie member is refused by the bookworm cluster.
# Nodes 9-12 (admin 9, pg-test 10-12, VIPs 10.10.10.7 and .8): `make test` runs it beside
# ha (nodes 1-4) and ha-mixed (5-8); its nodes are killed at the end.
# shellcheck disable=SC2034 # read by run.sh
NODES=12
SUITE_DISTRO=bookworm ADMIN_DISTRO=trixie ADMIN_NODE=9 HA_VIP=10.10.10.7 HA_NODE_VIP=10.10.10.8 \
  HA_KILL_AFTER=1 HA_BRIEF=1 HA_PG_CONF=${HA_PG_CONF:-crit.yml} \
  exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ha.sh"
