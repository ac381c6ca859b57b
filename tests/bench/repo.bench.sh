#!/usr/bin/env bash
# Bench "repo": `pigsty repo build` time and size (packages, bytes), and the 3-node
# pg-test deploy from the local repository on isolated nodes next to the same deploy
# from the upstream mirror, plus the offline `install --pkg` of a singleton.
#
# The numbers come from the repo lab suite (tests/lab/suites/repo.sh with REPO_BENCH=1
# and REPO_RESULTS=FILE) on a fresh 4-node lab; the suite installs the singleton itself.
# Writes target/bench/repo.json; the suite's output is in target/bench/repo.log.
# Skip with BENCH_SKIP=repo.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=repo
bench_suite "$NAME" repo 4 REPO_BENCH=1 REPO_RESULTS="$BENCH_DIR/repo.results.json"
python3 - "$RES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("deploy_local_repo_seconds") and r.get("deploy_upstream_seconds"):
    r["deploy_local_to_upstream_ratio"] = round(r["deploy_local_repo_seconds"] / r["deploy_upstream_seconds"], 2)
if r.get("repo_bytes"):
    r["repo_mib"] = round(r["repo_bytes"] / 1048576, 1)
json.dump(r, open(sys.argv[1], "w"))
PY
get() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$RES" "$1"; }
body=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in r.items()))' "$RES")
bench_json "$NAME" "${body:+$body, }\"checks\": $(json_str_or_null "$checks"), \"error\": $(json_str_or_null "$error")"
for m in repo_build_seconds:s repo_packages: repo_mib:MiB deploy_upstream_seconds:s deploy_local_repo_seconds:s \
  deploy_local_to_upstream_ratio:x offline_install_seconds:s; do
  bench_row repo "${m%%:*}" "$(get "${m%%:*}")" "${m##*:}"
done
[[ -z $checks ]] || bench_row repo checks "$checks"
[[ -z $error ]] || bench_row repo error "$error"
exit 0
