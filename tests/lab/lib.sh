# shellcheck shell=bash
# lib.sh: helpers for lab suites (sourced, not run).
#
#   check "description" CMD...          pass when CMD exits 0
#   check_fails "description" CMD...    pass when CMD exits 1..254 but not 255 (ssh could not
#                                       connect: the probe never ran) nor 124 (timed out)
#   check_refused "description" MSG CMD... pass when CMD fails as check_fails does AND its
#                                       output holds MSG (a refusal says why)
#   check_unreachable "description" CMD... pass when ssh in CMD could not connect (exit 255)
#   check_eq "description" WANT CMD...  pass when CMD's stdout (trailing newlines cut) is WANT
#   step "description" CMD...           set-up, not a check: counts nothing when it works,
#                                       a failed check when it does not
#   retry N SECONDS CMD...              run CMD up to N times, SECONDS apart; its last status
#   singleton_on_admin                  the admin node ($ADMIN_NODE, default 1) runs the
#                                       singleton with this build's binary
#   etcdctl_on_admin ADDR ARGS...       etcdctl as root on the admin node against https://ADDR:2379
#   forget_pg_test ADDR...              the admin node forgets an old pg-test: etcd keys, host keys
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

# The Debian release this suite's nodes run (a suite file may set it before sourcing
# this; `<suite>-trixie.sh` wrappers do): `lab reset I` boots a fresh node of it.
SUITE_DISTRO=${SUITE_DISTRO:-bookworm}
# the node that runs the singleton the suite administers from (ha-mixed: 5, beside the
# ha suite's 1), and its release
ADMIN_NODE=${ADMIN_NODE:-1}
ADMIN_IP=10.10.10.$((9 + ADMIN_NODE))
ADMIN_DISTRO=${ADMIN_DISTRO:-$SUITE_DISTRO}
lab() {
  if [[ ${1:-} == reset && $# -eq 2 ]]; then
    "$LAB" reset "$2" --distro "$SUITE_DISTRO"
  else
    "$LAB" "$@"
  fi
}

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

# run a check's command: stdin from /dev/null, its output kept for a failure report
_run() { "$@" </dev/null >"$_CHECK_OUT" 2>&1; }

check() {
  local desc=$1 rc
  shift
  _run "$@"
  rc=$?
  if ((rc == 0)); then _pass "$desc"; else _fail "$desc" "exit $rc: $*"; fi
  return 0
}

# why a failure does not count as the failure a check wants ("" when it does)
_not_a_failure() { # rc
  case $1 in
    0) echo "expected a failure, got exit 0" ;;
    255) echo "exit 255: ssh could not connect, the probe never ran" ;;
    124) echo "exit 124: timed out, the probe never answered" ;;
  esac
}

check_fails() {
  local desc=$1 rc why
  shift
  _run "$@"
  rc=$?
  why=$(_not_a_failure "$rc")
  if [[ -z $why ]]; then _pass "$desc"; else _fail "$desc" "$why: $*"; fi
  return 0
}

check_refused() {
  local desc=$1 msg=$2 rc why
  shift 2
  _run "$@"
  rc=$?
  why=$(_not_a_failure "$rc")
  if [[ -z $why ]] && ! grep -qF -- "$msg" "$_CHECK_OUT"; then why="exit $rc but the output does not say \`$msg\`"; fi
  if [[ -z $why ]]; then _pass "$desc"; else _fail "$desc" "$why: $*"; fi
  return 0
}

