#!/usr/bin/env bash
# Bench "singleton": `pigsty install` wall time on a fresh lab node, next to the floor:
# `apt-get install` of the same package set plus starting the same services on an
# identical fresh node, measured in the same run; their ratio; and the wall time of a
# no-op re-run (`pigsty install` on the converged node).
#
# Uses lab nodes 1 and 2 (brings the lab up with 2 nodes, takes it down at the end).
# Writes target/bench/singleton.json. Skip with BENCH_SKIP=singleton.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=singleton
LAB=tests/lab/lab.sh
LOG="$BENCH_DIR/singleton.log"
: >"$LOG"
error=""
install_s="" floor_s="" noop_s="" ratio="" pkgs=""

lab() { echo "+ $LAB $*" >>"$LOG"; "$LAB" "$@" 2>>"$LOG"; }
finish() { "$LAB" down >>"$LOG" 2>&1 || true; }
trap finish EXIT

run() {
  lab down >/dev/null || return 1
  lab up 2 >/dev/null || return 1
  lab push 1 target/pigsty /usr/local/bin/pigsty && lab ssh 1 chmod 755 /usr/local/bin/pigsty || return 1

  local t0 t1
  t0=$(bench_now)
  lab ssh 1 "pigsty install --json" >"$BENCH_DIR/singleton.events" || { error="pigsty install failed (see $LOG)"; return 1; }
  t1=$(bench_now)
  install_s=$(bench_elapsed "$t0" "$t1")

  # the package set and the units pigsty installed and started
  pkgs=$(python3 -c 'import json,sys
names=[]
for l in open(sys.argv[1]):
    if not l.startswith("{"): continue
    e=json.loads(l)
    if e.get("event")=="step" and e.get("kind")=="package" and e.get("status")=="changed":
        for d in e.get("diffs",[]):
            if d.startswith("install "): names+=d.split()[1:]
print(" ".join(dict.fromkeys(names)))' "$BENCH_DIR/singleton.events")
  local units
  units=$(python3 -c 'import json,sys
u=[]
for l in open(sys.argv[1]):
    if not l.startswith("{"): continue
    e=json.loads(l)
    if e.get("event")=="step" and e.get("kind")=="service" and "start" in e.get("diffs",[]): u.append(e["name"])
print(" ".join(dict.fromkeys(u)))' "$BENCH_DIR/singleton.events")
  echo "packages: $pkgs" >>"$LOG"
  echo "units: $units" >>"$LOG"

  t0=$(bench_now)
  lab ssh 2 "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $pkgs >/dev/null && systemctl start $units" >>"$LOG" 2>&1 ||
    echo "floor: some units did not start as-is (expected without pigsty's configs)" >>"$LOG"
  t1=$(bench_now)
  floor_s=$(bench_elapsed "$t0" "$t1")

  t0=$(bench_now)
  lab ssh 1 "pigsty install" >>"$LOG" 2>&1 || { error="no-op re-run failed"; return 1; }
  t1=$(bench_now)
  noop_s=$(bench_elapsed "$t0" "$t1")
  ratio=$(awk -v a="$install_s" -v b="$floor_s" 'BEGIN { if (b > 0) printf "%.2f\n", a / b }')
}

run || error=${error:-"lab failed (see $LOG)"}

bench_json "$NAME" "\"install_seconds\": $(json_num_or_null "$install_s"), \"floor_seconds\": $(json_num_or_null "$floor_s"), \"install_over_floor\": $(json_num_or_null "$ratio"), \"noop_rerun_seconds\": $(json_num_or_null "$noop_s"), \"packages\": $(json_str "$pkgs"), \"error\": $(json_str_or_null "$error")"
bench_row singleton install "${install_s:-error}" s
bench_row singleton floor_apt_install_and_start "${floor_s:-error}" s
bench_row singleton install_over_floor "${ratio:-error}" x
bench_row singleton noop_rerun "${noop_s:-error}" s
[[ -z $error ]] || bench_row singleton error "$error"
exit 0
