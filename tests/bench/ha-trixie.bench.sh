#!/usr/bin/env bash
# Bench "ha_trixie": the ha bench with every lab node on Debian 13 (trixie), next to the
# Debian 12 numbers of ha.bench.sh in the summary. Skip with BENCH_SKIP=ha-trixie.
BENCH_DISTRO=trixie exec bash "$(dirname "${BASH_SOURCE[0]}")/ha.bench.sh"
