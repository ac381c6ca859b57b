#!/usr/bin/env bash
# singleton-trixie: the singleton suite on a Debian 13 (trixie) node, where the archive
# gives PostgreSQL 17, Patroni 4.0 and etcd 3.5 (#16), installed offline: node 6 (trixie,
# online) builds the bundle (`repo build`, `repo pack`), node 5 has no internet and runs
# `pigsty install --pkg`; a bundle of Debian 12 (the repo suite's, when it ran before) is
# refused there first. Nodes 5 and 6 only: `make test` runs it beside the connect suite (1-3).
# shellcheck disable=SC2034 # read by run.sh
NODES=6
SUITE_DISTRO=trixie SINGLETON_BUNDLE=1 SINGLETON_NODE=5 \
  exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/singleton.sh"
