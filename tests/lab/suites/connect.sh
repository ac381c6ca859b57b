#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# connect: nodes reached the way Ansible users write it (#14), from node 1's singleton.
# - lab2: root may not log in from node 1, and sshd answers node 1 on port 2222 only
#   (port 22 stays for the lab harness on the bridge address): reached as `ops`, a
#   sudo-capable user, with `ansible_user`, `ansible_port` and `ansible_become`.
# - lab3: refuses ssh from node 1 altogether; reached through lab2 with `ProxyJump` in
#   node 1's ~/.ssh/config (no ansible_* variable at all).
# Both converge the NODE module, re-run with 0 changed, `plan --check` 0. Failure
# modes: `ops` without sudo rights, then a wrong key: each gives its own error for
# lab2, and lab3 still converges.
# Then, over those same connections, a standby cluster of pg-meta (#15): pg-sby with
# its leader on lab2 (`pg_upstream: 10.10.10.10`) and a delayed replica on lab3
# (`pg_delay: 1min`): the leader follows pg-meta's writes, lab3 replays them about a
# minute late; `pigsty pgsql promote pg-sby` makes lab2 accept writes on a new
# timeline, no longer following pg-meta; `pigsty pgsql rm pg-sby` removes it.
# shellcheck disable=SC2034 # read by run.sh
NODES=3
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

INV=/etc/pigsty/pigsty.yml
KEEP=/etc/pigsty/pigsty.connect-before.yml
on() { lab ssh 1 "$@"; }

# set (or with no value, remove) a host variable of group `conn` in node 1's inventory
host_var() { # HOST KEY [VALUE]
  on "python3 - $INV '$1' '$2' '${3:-}' <<'PY'
import sys, yaml
path, host, key, val = sys.argv[1:5]
doc = yaml.safe_load(open(path))
h = doc['all']['children']['conn']['hosts'][host]
if val: h[key] = yaml.safe_load(val)
else: h.pop(key, None)
open(path, 'w').write(yaml.safe_dump(doc, sort_keys=False))
PY"
}

#------------------------------------------------------------------------------
echo "-- node 1: the singleton meta node"
singleton_on_admin

echo "-- lab2 and lab3 on fresh disks, with the ssh setups users have"
for i in 2 3; do
  step "lab$i: reset to a fresh disk" lab reset "$i"
done
step "no old host keys of lab2 and lab3 in root's known_hosts on node 1" \
  on "for h in 10.10.10.11 10.10.10.12 '[10.10.10.11]:2222'; do test ! -e /root/.ssh/known_hosts || ssh-keygen -R \"\$h\" >/dev/null 2>&1 || exit 1; done"
step "lab2: user ops with password-less sudo and node 1's key" lab ssh 2 \
  "useradd -m -s /bin/bash ops && install -d -m 700 -o ops -g ops ~ops/.ssh && install -m 600 -o ops -g ops /root/.ssh/authorized_keys ~ops/.ssh/authorized_keys && echo 'ops ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/ops && chmod 440 /etc/sudoers.d/ops"
step "lab2: sshd on 22 and 2222; from node 1 no root login, and port 2222 only" lab ssh 2 \
  "printf 'Port 22\nPort 2222\n' > /etc/ssh/sshd_config.d/00-connect.conf && printf '\nMatch Address 10.10.10.10 LocalPort 22\n    DenyUsers *\nMatch Address 10.10.10.10\n    PermitRootLogin no\n' >> /etc/ssh/sshd_config && sshd -t && systemctl restart ssh"
step "lab3: sshd refuses node 1 (reached through lab2 only)" lab ssh 3 \
  "printf '\nMatch Address 10.10.10.10\n    DenyUsers *\n' >> /etc/ssh/sshd_config && sshd -t && systemctl restart ssh"
step "node 1: ~/.ssh/config jumps to lab3 through ops@lab2:2222" on \
  "install -d -m 700 /root/.ssh && touch /root/.ssh/config && chmod 600 /root/.ssh/config && sed -i '/^# connect suite/,/^# end connect suite/d' /root/.ssh/config && printf '# connect suite\nHost 10.10.10.12\n    ProxyJump ops@10.10.10.11:2222\n# end connect suite\n' >> /root/.ssh/config"
at_exit on "sed -i '/^# connect suite/,/^# end connect suite/d' /root/.ssh/config"
step "node 1 knows lab2's host key on port 2222 (the jump host's, as its user would)" on \
  "ssh-keygen -R '[10.10.10.11]:2222' >/dev/null 2>&1; ssh-keyscan -p 2222 10.10.10.11 2>/dev/null | grep -q . && ssh-keyscan -p 2222 10.10.10.11 >> /root/.ssh/known_hosts 2>/dev/null"
