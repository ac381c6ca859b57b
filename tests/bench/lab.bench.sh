#!/usr/bin/env bash
# Bench "lab": wall time of `tests/lab/lab.sh up 4` with a warm base-image cache.
#
#   lab.sh down            (clean slate)
#   lab.sh up 1 ; down     (warm-up, untimed for the result: builds/caches the base image
#                           if it is not cached yet; skip with BENCH_LAB_WARMUP=0)
#   lab.sh up 4            (timed)
#   lab.sh down            (always, also on error or Ctrl-C)
#
# Writes target/bench/lab.json and the lab's output to target/bench/lab.log. A missing or
# failing lab script is recorded as an error in the JSON; this script still exits 0.
# WARNING: `lab.sh down` tears down any running lab; skip this bench with BENCH_SKIP=lab.
#
# Environment: BENCH_LAB_NODES (4), BENCH_LAB_WARMUP (1), BENCH_LAB_TIMEOUT seconds per
# lab command (1800), BENCH_LAB_SCRIPT (tests/lab/lab.sh).
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=lab
LAB=${BENCH_LAB_SCRIPT:-tests/lab/lab.sh}
NODES=${BENCH_LAB_NODES:-4}
WARMUP=${BENCH_LAB_WARMUP:-1}
TIMEOUT=${BENCH_LAB_TIMEOUT:-1800}
LOG="$BENCH_DIR/lab.log"

up_seconds=""
up_exit=""
warmup_seconds=""
error=""
: >"$LOG"

# lab ARGS...: run the lab script with a timeout, output appended to the log.
lab() {
  echo "+ $LAB $*" >>"$LOG"
  if command -v timeout >/dev/null; then
    timeout --kill-after=30 "$TIMEOUT" "$LAB" "$@" >>"$LOG" 2>&1
  else
    "$LAB" "$@" >>"$LOG" 2>&1
  fi
}

# fail_with MESSAGE: remember the first error, with the tail of the log.
fail_with() {
  if [[ -z $error ]]; then
    error="$1"
    local tail
    tail=$(tail -n 20 "$LOG" 2>/dev/null || true)
    if [[ -n $tail ]]; then
      error+=$'\n'"last lines of $LOG:"$'\n'"$tail"
    fi
  fi
}

write_result() {
  local summary_error=${error%%$'\n'*}
  if [[ -n $up_seconds && -z $error ]]; then
    bench_row "$NAME" "lab.sh up $NODES (warm cache)" "$up_seconds" "s"
  else
    bench_row "$NAME" "lab.sh up $NODES (warm cache)" "error: ${summary_error:-no result}"
  fi
  if [[ -n $warmup_seconds ]]; then
    bench_row "$NAME" "warm-up lab.sh up 1" "$warmup_seconds" "s"
  fi
  bench_json "$NAME" "$(printf '"nodes": %s, "command": %s, "seconds": %s, "exit_code": %s, "warmup_seconds": %s, "error": %s, "log": %s' \
    "$(json_num_or_null "$NODES")" \
    "$(json_str "$LAB up $NODES")" \
    "$(json_num_or_null "$up_seconds")" \
    "$(json_num_or_null "$up_exit")" \
    "$(json_num_or_null "$warmup_seconds")" \
    "$(json_str_or_null "$error")" \
    "$(json_str "$LOG")")"
}

# finish: on every exit, tear the lab down if this bench touched it, then write the JSON.
finish() {
  local rc=$?
  if ((lab_touched)); then
    echo "lab: $LAB down" >&2
    lab down || echo "warning: \`$LAB down\` failed; see $LOG" >&2
  fi
  if ((rc != 0)); then
    fail_with "the bench was interrupted or crashed (exit $rc)"
  fi
  write_result
}

main() {
  if [[ ! -f $LAB ]]; then
    fail_with "\`$LAB\` not found; hint: the lab is not in this tree yet"
    return
  fi
  if [[ ! -x $LAB ]]; then
    fail_with "\`$LAB\` is not executable"
    return
  fi
  if ! [[ $NODES =~ ^[1-9][0-9]*$ ]]; then
    fail_with "BENCH_LAB_NODES=\`$NODES\` is not a positive number"
    return
  fi

  # From here on the lab must be torn down whatever happens (finish does it).
  lab_touched=1
  echo "lab: $LAB down (clean slate)" >&2
  if ! lab down; then
    fail_with "\`$LAB down\` failed before the bench"
    return
  fi

  if [[ $WARMUP != 0 ]]; then
    echo "lab: warm-up $LAB up 1 (fills the base-image cache)" >&2
    local t0 t1
    t0=$(bench_now)
    if ! lab up 1; then
      fail_with "warm-up \`$LAB up 1\` failed"
      return
    fi
    t1=$(bench_now)
    warmup_seconds=$(bench_elapsed "$t0" "$t1")
    if ! lab down; then
      fail_with "\`$LAB down\` after the warm-up failed"
      return
    fi
  fi

  echo "lab: timing $LAB up $NODES" >&2
  local start end rc=0
  start=$(bench_now)
  lab up "$NODES" || rc=$?
  end=$(bench_now)
  up_exit=$rc
  if ((rc != 0)); then
    fail_with "\`$LAB up $NODES\` failed (exit $rc)"
    return
  fi
  up_seconds=$(bench_elapsed "$start" "$end")
  echo "lab: up $NODES took ${up_seconds}s" >&2
}

lab_touched=0
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
main
