# shellcheck shell=bash
# pgtest.sh: sourced by suites that need pg-test on nodes 2-4 (and the singleton on
# node 1) but may run without the ha suite before them: the same steps as ha.sh's
# set-up (reset nodes 2-4, forget an old pg-test in etcd, merge tests/lab/ha/pg-test.yml
# into node 1's inventory, `pigsty deploy -l pg-test`, INFRA for the targets).
# Needs lib.sh's check/lab/on and INV.

pgtest_ready() { lab ssh 1 "test -s $INV && grep -q '^    pg-test:' $INV && pigsty status pg-test >/dev/null 2>&1"; }

pgtest_setup() {
  singleton_on_admin
  if pgtest_ready; then
    info "pg-test runs on nodes 2-4 (left by the ha suite)"
    return 0
  fi
  info "no pg-test: setting it up as the ha suite does"
  local i
  for i in 2 3 4; do step "lab$i: reset to a fresh disk" lab reset "$i"; done
  step "no pg-test keys in etcd, no old host keys" forget_pg_test 10.10.10.11 10.10.10.12 10.10.10.13
  step "push tests/lab/ha to node 1" lab push 1 "$LAB_DIR/ha" /root/ha
  check "merge pg-test into node 1's inventory" lab ssh 1 "{ ! test -s /etc/pigsty/pigsty.singleton.yml || cp -p /etc/pigsty/pigsty.singleton.yml $INV; } && python3 /root/ha/merge.py /root/ha/pg-test.yml $INV"
  check "pigsty deploy -l pg-test" timeout 2700 "$LAB" ssh 1 "pigsty deploy -l pg-test > /root/pgtest-deploy.log 2>&1"
  check "re-run INFRA on node 1 (pg-test's targets)" timeout 900 "$LAB" ssh 1 "pigsty deploy -l 10.10.10.10 -m infra > /root/pgtest-infra.log 2>&1"
}
