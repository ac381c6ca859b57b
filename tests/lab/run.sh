#!/usr/bin/env bash
# run.sh SUITE...: run lab suites (tests/lab/suites/<name>.sh) on one shared lab.
# `A+B` runs suites A and B at the same time: they must use different nodes (a suite
# waiting on HA timers leaves the CPU to one installing packages); the lines of B and
# later ones in the group are shown prefixed with `[B]`.
#
# Brings up as many nodes as the most demanding suite declares (`NODES=`), runs the
# suites in the order given, then always takes the lab down and checks that nothing
# is left behind (processes, mounts, bridge, veths, iptables rules, cgroups). Those
# checks count in the summary. The last line is `N passed, N failed`; exit 1 if any
# check failed.
#
#   KEEP_LAB=1          leave the lab up afterwards for debugging (no down, no leftover checks)
#   SUITE_TIMEOUT=SECS  a suite running longer is stopped and counts as failed (default 1800)
#
# Suites may leave files for later ones in $LAB_SHARE (removed with the run's output).
set -uo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

usage() {
  echo "usage: tests/lab/run.sh SUITE...   (suites: $(cd "$LAB_DIR/suites" && for f in *.sh; do printf '%s ' "${f%.sh}"; done))" >&2
  exit 2
}

(($#)) || usage
[[ $(id -u) -eq 0 ]] || { echo "run: error: lab suites need root (nspawn, mounts, bridge)" >&2; exit 2; }

nodes=1
for s in ${*//+/ }; do
  f=$LAB_DIR/suites/$s.sh
  [[ -f $f ]] || { echo "run: error: no suite \`$s\` ($f)" >&2; usage; }
  n=$(sed -n 's/^NODES=\([0-9][0-9]*\).*/\1/p' "$f" | head -n1)
  [[ -n $n ]] || { echo "run: error: suite \`$s\` does not declare NODES=<n>" >&2; exit 2; }
  ((n > nodes)) && nodes=$n
done

# One lab at a time on this machine (the bridge and addresses are fixed): wait for the
# lock another run holds (LAB_LOCK_WAIT seconds, default 2 h).
exec 8>/run/lock/pigsty-lab.lock
if ! flock -n 8; then
  echo "== another lab run holds /run/lock/pigsty-lab.lock: waiting"
  flock -w "${LAB_LOCK_WAIT:-7200}" 8 || { echo "run: error: the lab lock was not released in time" >&2; exit 2; }
fi

OUT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lab-run.XXXXXX")
# files one suite leaves for a later one in this run (the repo suite's bundle)
export LAB_SHARE=$OUT_DIR/share
mkdir -p "$LAB_SHARE"

# Nothing of the lab may survive `lab.sh down`.
no_node_process() {
  local p cmd found=""
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    [[ $cmd == *systemd-nspawn*--machine=lab[0-9]* ]] && found+="${p#/proc/} "
  done
  [[ -z $found ]] || { echo "systemd-nspawn processes still running: $found"; return 1; }
}
no_lab_mount() {
  local m
  m=$(findmnt -rn -o TARGET | grep -F /var/lib/pigsty-lab || true)
  [[ -z $m ]] || { echo "still mounted: $m"; return 1; }
}
no_bridge() {
  ! ip link show pgbr0 2>/dev/null && [[ -z $(ip -o link show | grep -E ' vb-lab[0-9]+' || true) ]]
}
no_lab_rule() {
  local r
  r=$( (iptables -w -S; iptables -w -t nat -S) 2>&1 | grep -E 'pigsty-lab|10\.10\.10\.0/24|pgbr0' || true)
  [[ -z $r ]] || { echo "rules left: $r"; return 1; }
}
no_lab_cgroup() {
  local c
  c=$(find /sys/fs/cgroup -maxdepth 3 -type d -name pigsty-lab 2>/dev/null || true)
  [[ -z $c ]] || { echo "cgroups left: $c"; return 1; }
}

SUITE_PIDS=()  # the running group's suites (pids, names) and their output tails
SUITE_NAMES=()
TAIL_PIDS=()
SUITE_RESULT=""
# tally SUITE: add the suite's counts from its summary line; a suite that did not get
# to its summary counts its ok/FAIL lines so far plus one failure.
tally() {
  local out=$OUT_DIR/$1.out line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" 2>/dev/null | tail -n1 || true)
  if [[ -n $line ]]; then
    read -r p _ f _ <<<"$line"
    SUITE_RESULT=$line
  else
    p=$(grep -c '^ok ' "$out" 2>/dev/null || true)
    f=$(grep -c '^FAIL ' "$out" 2>/dev/null || true)
    f=$((${f:-0} + 1))
    FAILED_NAMES+=("suite $1 did not finish")
    SUITE_RESULT="did not finish: ${p:-0} passed, $((f - 1)) failed so far"
  fi
  PASSED=$((PASSED + ${p:-0}))
  FAILED=$((FAILED + f))
  ((f == 0)) || [[ -z $line ]] || FAILED_NAMES+=("suite $1: $f check(s)")
}
finish() {
  local rc=$?
  trap - EXIT INT TERM
  local i
  for i in "${!SUITE_PIDS[@]}"; do
    if kill -0 "${SUITE_PIDS[i]}" 2>/dev/null; then
      echo "== stopping suite ${SUITE_NAMES[i]} (pid ${SUITE_PIDS[i]})"
      kill -TERM "${SUITE_PIDS[i]}" 2>/dev/null
      wait "${SUITE_PIDS[i]}" 2>/dev/null
      tally "${SUITE_NAMES[i]}"
      echo "== suite ${SUITE_NAMES[i]}: $SUITE_RESULT"
    fi
  done
  for i in "${TAIL_PIDS[@]}"; do kill "$i" 2>/dev/null; wait "$i" 2>/dev/null; done
  if [[ -n ${GARAGE_PID:-} ]] && kill -0 "$GARAGE_PID" 2>/dev/null; then # still building: stop it
    pkill -TERM -P "$GARAGE_PID" 2>/dev/null; kill "$GARAGE_PID" 2>/dev/null; wait "$GARAGE_PID" 2>/dev/null
  fi
  if [[ ${KEEP_LAB:-0} == 1 ]]; then
    echo "== KEEP_LAB=1: the lab stays up (tests/lab/lab.sh status; tests/lab/lab.sh down)"
  else
    echo "== lab down"
    check "lab down succeeds" "$LAB" down
    check "after down: no node process" no_node_process
    check "after down: no overlay mount" no_lab_mount
    check "after down: no bridge pgbr0, no vb-lab veth" no_bridge
    check "after down: no lab iptables rule" no_lab_rule
    check "after down: no lab cgroup" no_lab_cgroup
  fi
  rm -rf "$OUT_DIR" "$_CHECK_OUT"
  ((rc == 0)) || [[ $rc == 1 ]] || echo "run: interrupted (exit $rc)"
  summary
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the backup and rich suites need a Garage binary: build it (once, cached; a few minutes of idle CPU)
# in the background at low priority while the suites before it run
if [[ " ${*//+/ } " == *" backup "* || " ${*//+/ } " == *" rich "* ]]; then
  "$LAB_DIR/garage.sh" >/dev/null 2>"$OUT_DIR/garage.log" &
  GARAGE_PID=$!
  echo "== garage: built in the background for the backup suite (pid $GARAGE_PID)"
fi

echo "== lab up $nodes"
started=$SECONDS
if ! "$LAB" up "$nodes"; then
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("lab up $nodes")
  echo "FAIL lab up $nodes"
  exit 1
fi
echo "== lab up in $((SECONDS - started)) s"

for group in "$@"; do
  read -ra suites <<<"${group//+/ }"
  if [[ " ${suites[*]} " == *" backup "* || " ${suites[*]} " == *" rich "* ]] && [[ -n ${GARAGE_PID:-} ]] && kill -0 "$GARAGE_PID" 2>/dev/null; then
    t=$SECONDS
    echo "== waiting for the garage build (not counted in the suite's time limit)"
    wait "$GARAGE_PID" || tail -n 20 "$OUT_DIR/garage.log"
    echo "== garage build done after $((SECONDS - t)) s more"
  fi
  started=$SECONDS
  t0=$(date +%s)
  SUITE_PIDS=() SUITE_NAMES=() TAIL_PIDS=()
  for s in "${suites[@]}"; do
    prefix=""
    ((${#SUITE_PIDS[@]} == 0)) || prefix="[$s] " # the first suite of a group prints as always
    echo "== suite $s"
    # in the background, so a SIGTERM/SIGINT to run.sh is handled at once (finish stops it)
    : >"$OUT_DIR/$s.out" # before tail starts: the suite's own redirect may come later
    timeout "${SUITE_TIMEOUT:-1800}" bash "$LAB_DIR/suites/$s.sh" </dev/null >"$OUT_DIR/$s.out" 2>&1 &
    SUITE_PIDS+=($!)
    SUITE_NAMES+=("$s")
    # section lines (`-- ...`) get the suite's elapsed seconds, to see where the time goes
    tail -n +1 -f --pid="$!" "$OUT_DIR/$s.out" | while IFS= read -r l; do
      [[ $l == "-- "* ]] && l="-- [$((SECONDS - started)) s] ${l#-- }"
      printf '%s%s\n' "$prefix" "$l"
    done &
    TAIL_PIDS+=($!)
  done
  for i in "${!SUITE_PIDS[@]}"; do
    wait "${SUITE_PIDS[i]}"
    wait "${TAIL_PIDS[i]}"
  done
  for s in "${suites[@]}"; do
    tally "$s"
    # its time: until its last line (the summary), also when the group ran longer
    echo "== suite $s: $SUITE_RESULT ($(($(stat -c %Y "$OUT_DIR/$s.out") - t0)) s)"
  done
  ((${#suites[@]} == 1)) || echo "== group $group: $((SECONDS - started)) s"
  SUITE_PIDS=() SUITE_NAMES=() TAIL_PIDS=()
done
