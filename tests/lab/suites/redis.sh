#!/usr/bin/env bash
# shellcheck disable=SC2016 # backticks in single quotes are literal, as in the messages
# shellcheck disable=SC2317 # functions here are called through check/retry
# redis: the REDIS module on the 4-node lab, deployed from node 1 over ssh and checked
# as a user would, with redis-cli and the inventory's passwords (REDISCLI_AUTH, never
# an argument):
#   A. redis-ms (a primary on lab4 with a replica there and one on lab3) watched by
#      three Sentinels (redis-meta, on lab1): a key written on the primary is read on
#      the replicas; killing lab4 makes the Sentinels promote lab3's replica within
#      down-after-milliseconds + failover-timeout, and a client asking a Sentinel for
#      the master gets the new one; lab4 comes back as a replica. Re-apply changes
#      nothing; a new redis_max_memory is live with no restart; every exporter target
#      is up in Prometheus. `pigsty redis rm` refuses without the name typed back and
#      with redis_safeguard, then removes.
#   B. redis-test, a native cluster of 6 instances on lab2-4: `--cluster check` is
#      clean, keys spread over the slots read back, killing lab4 promotes the replicas
#      of its primaries, lab4 rejoins; re-apply changes nothing.
#   Bad input (replica_of to an undefined instance, a cluster with < 3 primaries) is
#   an error naming the key.
# Node 1 keeps the singleton (installed here if the singleton suite did not run);
# pg-test on lab2-4 (left by the ha suite) is not touched beyond the node kills, and
# is checked healthy again at the end. The inventory is restored at the end.
# shellcheck disable=SC2034 # read by run.sh
NODES=4
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

META=10.10.10.10
INV=/etc/pigsty/pigsty.yml
R_DIR=$LAB_DIR/redis
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-redis.XXXXXX")
at_exit rm -rf "$WORK"

on() { lab ssh 1 "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$2"; }
within() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$1" "$2"; }

# the password the overlay generated (kept as a `# pw NAME:` note in the inventory)
pw_of() { on "sed -n 's/^    # pw $1: *//p' $INV | head -n1"; }
# the all.vars redis_password (pigsty configure)
global_pw() { on "sed -n 's/^    redis_password: *//p' $INV | head -n1"; }

# rcli PASSWORD HOST PORT ARGS...: redis-cli on node 1, the password in REDISCLI_AUTH
rcli() { local pw=$1 h=$2 p=$3; shift 3; on "REDISCLI_AUTH='$pw' redis-cli --no-auth-warning -h $h -p $p $*"; }
info_field() { rcli "$1" "$2" "$3" info "$4" | tr -d '\r' | sed -n "s/^$5://p"; }

changed_by() { on "pigsty deploy $* --json" 2>"$WORK/deploy.err" | recap_changed; }

# redis targets of prometheus: N of them, all up
prom_redis_up() { # N
  on "curl -sf 'http://$META:9090/api/v1/targets?state=active'" >"$WORK/targets.json" || return 1
  python3 - "$WORK/targets.json" "$1" <<'PY'
import json, sys
ts = [t for t in json.load(open(sys.argv[1]))["data"]["activeTargets"] if t["labels"].get("job") == "redis"]
bad = [f'{t["labels"].get("ins")}: {t["health"]} {t.get("lastError", "")}' for t in ts if t["health"] != "up"]
print(f"{len(ts)} redis targets, {len(ts) - len(bad)} up", *bad, sep="\n")
sys.exit(0 if len(ts) == int(sys.argv[2]) and not bad else 1)
PY
}

#------------------------------------------------------------------------------
echo "-- node 1: the singleton meta node"
singleton_on_admin
step "push tests/lab/redis to node 1" lab push 1 "$R_DIR" /root/redis
step "keep the inventory as it is now (restored at the end)" on "cp -p $INV /root/redis/inventory.before.yml"
at_exit lab ssh 1 "test -s /root/redis/inventory.before.yml && cp -p /root/redis/inventory.before.yml $INV"
had_pg_test=0
on "grep -q '^    pg-test:' $INV" && had_pg_test=1

