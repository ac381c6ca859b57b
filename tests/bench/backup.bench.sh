#!/usr/bin/env bash
# Bench "backup": pgBackRest through pigsty next to the same pgbackrest commands run by
# hand on the same data in the same run (a full backup of pg-test to MINIO over HTTPS:
# `pigsty pgsql backup` vs `pgbackrest backup`; a restore: pigsty's PITR end to end,
# command to cluster fully healthy including its fresh full backup, vs `pgbackrest
# restore` by hand into a scratch directory), and the disaster-recovery time (deploy
# on reset nodes plus `pitr --latest`).
#
# The numbers come from the backup lab suite (tests/lab/suites/backup.sh with
# BACKUP_BENCH=1 and BACKUP_RESULTS=FILE) on a fresh 4-node lab; the suite installs the
# singleton and pg-test itself. Writes target/bench/backup.json; the suite's output is
# in target/bench/backup.log. Skip with BENCH_SKIP=backup.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=backup
bench_suite "$NAME" backup 4 BACKUP_BENCH=1 BACKUP_RESULTS="$BENCH_DIR/backup.results.json"
python3 - "$RES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def ratio(a, b):
    if r.get(a) and r.get(b):
        return round(r[a] / r[b], 2)
r["backup_full_ratio"] = ratio("backup_full_pigsty_seconds", "backup_full_by_hand_seconds")
r["pitr_to_restore_by_hand_ratio"] = ratio("pitr_pg_test_seconds", "restore_by_hand_seconds")
json.dump(r, open(sys.argv[1], "w"))
PY
get() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$RES" "$1"; }
body=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in r.items()))' "$RES")
bench_json "$NAME" "${body:+$body, }\"checks\": $(json_str_or_null "$checks"), \"error\": $(json_str_or_null "$error")"
for m in backup_full_pigsty_seconds:s backup_full_by_hand_seconds:s backup_full_ratio:x \
  restore_by_hand_seconds:s pitr_pg_test_seconds:s pitr_to_restore_by_hand_ratio:x \
  pitr_pg_meta_seconds:s disaster_recovery_seconds:s minio_add_seconds:s switch_to_minio_seconds:s backup_incr_seconds:s; do
  bench_row backup "${m%%:*}" "$(get "${m%%:*}")" "${m##*:}"
done
[[ -z $checks ]] || bench_row backup checks "$checks"
[[ -z $error ]] || bench_row backup error "$error"
exit 0
