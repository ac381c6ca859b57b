#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# etcd: `pigsty etcd add` grows node 1's one-member DCS to three (nodes 2 and 3, each
# announced with `member add` before it starts, one at a time), then `pigsty etcd rm`
# shrinks it back to one; refusals (wrong name, every member, etcd_safeguard) change
# nothing; pg-meta (whose Patroni uses this DCS) stays healthy throughout.
# Runs on node 1's singleton (installs it when missing); nodes 2-3 may be fresh or
# carry pg-test (ha suite).
# shellcheck disable=SC2034 # read by run.sh
NODES=3
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

META=10.10.10.10
INV=/etc/pigsty/pigsty.yml
on() { lab ssh 1 "$@"; }

echo "-- node 1: the singleton meta node"
singleton_on_admin
healthy_cluster() { on "pigsty status pg-meta >/dev/null"; }

echo "-- pigsty etcd add / rm: the DCS grows to 3 members (nodes 2 and 3) and back to 1"
E2=10.10.10.11 E3=10.10.10.12
etcd_list() { etcdctl_on_admin "$META" member list; }
started_members() { etcd_list | grep -c ', started, '; }
check "nodes 2 and 3 go into group etcd (etcd_seq 2, 3) in node 1's inventory" \
  on "cp -p $INV /root/pigsty.pre-etcd.yml && sed -i 's/^        $META: { etcd_seq: 1 }\$/&\n        $E2: { etcd_seq: 2 }\n        $E3: { etcd_seq: 3 }/' $INV && grep -q '$E3: { etcd_seq: 3 }' $INV"
at_exit on "cp -p /root/pigsty.pre-etcd.yml $INV"
check "pigsty etcd add $E2 $E3" timeout 900 "$LAB" ssh 1 "pigsty etcd add $E2 $E3 > /root/ha-etcd-add.log 2>&1"
on tail -n 3 /root/ha-etcd-add.log | sed 's/^/     | /'
check_eq "etcd lists 3 started members" 3 started_members
for e in $E2 $E3; do
  check "the new member $e serves a quorum read" etcdctl_on_admin "$e" endpoint health
done
check "pg-meta is healthy with the 3-member DCS" retry 30 2 healthy_cluster
check_refused "etcd rm with a wrong name typed back is refused" "does not match" on "echo nope | pigsty etcd rm $E2"
check_refused "etcd rm of every member is refused" "that is every etcd member" on "pigsty etcd rm $META $E2 $E3 --yes"
check_refused "etcd rm with etcd_safeguard on is refused" "etcd_safeguard is on" on "pigsty etcd rm $E2 --yes -e etcd_safeguard=true"
check "pigsty etcd rm $E2 $E3 --yes" timeout 900 "$LAB" ssh 1 "pigsty etcd rm $E2 $E3 --yes > /root/ha-etcd-rm.log 2>&1"
on tail -n 3 /root/ha-etcd-rm.log | sed 's/^/     | /'
check_eq "etcd lists 1 started member" 1 started_members
check_fails "etcd no longer runs on node 2" lab ssh 2 systemctl is-active --quiet etcd
check_fails "etcd no longer runs on node 3" lab ssh 3 systemctl is-active --quiet etcd
step "the inventory without nodes 2 and 3 in group etcd again" on "cp -p /root/pigsty.pre-etcd.yml $INV"
# nodes 2 and 3 left the inventory with the edit: the infra node drops their targets
check "pigsty deploy -l $META -m infra (the targets of nodes 2 and 3 dropped)" timeout 600 "$LAB" ssh 1 "pigsty deploy -l $META -m infra > /root/etcd-infra.log 2>&1"
check "pigsty plan --check finds nothing to do on node 1" on "pigsty plan -l $META --check >/dev/null 2>&1"
check "pg-meta is healthy" retry 30 2 healthy_cluster

summary