#------------------------------------------------------------------------------
echo "-- bad input is refused, naming the key"
bad_replica_of() {
  on "cp $INV /root/redis/bad1.yml && python3 /root/redis/overlay.py /root/redis/bad1.yml /root/redis/redis-a.yml >/dev/null &&
      sed -i \"s/6380: { replica_of: '10.10.10.13 6379' }/6380: { replica_of: '10.10.10.13 6390' }/\" /root/redis/bad1.yml &&
      pigsty validate -i /root/redis/bad1.yml" >"$WORK/bad1.out" 2>&1 && return 1
  cat "$WORK/bad1.out"
  grep -q 'key `redis_instances.6380.replica_of`' "$WORK/bad1.out" && grep -q '10.10.10.13 6390' "$WORK/bad1.out"
}
check "replica_of an undefined instance: pigsty validate fails naming redis_instances.6380.replica_of" bad_replica_of
few_primaries() {
  on "cp $INV /root/redis/bad2.yml && python3 /root/redis/overlay.py /root/redis/bad2.yml /root/redis/redis-b.yml >/dev/null &&
      sed -i '/^        10.10.10.13: { redis_node: 3/d' /root/redis/bad2.yml &&
      pigsty deploy -l redis-test -i /root/redis/bad2.yml" >"$WORK/bad2.out" 2>&1 && return 1
  cat "$WORK/bad2.out"
  grep -q 'key `redis_instances`' "$WORK/bad2.out" && grep -q 'needs at least 3' "$WORK/bad2.out"
}
check "cluster mode with 2 primaries: pigsty deploy refuses naming redis_instances, nothing changed" few_primaries
check "... and no redis unit was created on lab2" lab ssh 2 "! ls /etc/systemd/system/redis-test-* >/dev/null 2>&1"

#------------------------------------------------------------------------------
echo "-- A: redis-ms (primary lab4, replicas lab4:6380 and lab3:6379) and redis-meta (3 sentinels on lab1)"
check "overlay redis-ms and redis-meta onto node 1's inventory" on "python3 /root/redis/overlay.py $INV /root/redis/redis-a.yml"
check_eq "the inventory is still mode 0600" 600 on "stat -c %a $INV"
MSPW=$(pw_of MS)
SPW=$(global_pw)
check "redis-ms has a generated password (25 chars)" test "${#MSPW}" -eq 25
check "pigsty configure generated redis_password in all.vars (24 chars), used by redis-meta" test "${#SPW}" -eq 24
t0=$(now)
check "pigsty redis add redis-ms (nodes 3 and 4, then prometheus targets)" timeout 1800 "$LAB" ssh 1 "pigsty redis add redis-ms > /root/redis-add-ms.log 2>&1"
info "redis add redis-ms took $(secs "$t0" "$(now)")s"
on tail -n 6 /root/redis-add-ms.log | sed 's/^/     | /'
check "pigsty redis add redis-meta (the sentinels on node 1)" timeout 900 "$LAB" ssh 1 "pigsty redis add redis-meta > /root/redis-add-meta.log 2>&1"

no_pw_in_args() { printf '%s\n' "$MSPW" | lab ssh "$1" "! grep -a -l -F -f - /proc/[0-9]*/cmdline 2>/dev/null"; }
check "no password in any process's arguments on lab4" no_pw_in_args 4
no_pw_in_logs() { printf '%s\n%s\n' "$MSPW" "$SPW" | on "! grep -F -f - /root/redis-add-ms.log /root/redis-add-meta.log"; }
check "no password in the command logs" no_pw_in_logs
check "Debian's default redis-server.service is masked, nothing else on 6379 of lab4" lab ssh 4 "test \"\$(systemctl is-enabled redis-server.service 2>&1)\" = masked"
check_eq "units redis-ms-1-6379 and -6380 active on lab4" "active
active" lab ssh 4 "systemctl is-active redis-ms-1-6379.service redis-ms-1-6380.service"
check "config mode 0600 redis:redis, data in /data/redis" lab ssh 4 "test \"\$(stat -c '%a %U' /etc/redis/redis-ms-1-6379.conf)\" = '600 redis' && test -d /data/redis/redis-ms-1-6379"
check_fails "without the password: NOAUTH" rcli "" 10.10.10.13 6379 "set k 1 | grep -q OK"

