#!/usr/bin/env bash
# Bench "binary": size of the static binary `target/pigsty` and of the release asset
# `target/release-assets/pigsty-x86_64-unknown-linux-musl` (made by `make release`).
# Writes target/bench/binary.json. A missing file is recorded as an error, not a crash.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=binary
BIN=${BENCH_BINARY:-target/pigsty}
ASSET=${BENCH_RELEASE_ASSET:-target/release-assets/pigsty-x86_64-unknown-linux-musl}

# measure LABEL FILE: prints a JSON object for FILE and adds summary rows.
measure() {
  local label=$1 file=$2 bytes version="" sha="" err="" sum_ok=null
  if [[ ! -f $file ]]; then
    err="\`$file\` not found; hint: run \`make release\` first"
    bench_row "$NAME" "$label" "error: $err"
    printf '{"path": %s, "bytes": null, "error": %s}' "$(json_str "$file")" "$(json_str "$err")"
    return
  fi
  bytes=$(file_bytes "$file")
  sha=$(sha256sum "$file" | awk '{print $1}')
  if [[ -x $file ]]; then
    version=$("$file" --version 2>/dev/null </dev/null | head -n1 || true)
  fi
  if [[ -f $file.sha256 ]]; then
    if (cd "$(dirname "$file")" && sha256sum --check --status "$(basename "$file").sha256"); then
      sum_ok=true
    else
      sum_ok=false
      bench_row "$NAME" "$label .sha256" "error: does not match \`$file\`"
    fi
  fi
  bench_row "$NAME" "$label bytes" "$bytes" "bytes ($(human_bytes "$bytes"))"
  printf '{"path": %s, "bytes": %s, "sha256": %s, "sha256_file_ok": %s, "version": %s}' \
    "$(json_str "$file")" "$bytes" "$(json_str "$sha")" "$sum_ok" "$(json_str_or_null "$version")"
}

binary=$(measure "$BIN" "$BIN")
asset=$(measure "release asset" "$ASSET")
echo "binary: $BIN and $ASSET" >&2
bench_json "$NAME" "\"binary\": $binary, \"release_asset\": $asset"
