#!/usr/bin/env bash
# singleton-trixie: the singleton suite on a Debian 13 (trixie) node, where the archive
# gives PostgreSQL 17, Patroni 4.0 and etcd 3.5 (#16).
# shellcheck disable=SC2034 # read by run.sh
NODES=1
SUITE_DISTRO=trixie exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/singleton.sh"
