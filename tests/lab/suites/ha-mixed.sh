#!/usr/bin/env bash
# ha-mixed: the ha suite (HA_BRIEF: deploy, switchover, crash, partition, rm and join,
# with pg_conf crit) with pg-test on Debian 13 (trixie: PostgreSQL 17, Patroni 4) run
# from a Debian 12 admin node; a bookworm member is refused by the trixie cluster (#16).
# Nodes 5-8 (admin 5, pg-test 6-8, VIPs 10.10.10.5 and .6): `make test` runs it beside
# the ha suite (nodes 1-4); its nodes are killed at the end (the later suites get the CPU).
# pg-test runs with `patroni_ssl_enabled: true` here (HA_PATRONI_TLS): the switchover,
# failover and crash go through Patroni's REST API over https (#13).
# shellcheck disable=SC2034 # read by run.sh
NODES=8
SUITE_DISTRO=trixie ADMIN_DISTRO=bookworm ADMIN_NODE=5 HA_VIP=10.10.10.5 HA_NODE_VIP=10.10.10.6 \
  HA_KILL_AFTER=1 HA_BRIEF=1 HA_PATRONI_TLS=1 HA_PG_CONF=${HA_PG_CONF:-crit.yml} \
  exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ha.sh"