key=k$RANDOM$RANDOM
check "write a key on the primary (10.10.10.13:6379)" rcli "$MSPW" 10.10.10.13 6379 "set $key v1"
read_key() { [[ $(rcli "$MSPW" "$1" "$2" get "$key") == v1 ]]; }
check "read it on the replica 10.10.10.12:6379" retry 20 0.5 read_key 10.10.10.12 6379
check "read it on the replica 10.10.10.13:6380" retry 20 0.5 read_key 10.10.10.13 6380
replica_link() { echo "$(info_field "$MSPW" "$1" "$2" replication role) $(info_field "$MSPW" "$1" "$2" replication master_link_status)"; }
check_eq "10.10.10.12:6379 is a replica, link up" "slave up" replica_link 10.10.10.12 6379
sentinel_master() { rcli "$SPW" 10.10.10.10 "$1" sentinel get-master-addr-by-name redis-ms | tr -d '\r' | paste -sd' '; }
master_is() { local m; m=$(sentinel_master "$1"); echo "$m"; [[ $m == "$2" ]]; }
check "sentinel 26379 names the master 10.10.10.13 6379" retry 20 1 master_is 26379 "10.10.10.13 6379"
sentinels_see_each_other() { [[ $(rcli "$SPW" 10.10.10.10 26381 sentinel master redis-ms | tr -d '\r' | sed -n '/^num-other-sentinels$/{n;p}') == 2 ]]; }
check "each sentinel knows the other two" retry 30 1 sentinels_see_each_other
check "pigsty status redis-ms shows a primary and two replicas with links up" on "pigsty status redis-ms > /root/redis-status.txt && grep -E 'redis-ms-1-6379 .* primary .* up .*2 replica' /root/redis-status.txt"
on cat /root/redis-status.txt | sed 's/^/     | /'
check "prometheus scrapes 6 redis targets, all up" retry 40 3 prom_redis_up 6

echo "-- A: re-apply, and a new maxmemory without a restart"
check_eq "pigsty deploy -l redis-ms,redis-meta -m node,redis again: 0 changed" 0 changed_by -l redis-ms,redis-meta -m node,redis
pid0=$(info_field "$MSPW" 10.10.10.12 6379 server process_id)
up0=$(info_field "$MSPW" 10.10.10.12 6379 server uptime_in_seconds)
check "set redis_max_memory: 96MB for redis-ms in the inventory" on "sed -i '/redis_cluster: redis-ms,/s/redis_max_memory: 64MB/redis_max_memory: 96MB/' $INV && grep -q 'redis_max_memory: 96MB' $INV"
check "pigsty deploy -l redis-ms -m redis" timeout 600 "$LAB" ssh 1 "pigsty deploy -l redis-ms -m redis > /root/redis-maxmem.log 2>&1"
sleep 1
maxmem() { rcli "$MSPW" "$1" "$2" config get maxmemory | tr -d '\r' | sed -n 2p; }
for ep in "10.10.10.13 6379" "10.10.10.13 6380" "10.10.10.12 6379"; do
  # shellcheck disable=SC2086
  check_eq "maxmemory of $ep is 96MB (live)" 100663296 maxmem $ep
done
check_eq "same redis process on 10.10.10.12:6379 (no restart)" "$pid0" info_field "$MSPW" 10.10.10.12 6379 server process_id
up_grew() { local u; u=$(info_field "$MSPW" 10.10.10.12 6379 server uptime_in_seconds); [[ -n $u && $u -ge $up0 ]]; }
check "its uptime went on ($up0 s before)" up_grew
check "the config file was rewritten with the new maxmemory" lab ssh 3 "grep -qiE '^maxmemory (96mb|100663296)' /etc/redis/redis-ms-2-6379.conf"
check_eq "re-apply after the change: 0 changed" 0 changed_by -l redis-ms -m redis

