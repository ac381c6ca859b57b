#!/usr/bin/env bash
# Bench "singleton_trixie": the singleton bench with every lab node on Debian 13 (trixie), next to the
# Debian 12 numbers of singleton.bench.sh in the summary. Skip with BENCH_SKIP=singleton-trixie.
BENCH_DISTRO=trixie exec bash "$(dirname "${BASH_SOURCE[0]}")/singleton.bench.sh"
