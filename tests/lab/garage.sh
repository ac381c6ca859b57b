#!/usr/bin/env bash
# garage.sh: print the path of a Garage binary (the MINIO module's S3 engine), building
# it once with `cargo install garage --locked` into a cache outside the repository
# (GARAGE_CACHE, default /var/cache/pigsty-garage; about 10 minutes on 2 cores).
# The lab hands it to pigsty with `pigsty repo add` on the infra node.
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
    echo "garage: building garage $VERSION into $ROOT (once; about 10 minutes)" >&2
    nice -n 15 cargo install garage --version "$VERSION" --locked --root "$ROOT" >&2
  fi
fi
"$BIN" --version >/dev/null 2>&1 || { echo "garage: $BIN does not run" >&2; exit 1; }
echo "$BIN"