echo "-- A: kill the primary's node (lab4): the sentinels promote lab3"
down_after=5 failover=20
t_kill=$(now)
check "lab4: kill" lab kill 4
at_exit lab start 4
check "a sentinel names the new master 10.10.10.12 6379" retry 240 0.25 master_is 26380 "10.10.10.12 6379"
t_new=$(now)
took=$(secs "$t_kill" "$t_new")
info "sentinel failover took ${took}s (down-after ${down_after}s + failover-timeout ${failover}s)"
check "promoted within down-after-milliseconds + failover-timeout (${took}s <= $((down_after + failover))s)" within "$took" "$((down_after + failover))"
role_is() { local r; r=$(info_field "$MSPW" "$1" "$2" replication role); echo "$r"; [[ $r == "$3" ]]; }
check "10.10.10.12:6379 is now a primary" retry 20 0.5 role_is 10.10.10.12 6379 master
check_eq "the key written before is there" v1 rcli "$MSPW" 10.10.10.12 6379 get "$key"
write_via_sentinel() { local m; m=$(sentinel_master 26381) && [[ $m == "10.10.10.12 6379" ]] && rcli "$MSPW" "${m% *}" "${m#* }" set after-failover yes | grep -q OK; }
check "a client that asks the sentinel (26381) for the master writes to the new one" retry 20 0.5 write_via_sentinel
check "lab4: start (the node boots again)" lab start 4
old_is_replica() { [[ $(info_field "$MSPW" 10.10.10.13 6379 replication role) == slave && $(info_field "$MSPW" 10.10.10.13 6379 replication master_host) == 10.10.10.12 ]]; }
check "the old primary comes back as a replica of 10.10.10.12 (sentinel)" retry 90 2 old_is_replica
key_is() { local v; v=$(rcli "$MSPW" "$1" "$2" get "$3"); echo "$v"; [[ $v == "$4" ]]; }
check "... and reads the key written after the failover" retry 30 1 key_is 10.10.10.13 6379 after-failover yes
check_eq "re-apply after the failover: 0 changed (sentinel owns the roles)" 0 changed_by -l redis-ms,redis-meta -m node,redis
check "prometheus: 6 redis targets up again" retry 40 3 prom_redis_up 6

echo "-- A: pigsty redis rm"
check_refused "a wrong name typed back refuses" "does not match" on "echo nope | pigsty redis rm redis-ms"
check_refused "redis_safeguard refuses" "redis_safeguard\` is on" on "pigsty redis rm redis-ms --yes -e redis_safeguard=true"
check_eq "nothing was removed" active lab ssh 3 "systemctl is-active redis-ms-2-6379.service"
check "pigsty redis rm redis-ms (name typed back)" timeout 600 "$LAB" ssh 1 "echo redis-ms | pigsty redis rm redis-ms > /root/redis-rm-ms.log 2>&1"
check "units, configs and data of redis-ms are gone" bash -c "'$LAB' ssh 3 '! ls /etc/systemd/system/redis-ms-* /etc/redis/redis-ms-* /data/redis/redis-ms-* 2>/dev/null' && '$LAB' ssh 4 '! ls /etc/systemd/system/redis-ms-* /etc/redis/redis-ms-* /data/redis/redis-ms-* 2>/dev/null'"
check_fails "nothing answers on 10.10.10.12:6379" rcli "$MSPW" 10.10.10.12 6379 ping
check "prometheus: redis-ms's 3 targets are gone, redis-meta's 3 stay" retry 40 3 prom_redis_up 3
check "take redis-ms out of the inventory" on "python3 /root/redis/overlay.py $INV --drop redis-ms"
check "pigsty redis rm redis-meta --yes" timeout 600 "$LAB" ssh 1 "pigsty redis rm redis-meta --yes > /root/redis-rm-meta.log 2>&1"
check "take redis-meta out of the inventory" on "python3 /root/redis/overlay.py $INV --drop redis-meta"
check "prometheus: no redis target left" retry 40 3 prom_redis_up 0