denied() { on "ssh -F /dev/null -o BatchMode=yes -o ControlMaster=no $* true 2>&1 | grep -q 'Permission denied'"; }
check "node 1 cannot log in to lab2 as root (port 2222): permission denied" denied -p 2222 root@10.10.10.11
check "node 1 cannot log in to lab2 on port 22: permission denied" denied -p 22 ops@10.10.10.11
check "node 1 cannot log in to lab3 directly: permission denied" denied root@10.10.10.12

echo "-- the inventory: node 1's singleton plus group conn, lab2 as ops on 2222 with sudo, lab3 plain"
step "keep node 1's inventory aside" on "cp -p $INV $KEEP"
at_exit on "test ! -s $KEEP || mv -f $KEEP $INV"
# earlier suites leave pg-test on lab2-4 in it (the ha suite keeps the singleton's aside)
step "start from the singleton's inventory" on "! test -s /etc/pigsty/pigsty.singleton.yml || cp -p /etc/pigsty/pigsty.singleton.yml $INV"
check "lab2 and lab3 are in no group yet" on "! grep -qE '^ +10\.10\.10\.1[12]:' $INV"
step "add group conn" on "python3 - $INV <<'PY'
import sys, yaml
path = sys.argv[1]
doc = yaml.safe_load(open(path))
doc['all']['children']['conn'] = {'hosts': {
    '10.10.10.11': {'ansible_user': 'ops', 'ansible_port': 2222, 'ansible_become': True},
    '10.10.10.12': {}}}
open(path, 'w').write(yaml.safe_dump(doc, sort_keys=False))
PY"
check "pigsty validate accepts the connection variables" on "pigsty validate >/dev/null"

echo "-- both converge, re-run 0 changed, plan --check 0"
check "pigsty deploy -l conn -m node (first contact)" \
  timeout 1200 "$LAB" ssh 1 "pigsty deploy -l conn -m node --accept-new-host-keys > /root/conn-deploy.log 2>&1"
on tail -n 4 /root/conn-deploy.log | sed 's/^/     | /'
exporter_up() { on "curl -sf -o /dev/null http://$1:9100/metrics"; }
check "lab2's node_exporter answers" retry 10 1 exporter_up 10.10.10.11
check "lab3's node_exporter answers" retry 10 1 exporter_up 10.10.10.12
check "lab2 runs pigsty's node mode as root (the binary is root's)" lab ssh 2 "test \$(stat -c %U /usr/local/bin/pigsty) = root"
changed_rerun() { on "pigsty deploy -l conn -m node --json 2>/dev/null" | recap_changed; }
check_eq "a re-run changes nothing" 0 changed_rerun
check "pigsty plan -l conn -m node --check: nothing to do" on "pigsty plan -l conn -m node --check >/dev/null 2>&1"

echo "-- failure modes: each its own error for lab2, lab3 converges"
step "lab2: ops loses its sudo rights" lab ssh 2 "mv /etc/sudoers.d/ops /root/ops.sudoers"
at_exit lab ssh 2 "test ! -e /root/ops.sudoers || mv /root/ops.sudoers /etc/sudoers.d/ops"
on "pigsty deploy -l conn -m node --json > /root/conn-nosudo.json 2> /root/conn-nosudo.err; echo \$? > /root/conn-nosudo.rc"
check_eq "deploy exits 1" 1 on cat /root/conn-nosudo.rc
check "the error names lab2 and the missing sudo rights" on "grep -q 'host \`10.10.10.11\`: \`ops\` has no password-less sudo to root' /root/conn-nosudo.err"
check "lab3 converged, only lab2 failed" only_failed /root/conn-nosudo.json 10.10.10.11
step "lab2: sudo rights back" lab ssh 2 "mv /root/ops.sudoers /etc/sudoers.d/ops"

# node 1's ~/.ssh/config names the lab key for every node, and ssh tries it as well as
# ansible_ssh_private_key_file: ops accepts only a key of its own for this part
step "node 1: two new keys, conn-ops and conn-wrong" on \
  "rm -f /root/.ssh/conn-ops* /root/.ssh/conn-wrong* && ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/conn-ops && ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/conn-wrong"