check_unreachable() {
  local desc=$1 rc
  shift
  _run "$@"
  rc=$?
  if ((rc == 255)); then _pass "$desc"; else _fail "$desc" "expected ssh to fail to connect (255), got exit $rc: $*"; fi
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

step() {
  local desc=$1
  shift
  _run "$@" && { info "$desc"; return 0; }
  set -- "$?" "$@"
  _fail "$desc" "set-up failed, exit $1: ${*:2}"
  return "$1"
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

singleton_on_admin() {
  local a=$ADMIN_NODE
  local inv=/etc/pigsty/pigsty.yml
  if lab ssh "$a" "grep -qx VERSION_CODENAME=$ADMIN_DISTRO /etc/os-release && test -s $inv && pigsty status pg-meta >/dev/null 2>&1" </dev/null; then
    info "node $a runs the singleton (left by an earlier suite)"
    step "push the binary to node $a" lab push "$a" "$REPO_ROOT/target/pigsty" /usr/local/bin/pigsty &&
      step "binary is executable" lab ssh "$a" chmod 755 /usr/local/bin/pigsty
  else
    info "no $ADMIN_DISTRO singleton on node $a: installing it as the singleton suite does"
    step "lab$a: reset to a fresh $ADMIN_DISTRO disk" "$LAB" reset "$a" --distro "$ADMIN_DISTRO" &&
      step "push the binary to node $a" lab push "$a" "$REPO_ROOT/target/pigsty" /usr/local/bin/pigsty &&
      step "binary is executable" lab ssh "$a" chmod 755 /usr/local/bin/pigsty
    check "pigsty install on node $a" timeout 1800 "$LAB" ssh "$a" "pigsty install > /root/install.log 2>&1"
  fi
  # the admin's generated password for psql through the service ports, as the singleton suite leaves it
  lab ssh "$a" "umask 077; pw=\$(sed -n 's/^    pg_admin_password: *//p' $inv | head -n1); echo \"*:*:*:dbuser_dba:\$pw\" > /root/.pgpass" </dev/null
}

# /root/bundle.tar and its .sha256 from node FROM to node TO, through DIR on the host
# (they stay there: DIR/bundle.tar, DIR/bundle.tar.sha256)
copy_bundle() { # FROM TO DIR
  local f
  for f in bundle.tar bundle.tar.sha256; do
    lab ssh "$1" cat "/root/$f" >"$3/$f" && lab push "$2" "$3/$f" "/root/$f" || return 1
  done
}

# `pigsty install --pkg` on node N of a bundle built on another release: refused, naming
# both releases, with nothing unpacked and no inventory written. BUNDLE is a file on the
# host (its .sha256 beside it). With FAKE_FROM=VER, BUNDLE is instead the node's own
# bundle (a path on node N) relabelled: its manifest's version_id VER replaced by BUNDLE_VER (when no
# real bundle of that release is at hand). BUNDLE_VER and NODE_VER: the Debian versions
# the error must name.
bundle_of_other_release_refused() { # N BUNDLE BUNDLE_VER NODE_VER [FAKE_FROM]
  local n=$1 b=$2 bv=$3 nv=$4 fake=${5:-}
  if [[ -n $fake ]]; then
    lab ssh "$n" "rm -rf /tmp/fake && mkdir -p /tmp/fake/pigsty-bundle/repo && tar -xOf $b pigsty-bundle/manifest.json | sed 's/\"version_id\": \"$fake\"/\"version_id\": \"$bv\"/' > /tmp/fake/pigsty-bundle/manifest.json && tar -C /tmp/fake -cf /root/other.tar pigsty-bundle && cd /root && sha256sum other.tar > other.tar.sha256" || return 1
  else
    lab push "$n" "$b" /root/other.tar && lab push "$n" "$b.sha256" /root/other.tar.sha256 || return 1
  fi
  local out
  out=$(lab ssh "$n" "pigsty install --pkg /root/other.tar" 2>&1) && { echo "installed a bundle of Debian $bv"; return 1; }
  echo "$out"
  grep -q "built on debian $bv .* but this machine is debian $nv" <<<"$out" || { echo "the error does not name both releases"; return 1; }
  lab ssh "$n" "rm -f /root/other.tar /root/other.tar.sha256; test -e /etc/pigsty/pigsty.yml || test -e /www/pigsty" && { echo "something was written"; return 1; }
  return 0
}

etcdctl_on_admin() {
  local ep=$1
  shift
  lab ssh "$ADMIN_NODE" "pw=\$(sed -n 's/^    etcd_root_password: *//p' /etc/pigsty/pigsty.yml | head -n1); ETCDCTL_API=3 ETCDCTL_USER=root:\$pw etcdctl --cacert=/etc/pki/ca.crt --endpoints=https://$ep:2379 $*"
}

forget_pg_test() {
  etcdctl_on_admin "$ADMIN_IP" del --prefix /pg/pg-test/ >/dev/null &&
    lab ssh "$ADMIN_NODE" "for h in $*; do test ! -e /root/.ssh/known_hosts || ssh-keygen -R \$h >/dev/null 2>&1 || exit 1; done"
}

recap_changed() { # the `changed` total of a --json run's recap line (on stdin)
  python3 -c 'import json,sys
r=[json.loads(l) for l in sys.stdin if l.startswith("{")]
r=[x for x in r if x.get("event")=="recap"][-1]
print(sum(h["changed"] for h in r["hosts"].values()))'
}

# a --json run's recap (a file on the admin node): BAD failed, every other host did not
only_failed() { # FILE BAD
  lab ssh "$ADMIN_NODE" cat "$1" | python3 -c 'import json,sys
r=[json.loads(l) for l in sys.stdin if l.startswith("{")]
r=[x for x in r if x.get("event")=="recap"][-1]["hosts"]
bad=sys.argv[1]
ok=[h for h in r if h!=bad and r[h]["failed"]==0]
print(r.get(bad, {}).get("failures"), ok)
sys.exit(0 if len(ok)==len(r)-1 and r.get(bad,{}).get("failed",0)>0 else 1)' "$2"
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
