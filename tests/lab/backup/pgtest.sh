# shellcheck shell=bash
# pgtest.sh: sourced by suites that need pg-test on nodes 2-4 (and the singleton on
# node 1) but may run without the ha suite before them: the same steps as ha.sh's
# set-up (reset nodes 2-4, forget an old pg-test in etcd, merge tests/lab/ha/pg-test.yml
# into node 1's inventory, `pigsty deploy -l pg-test`, INFRA for the targets).
# Needs lib.sh's check/lab/on and INV.

pgtest_meta_ready() { lab ssh 1 "test -s $INV && pigsty status pg-meta >/dev/null 2>&1"; }
pgtest_ready() { lab ssh 1 "test -s $INV && grep -q '^    pg-test:' $INV && pigsty status pg-test >/dev/null 2>&1"; }

pgtest_setup() {
  if pgtest_meta_ready; then
    info "node 1 runs the singleton"
    check "push the binary to node 1" lab push 1 "$REPO_ROOT/target/pigsty" /usr/local/bin/pigsty
  else
    info "no singleton on node 1: installing it as the singleton suite does"
    check "lab1: reset to a fresh disk" lab reset 1
    check "push the binary to node 1" lab push 1 "$REPO_ROOT/target/pigsty" /usr/local/bin/pigsty
    check "pigsty install on node 1" timeout 1800 "$LAB" ssh 1 "chmod 755 /usr/local/bin/pigsty && pigsty install > /root/install.log 2>&1"
  fi
  if pgtest_ready; then
    info "pg-test runs on nodes 2-4 (left by the ha suite)"
    return 0
  fi
  info "no pg-test: setting it up as the ha suite does"
  local i
  for i in 2 3 4; do check "lab$i: reset to a fresh disk" lab reset "$i"; done
  check "no pg-test keys in etcd, no old host keys" lab ssh 1 "pw=\$(sed -n 's/^    etcd_root_password: *//p' $INV | head -n1); ETCDCTL_API=3 ETCDCTL_USER=root:\$pw etcdctl --endpoints=http://10.10.10.10:2379 del --prefix /pg/pg-test/ >/dev/null; for h in 10.10.10.11 10.10.10.12 10.10.10.13; do ssh-keygen -R \$h >/dev/null 2>&1; done; true"
  check "push tests/lab/ha to node 1" lab push 1 "$LAB_DIR/ha" /root/ha
  check "merge pg-test into node 1's inventory" lab ssh 1 "{ ! test -s /etc/pigsty/pigsty.singleton.yml || cp -p /etc/pigsty/pigsty.singleton.yml $INV; } && python3 /root/ha/merge.py /root/ha/pg-test.yml $INV"
  check "pigsty deploy -l pg-test" timeout 2700 "$LAB" ssh 1 "pigsty deploy -l pg-test > /root/pgtest-deploy.log 2>&1"
  check "re-run INFRA on node 1 (pg-test's targets)" timeout 900 "$LAB" ssh 1 "pigsty deploy -l 10.10.10.10 -m infra > /root/pgtest-infra.log 2>&1"
}