#------------------------------------------------------------------------------
echo "-- B: redis-test, a native cluster of 6 instances on lab2-4"
check "overlay redis-test onto node 1's inventory" on "python3 /root/redis/overlay.py $INV /root/redis/redis-b.yml"
TPW=$(pw_of TEST)
t0=$(now)
check "pigsty deploy -l redis-test" timeout 1800 "$LAB" ssh 1 "pigsty deploy -l redis-test > /root/redis-deploy-test.log 2>&1"
info "deploy -l redis-test took $(secs "$t0" "$(now)")s"
on tail -n 6 /root/redis-deploy-test.log | sed 's/^/     | /'
check "pigsty redis add redis-test (targets)" timeout 900 "$LAB" ssh 1 "pigsty redis add redis-test > /root/redis-add-test.log 2>&1"
ccheck() { lab ssh 2 "REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning --cluster check 10.10.10.11:6379" >"$WORK/ccheck.out" 2>&1; local rc=$?; cat "$WORK/ccheck.out"; ((rc == 0)) && grep -q 'All 16384 slots covered' "$WORK/ccheck.out" && ! grep -qE '\[ERR\]|\[WARNING\]' "$WORK/ccheck.out"; }
check "redis-cli --cluster check is clean: all 16384 slots covered" retry 10 2 ccheck
masters_and_replicas() { # 3 primaries, 3 replicas, no replica on its primary's host
  lab ssh 2 "REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning -h 10.10.10.11 -p 6379 cluster nodes" >"$WORK/nodes.txt" || return 1
  python3 - "$WORK/nodes.txt" <<'PY'
import sys
ns = [l.split() for l in open(sys.argv[1]) if l.strip()]
ok = [n for n in ns if "fail" not in n[2]]
m = {n[0]: n[1].split("@")[0].split(":")[0] for n in ok if "master" in n[2]}
r = [(n[1].split("@")[0].split(":")[0], n[3]) for n in ok if "slave" in n[2]]
print(f"{len(m)} primaries, {len(r)} replicas")
sys.exit(0 if len(m) == 3 and len(r) == 3 and all(ip != m.get(p) for ip, p in r) else 1)
PY
}
# retried: right after `--cluster create` a replica's role can take a few seconds of
# gossip to reach the node asked (seen once: "4 primaries, 2 replicas", right a moment later)
check "3 primaries and 3 replicas, each replica on another node than its primary" retry 15 2 masters_and_replicas
write_keys() { lab ssh 2 "for i in \$(seq 1 100); do echo \"SET ck\$i v\$i\"; done | REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning -c -h 10.10.10.11 -p 6379 >/dev/null"; }
read_keys() { # through HOST: every key reads back
  lab ssh 2 "n=0; for i in \$(seq 1 100); do v=\$(REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning -c -h $1 -p 6379 get ck\$i); [ \"\$v\" = v\$i ] && n=\$((n+1)); done; echo \$n" >"$WORK/read.out" 2>&1
  cat "$WORK/read.out"
  [[ $(tail -n1 "$WORK/read.out") == 100 ]]
}
check "write 100 keys through the cluster (redis-cli -c)" write_keys
spread() { # the keys live on 3 primaries
  lab ssh 2 "for h in 10.10.10.11 10.10.10.12 10.10.10.13; do for p in 6379 6380; do r=\$(REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning -h \$h -p \$p role | head -n1); [ \"\$r\" = master ] && REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning -h \$h -p \$p dbsize; done; done" >"$WORK/spread.out"
  cat "$WORK/spread.out"
  python3 -c 'import sys; v=[int(x) for x in open(sys.argv[1]).read().split()]; sys.exit(0 if len(v)==3 and all(x>0 for x in v) and sum(v)==100 else 1)' "$WORK/spread.out"
}
check "the 100 keys are spread over the 3 primaries" spread
check "all 100 keys read back through 10.10.10.13" read_keys 10.10.10.13
check "pigsty status redis-test lists the roles" on "pigsty status redis-test > /root/redis-status-test.txt; grep -c 'cluster ok' /root/redis-status-test.txt | grep -qx 6"
on cat /root/redis-status-test.txt | sed 's/^/     | /'
check_eq "re-apply: pigsty deploy -l redis-test -m node,redis changes nothing (cluster not re-created)" 0 changed_by -l redis-test -m node,redis
check "prometheus: 6 redis targets, all up" retry 40 3 prom_redis_up 6
# the Redis dashboard, live: every panel of it returns data for redis-test (rates need
# two scrapes of the new targets, hence the retry)
step "push tests/lab/dashboards.py to node 1" lab push 1 "$LAB_DIR/dashboards.py" /root/dashboards.py
redis_dashboard() { on "python3 /root/dashboards.py http://$META:9090 /etc/pigsty/dashboards/pigsty-redis.json > /root/dashboards-redis.out 2>&1"; }
check "every panel of the Redis dashboard returns data for redis-test" retry 10 6 redis_dashboard
on "grep -vE '^ +ok ' /root/dashboards-redis.out" | sed 's/^/     | /'

