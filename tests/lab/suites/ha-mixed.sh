#!/usr/bin/env bash
# ha-mixed: the ha suite (HA_BRIEF: deploy, switchover, crash, partition, rm and join,
# with pg_conf crit) with pg-test on Debian 13 (trixie: PostgreSQL 17, Patroni 4) run
# from a Debian 12 admin node 1 (the bookworm singleton an earlier suite left, or a new
# one); a bookworm member is refused by the trixie cluster (#16).
# shellcheck disable=SC2034 # read by run.sh
NODES=4
SUITE_DISTRO=trixie ADMIN_DISTRO=bookworm HA_BRIEF=1 HA_PG_CONF=${HA_PG_CONF:-crit.yml} \
  exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ha.sh"
