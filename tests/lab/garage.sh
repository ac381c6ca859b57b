#!/usr/bin/env bash
# garage.sh: print the path of a Garage binary (the MINIO module's S3 engine), building
# it once with `cargo install garage --locked` into a cache outside the repository
# (GARAGE_CACHE, default /var/cache/pigsty-garage). The lab hands it to pigsty with
# `pigsty repo add` on the infra node.
#
# The build is the lab's, not a release: only the features pigsty's garage.toml uses
# (the sqlite metadata engine, Prometheus /metrics; no lmdb, no K2V) at opt-level 1, at
# idle CPU priority (SCHED_IDLE: the suites running meanwhile keep both cores; it
# takes the time they leave).
set -euo pipefail
ROOT=${GARAGE_CACHE:-/var/cache/pigsty-garage}
VERSION=${GARAGE_VERSION:-2.5.0}
BIN=$ROOT/bin/garage
export PATH=$HOME/.cargo/bin:$PATH
if [[ ! -x $BIN ]]; then
  mkdir -p "$ROOT"
  exec 9>"$ROOT/.build.lock"
  flock 9
  if [[ ! -x $BIN ]]; then
    echo "garage: building garage $VERSION into $ROOT (once; a few minutes of idle CPU)" >&2
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 chrt --idle 0 nice -n 19 cargo install garage --version "$VERSION" --locked \
      --no-default-features --features bundled-libs,sqlite,metrics --root "$ROOT" >&2
  fi
fi
"$BIN" --version >/dev/null 2>&1 || { echo "garage: $BIN does not run" >&2; exit 1; }
echo "$BIN"