echo "-- B: kill lab4: its primaries' replicas take over"
t_kill=$(now)
check "lab4: kill" lab kill 4
at_exit lab start 4
cluster_ok_without_lab4() { # state ok, 3 live primaries, none on lab4
  lab ssh 2 "REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning -h 10.10.10.11 -p 6379 cluster nodes" >"$WORK/nodes.txt" || return 1
  python3 - "$WORK/nodes.txt" <<'PY' || return 1
import sys
ns = [l.split() for l in open(sys.argv[1]) if l.strip()]
live = [n for n in ns if "master" in n[2] and "fail" not in n[2] and len(n) > 8]
sys.exit(0 if len(live) == 3 and not any(n[1].startswith("10.10.10.13:") for n in live) else 1)
PY
  [[ $(lab ssh 2 "REDISCLI_AUTH='$TPW' redis-cli --no-auth-warning -h 10.10.10.11 -p 6379 cluster info" | tr -d '\r' | sed -n 's/^cluster_state://p') == ok ]]
}
check "the replicas of lab4's primaries are promoted; cluster_state ok" retry 120 1 cluster_ok_without_lab4
info "cluster failover took $(secs "$t_kill" "$(now)")s (cluster-node-timeout 15s)"
check "all 100 keys read back through 10.10.10.11" read_keys 10.10.10.11
check "lab4: start" lab start 4
check "lab4's instances rejoin: --cluster check clean again" retry 60 3 ccheck
check_eq "re-apply after the failover: 0 changed" 0 changed_by -l redis-test -m node,redis

echo "-- cleanup: pigsty redis rm redis-test --yes, inventory restored"
check "pigsty redis rm redis-test --yes" timeout 600 "$LAB" ssh 1 "pigsty redis rm redis-test --yes > /root/redis-rm-test.log 2>&1"
check "no redis unit left on lab2-4" bash -c "for i in 2 3 4; do '$LAB' ssh \$i '! ls /etc/systemd/system/redis-test-* 2>/dev/null' || exit 1; done"
check "prometheus: no redis target left" retry 40 3 prom_redis_up 0
step "restore node 1's inventory" on "cp -p /root/redis/inventory.before.yml $INV"
if ((had_pg_test)); then
  pg_test_ok() { on "pigsty status pg-test --json 2>/dev/null; true" | python3 -c 'import json,sys
c=json.load(sys.stdin)["clusters"][0]
ms=c.get("members", [])
sys.exit(0 if len(ms)==3 and sum(m.get("role")=="leader" for m in ms)==1 and all(m.get("state") in ("running","streaming") for m in ms) else 1)'; }
  check "pg-test (ha suite) has one leader and three running members again" retry 90 2 pg_test_ok
fi

summary
