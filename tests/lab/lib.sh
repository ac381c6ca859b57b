# shellcheck shell=bash
# lib.sh: helpers for lab suites (sourced, not run).
#
#   check "description" CMD...          pass when CMD exits 0
#   check_fails "description" CMD...    pass when CMD exits non-zero
#   check_eq "description" WANT CMD...  pass when CMD's stdout (trailing newlines cut) is WANT
#   retry N SECONDS CMD...              run CMD up to N times, SECONDS apart; its last status
#   lab VERB ARGS...                    tests/lab/lab.sh
#   at_exit CMD...                      run CMD when the suite ends (cleanup of what it started)
#   summary                             prints `N passed, N failed`; exit 1 if any failed
#
# A check never aborts the suite: it records the result, prints `ok` or `FAIL` and, on
# failure, the command and the tail of its output. CMD runs with stdin from /dev/null.
# CMD may be a shell function; a function's status is its last command's (set -e does
# not apply inside a check), so chain steps with && in such functions.
#
# Suites declare `NODES=<n>` (the number of lab nodes they need, read by run.sh without
# running the suite) and end with `summary`.

set -uo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LAB_DIR/../.." && pwd)
LAB=$LAB_DIR/lab.sh
export LAB_DIR REPO_ROOT LAB

PASSED=0
FAILED=0
FAILED_NAMES=()
_CHECK_OUT=$(mktemp "${TMPDIR:-/tmp}/lab-check.XXXXXX")
_AT_EXIT=()

# at_exit CMD...: run CMD when the suite ends (last registered runs first), also on
# Ctrl-C or SIGTERM. For things the suite started: `at_exit kill "$pid"`.
at_exit() { _AT_EXIT+=("$(printf '%q ' "$@")"); }
_run_at_exit() {
  local i
  for ((i = ${#_AT_EXIT[@]} - 1; i >= 0; i--)); do eval "${_AT_EXIT[i]}" || true; done
  rm -f "$_CHECK_OUT"
}
trap _run_at_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lab() { "$LAB" "$@"; }

info() { echo "  .. $*"; }

_pass() {
  PASSED=$((PASSED + 1))
  echo "ok   $1"
}
_fail() { # description why
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  echo "FAIL $1"
  echo "     $2"
  if [[ -s $_CHECK_OUT ]]; then
    tail -n 20 "$_CHECK_OUT" | sed 's/^/     | /'
  fi
}

check() {
  local desc=$1 rc
  shift
  "$@" </dev/null >"$_CHECK_OUT" 2>&1
  rc=$?
  if ((rc == 0)); then _pass "$desc"; else _fail "$desc" "exit $rc: $*"; fi
  return 0
}

check_fails() {
  local desc=$1 rc
  shift
  "$@" </dev/null >"$_CHECK_OUT" 2>&1
  rc=$?
  if ((rc != 0)); then _pass "$desc"; else _fail "$desc" "expected a failure, got exit 0: $*"; fi
  return 0
}

check_eq() {
  local desc=$1 want=$2 got rc
  shift 2
  got=$("$@" </dev/null 2>"$_CHECK_OUT")
  rc=$?
  if ((rc == 0)) && [[ $got == "$want" ]]; then
    _pass "$desc"
  else
    _fail "$desc" "exit $rc: $*: want \`$want\`, got \`$got\`"
  fi
  return 0
}

retry() {
  local n=$1 pause=$2 i rc=1
  shift 2
  for ((i = 1; i <= n; i++)); do
    "$@" && return 0
    rc=$?
    ((i < n)) && sleep "$pause"
  done
  return "$rc"
}

summary() {
  local name
  _run_at_exit
  _AT_EXIT=()
  if ((FAILED)); then
    echo "failed checks:"
    for name in "${FAILED_NAMES[@]}"; do echo "  - $name"; done
  fi
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0)) || exit 1
  exit 0
}
