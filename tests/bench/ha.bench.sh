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
#
# pg-test runs with pg_conf crit (synchronous: no acknowledged write may be lost). Crash
# trials: HA_CRASH_TRIALS (5) hard crashes of the primary's node for each pg_rto of
# HA_CRASH_RTOS ("10 fast"), each with its timeline in seconds from the kill: the last
# ack before it, the leader key gone, a new leader, the new primary promoted, the first
# and every HAProxy routing to it, the first ack after (medians in the summary).
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# BENCH_DISTRO=trixie (ha-trixie.bench.sh): every node on Debian 13; results as ha_trixie
DISTRO=${BENCH_DISTRO:-bookworm}
NAME=ha
[[ $DISTRO == bookworm ]] || NAME=ha_$DISTRO
CRASH_RTOS=${HA_CRASH_RTOS:-10 fast}
bench_suite "$NAME" ha 4 SUITE_DISTRO="$DISTRO" HA_TRIALS="${HA_TRIALS:-5}" HA_CRASH_TRIALS="${HA_CRASH_TRIALS:-5}" HA_CRASH_RTOS="$CRASH_RTOS" \
  HA_PG_CONF=crit.yml HA_RESULTS="$BENCH_DIR/$NAME.results.json"

# median and worst of the switchover/failover trials
python3 - "$RES" $CRASH_RTOS <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
EVENTS = ("last_ack", "leader_gone", "new_leader", "promoted", "haproxy_up", "haproxy_all", "first_ack")
def vals(prefix, suffix):
    return [v for k, v in r.items() if k.startswith(prefix) and k.endswith(suffix) and isinstance(v, (int, float))]
def summarize(prefix, out):
    gaps = vals(prefix, "_max_gap_seconds")
    if not gaps:
        return
    r[f"{out}_trials"] = len(gaps)
    r[f"{out}_gap_median_seconds"] = round(statistics.median(gaps), 2)
    r[f"{out}_gap_worst_seconds"] = max(gaps)
    r[f"{out}_lost_total"] = sum(vals(prefix, "_lost"))
    errs = vals(prefix, "_errors")
    if errs:
        r[f"{out}_errors_total"] = sum(errs)
    failed = vals(prefix, "_failed")
    if failed:
        r[f"{out}_failed_total"] = sum(failed)
    for e in EVENTS:
        xs = vals(prefix, f"_{e}_seconds")
        if xs:
            r[f"{out}_{e}_median_seconds"] = round(statistics.median(xs), 2)
for verb in ("switchover", "failover"):
    summarize(f"{verb}_trial_", verb)
for rto in sys.argv[2:]:
    summarize(f"crash_rto{rto}_trial_", f"crash_rto{rto}")
json.dump(r, open(sys.argv[1], "w"))
PY
get() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$RES" "$1"; }
body=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in r.items()))' "$RES")
bench_json "$NAME" "${body:+$body, }\"checks\": $(json_str_or_null "$checks"), \"error\": $(json_str_or_null "$error")"

for m in deploy_pg_test_seconds:s noop_deploy_pg_test_seconds:s noop_deploy_all_seconds:s ssh_parallel_4_nodes_seconds:s \
  join_replica_seconds:s rm_replica_seconds:s \
  switchover_trials:n switchover_gap_median_seconds:s switchover_gap_worst_seconds:s switchover_lost_total:writes switchover_errors_total:n switchover_failed_total:n \
  switchover_promoted_median_seconds:s switchover_haproxy_up_median_seconds:s switchover_first_ack_median_seconds:s \
  failover_trials:n failover_gap_median_seconds:s failover_gap_worst_seconds:s failover_lost_total:writes failover_failed_total:n \
  switchover_command_seconds:s switchover_max_gap_seconds:s switchover_lost:writes \
  crash_new_leader_seconds:s crash_max_gap_seconds:s crash_lost:writes \
  partition_new_leader_seconds:s partition_max_gap_seconds:s partition_lost:writes \
  partition_old_primary_writable_after_cut_seconds:s partition_old_primary_lost:writes; do
  bench_row "$NAME" "${m%%:*}" "$(get "${m%%:*}")" "${m##*:}"
done
# the crash timeline: medians over the trials of each pg_rto, seconds from the kill
for rto in $CRASH_RTOS; do
  for m in trials:n gap_median_seconds:s gap_worst_seconds:s lost_total:writes leader_gone_median_seconds:s \
    new_leader_median_seconds:s promoted_median_seconds:s haproxy_up_median_seconds:s haproxy_all_median_seconds:s \
    first_ack_median_seconds:s; do
    bench_row "$NAME" "crash_rto${rto}_${m%%:*}" "$(get "crash_rto${rto}_${m%%:*}")" "${m##*:}"
  done
done
[[ -z $checks ]] || bench_row "$NAME" checks "$checks"
[[ -z $error ]] || bench_row "$NAME" error "$error"
exit 0
