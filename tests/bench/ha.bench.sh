#!/usr/bin/env bash
# Bench "ha": what a client sees when pg-test (3 members, Pigsty's ha-full layout) loses
# its primary: the longest gap between two acknowledged writes through 5433 during a
# `pigsty pgsql switchover` (and HA_TRIALS, default 5, more switchovers and failovers:
# median and worst), a hard crash of the primary's node and a network partition
# of it; the time to a new leader; acknowledged writes lost. Also the deploy time of
# pg-test from node 1, a no-op re-deploy of all 4 nodes next to 4 parallel `ssh node
# true` round trips, and the time to remove a replica and join a fresh node back.
#
# The numbers come from the ha lab suite (tests/lab/suites/ha.sh, HA_RESULTS=FILE), run
# on a fresh 4-node lab (taken down first and at the end, like the singleton bench); the
# suite installs the singleton on node 1 itself. Writes target/bench/ha.json; the
# suite's output is in target/bench/ha.log. Skip with BENCH_SKIP=ha.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=ha
bench_suite "$NAME" ha 4 HA_TRIALS=${HA_TRIALS:-5} HA_RESULTS="$BENCH_DIR/ha.results.json"

# median and worst of the switchover/failover trials
python3 - "$RES" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
for verb in ("switchover", "failover"):
    gaps = [v for k, v in r.items() if k.startswith(f"{verb}_trial_") and k.endswith("_max_gap_seconds") and v is not None]
    lost = [v for k, v in r.items() if k.startswith(f"{verb}_trial_") and k.endswith("_lost") and v is not None]
    if gaps:
        r[f"{verb}_trials"] = len(gaps)
        r[f"{verb}_gap_median_seconds"] = round(statistics.median(gaps), 2)
        r[f"{verb}_gap_worst_seconds"] = max(gaps)
        r[f"{verb}_lost_total"] = sum(lost)
json.dump(r, open(sys.argv[1], "w"))
PY
get() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$RES" "$1"; }
body=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in r.items()))' "$RES")
bench_json "$NAME" "${body:+$body, }\"checks\": $(json_str_or_null "$checks"), \"error\": $(json_str_or_null "$error")"

for m in deploy_pg_test_seconds:s noop_deploy_pg_test_seconds:s noop_deploy_all_seconds:s ssh_parallel_4_nodes_seconds:s \
  join_replica_seconds:s rm_replica_seconds:s \
  switchover_trials:n switchover_gap_median_seconds:s switchover_gap_worst_seconds:s switchover_lost_total:writes \
  failover_trials:n failover_gap_median_seconds:s failover_gap_worst_seconds:s failover_lost_total:writes \
  switchover_command_seconds:s switchover_max_gap_seconds:s switchover_lost:writes \
  crash_new_leader_seconds:s crash_max_gap_seconds:s crash_lost:writes \
  partition_new_leader_seconds:s partition_max_gap_seconds:s partition_lost:writes \
  partition_old_primary_writable_after_cut_seconds:s partition_old_primary_lost:writes; do
  bench_row ha "${m%%:*}" "$(get "${m%%:*}")" "${m##*:}"
done
[[ -z $checks ]] || bench_row ha checks "$checks"
[[ -z $error ]] || bench_row ha error "$error"
exit 0