ops_pub=$(on "cat /root/.ssh/conn-ops.pub")
step "lab2: ops accepts conn-ops only" lab ssh 2 "cp -p ~ops/.ssh/authorized_keys /root/ops.keys && echo '$ops_pub' > ~ops/.ssh/authorized_keys"
at_exit lab ssh 2 "test ! -e /root/ops.keys || mv -f /root/ops.keys ~ops/.ssh/authorized_keys"
step "lab2 logs in with conn-wrong (ansible_ssh_private_key_file)" host_var 10.10.10.11 ansible_ssh_private_key_file /root/.ssh/conn-wrong
# node 1 itself is the other host here: lab3 is reached through ops@lab2
on "pigsty deploy -l 10.10.10.10,10.10.10.11 -m node --json > /root/conn-key.json 2> /root/conn-key.err; echo \$? > /root/conn-key.rc"
check_eq "deploy exits 1" 1 on cat /root/conn-key.rc
check "the error names lab2 and the failed authentication" on "grep -q 'host \`10.10.10.11\`: ssh authentication failed' /root/conn-key.err"
check "node 1 converged, only lab2 failed" only_failed /root/conn-key.json 10.10.10.11
step "lab2 logs in with conn-ops" host_var 10.10.10.11 ansible_ssh_private_key_file /root/.ssh/conn-ops
check "with the key ops accepts, lab2 converges" on "pigsty deploy -l 10.10.10.11 -m node > /root/conn-key2.log 2>&1 || { tail -n 20 /root/conn-key2.log; exit 1; }"
step "lab2: ops accepts the lab key again" lab ssh 2 "mv -f /root/ops.keys ~ops/.ssh/authorized_keys"
step "the key setting removed" host_var 10.10.10.11 ansible_ssh_private_key_file
check "deploy -l conn with node_crontab converges both again" \
  on "pigsty deploy -l conn -m node -e 'node_crontab=[\"*/5 * * * * root /bin/true\"]' > /root/conn-again.log 2>&1 || { tail -n 20 /root/conn-again.log; exit 1; }"
for i in 2 3; do
  check "lab$i: node_crontab is in /etc/cron.d/pigsty-node" lab ssh "$i" "grep -qxF '*/5 * * * * root /bin/true' /etc/cron.d/pigsty-node"
done
check "deploy -l conn without node_crontab" on "pigsty deploy -l conn -m node > /root/conn-again2.log 2>&1"
check "lab3: /etc/cron.d/pigsty-node is gone" lab ssh 3 "test ! -e /etc/cron.d/pigsty-node"

echo "-- a standby cluster of pg-meta on lab2 (pg_upstream), a delayed replica on lab3 (pg_delay: 1min)"
etcdctl_on_admin 10.10.10.10 del --prefix /pg/pg-sby/ >/dev/null
pw=$(on "sed -n 's/^    pg_admin_password: *//p' $INV | head -n1")
check "pg_admin_password is in the inventory" test "${#pw}" -ge 16
on "umask 077; echo '*:*:*:dbuser_dba:$pw' > /root/.pgpass"
psql_at() { on "psql -X -q -A -t -v ON_ERROR_STOP=1 'host=$1 port=5432 dbname=postgres user=dbuser_dba connect_timeout=3' -c \"$2\""; }
step "add group pg-sby" on "python3 - $INV <<'PY'
import sys, yaml
path = sys.argv[1]
doc = yaml.safe_load(open(path))
doc['all']['children']['pg-sby'] = {
    'hosts': {'10.10.10.11': {'pg_seq': 1, 'pg_role': 'primary', 'pg_upstream': '10.10.10.10'},
              '10.10.10.12': {'pg_seq': 2, 'pg_role': 'replica', 'pg_delay': '1min'}},
    'vars': {'pg_cluster': 'pg-sby'}}
open(path, 'w').write(yaml.safe_dump(doc, sort_keys=False))
PY"
check "pigsty validate accepts pg-sby" on "pigsty validate >/dev/null"
check "pigsty deploy -l pg-sby" timeout 1800 "$LAB" ssh 1 "pigsty deploy -l pg-sby > /root/sby-deploy.log 2>&1 || { tail -n 30 /root/sby-deploy.log; exit 1; }"
role_of() { on "pigsty status pg-sby --json 2>/dev/null; true" | python3 -c 'import json,sys
c=json.load(sys.stdin)["clusters"][0]
print(" ".join(m["role"] for m in c.get("members", []) if m.get("host") == sys.argv[1]))' "$1"; }
check_eq "lab2 is the standby leader" standby_leader retry 30 2 role_of 10.10.10.11
check_eq "lab3 is a replica" replica retry 30 2 role_of 10.10.10.12
check "a table on pg-meta" psql_at 10.10.10.10 "create table if not exists sby_probe(id int primary key, ts timestamptz default now()); delete from sby_probe; insert into sby_probe(id) values (1)"
has_row() { [[ $(psql_at "$1" "select count(*) from sby_probe where id = $2") == 1 ]]; } # HOST ID
check "lab2 follows pg-meta's writes" retry 30 1 has_row 10.10.10.11 1
check_eq "lab3 applies WAL a minute late (recovery_min_apply_delay)" 1min psql_at 10.10.10.12 "show recovery_min_apply_delay"
# a row written now reaches lab2 at once and lab3 about a minute later
check "lab3 has caught up with the first row (a minute after it was made)" retry 150 1 has_row 10.10.10.12 1
t0=$(date +%s)
check "a second row on pg-meta" psql_at 10.10.10.10 "insert into sby_probe(id) values (2)"
check "lab2 has it within seconds" retry 20 1 has_row 10.10.10.11 2
sleep 20
check_eq "20s later lab3 has not replayed it yet" 0 psql_at 10.10.10.12 "select count(*) from sby_probe where id = 2"
check "lab3 replays it within 2 minutes" retry 120 1 has_row 10.10.10.12 2
lag=$(($(date +%s) - t0))
info "lab3 replayed the row ${lag}s after pg-meta committed it"
check "lab3's delay was about a minute (55-120s, took ${lag}s)" test "$lag" -ge 55 -a "$lag" -le 120

echo "-- pigsty pgsql promote pg-sby: lab2 takes writes on a new timeline"
tl() { psql_at "$1" "select ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"; }
check_refused "promote of a normal cluster is refused" "is not a standby cluster" on "pigsty pgsql promote pg-meta --yes"
check "pigsty pgsql promote pg-sby --yes" on "pigsty pgsql promote pg-sby --yes > /root/sby-promote.log 2>&1 || { cat /root/sby-promote.log; exit 1; }"
check_eq "lab2 is the leader" leader retry 30 1 role_of 10.10.10.11
check_eq "lab2 accepts writes" 3 retry 20 1 psql_at 10.10.10.11 "insert into sby_probe(id) values (3) returning id"
meta_tl=$(tl 10.10.10.10)
sby_tl=$(tl 10.10.10.11)
info "timelines: pg-meta ${meta_tl}, pg-sby ${sby_tl}"
check "lab2 is on a new timeline (above pg-meta's ${meta_tl}: ${sby_tl})" test "${sby_tl:-0}" -gt "${meta_tl:-0}"
check "a row on pg-meta" psql_at 10.10.10.10 "insert into sby_probe(id) values (4)"
sleep 5
check_eq "lab2 no longer follows pg-meta" 0 psql_at 10.10.10.11 "select count(*) from sby_probe where id = 4"
# the inventory still says pg_upstream: a deploy must not turn the promoted cluster back
check_refused "a deploy with pg_upstream still set refuses to make the promoted pg-sby a standby again" \
  "is a normal cluster in the DCS (promoted?), but \`pg_upstream\` makes it a standby" on "pigsty deploy -l pg-sby -m pgsql"
check_eq "after the refusal lab2 still leads and takes writes" 5 psql_at 10.10.10.11 "insert into sby_probe(id) values (5) returning id"
check "pigsty pgsql rm pg-sby --yes" on "pigsty pgsql rm pg-sby --yes > /root/sby-rm.log 2>&1 || { tail -n 20 /root/sby-rm.log; exit 1; }"
check "pg-meta's probe table dropped" psql_at 10.10.10.10 "drop table sby_probe"

echo "-- a node of another OS is refused before anything changes (#16: Debian 12 and 13 only)"
step "lab3: reset to a fresh disk" lab reset 3
step "node 1 forgets lab3's old host key" on "ssh-keygen -R 10.10.10.12 >/dev/null 2>&1; true"
step "lab3's /etc/os-release says Ubuntu 22.04" lab ssh 3 \
  "sed -i 's/^ID=.*/ID=ubuntu/; s/^VERSION_ID=.*/VERSION_ID=\"22.04\"/; s/^VERSION_CODENAME=.*/VERSION_CODENAME=jammy/' /etc/os-release && grep -q '^ID=ubuntu' /etc/os-release"
check_refused "deploy -l 10.10.10.12 -m node refuses lab3, naming its OS" "unsupported OS \`ubuntu 22.04\`" \
  on "pigsty deploy -l 10.10.10.12 -m node"
check "lab3 is unchanged: no node_exporter, no chrony, no pigsty state" lab ssh 3 \
  "! dpkg -s prometheus-node-exporter >/dev/null 2>&1 && ! dpkg -s chrony >/dev/null 2>&1 && test ! -e /var/lib/pigsty"

echo "-- the end: node 1's inventory as it was"
check "inventory restored" on "mv -f $KEEP $INV"
check "pigsty validate" on "pigsty validate >/dev/null"

summary
