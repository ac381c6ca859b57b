#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# ha: Pigsty's 4-node sandbox (ha-full.yml). Node 1 is the singleton meta node (infra,
# etcd, pg-meta: what the singleton suite leaves, or what this suite installs itself);
# pg-test (primary, replica, offline replica) goes on nodes 2-4, deployed from node 1
# over SSH (with ADMIN_NODE=A: node A and nodes A+1..A+3, the addresses in
# tests/lab/ha/pg-test.yml moved along, so that ha-mixed runs beside this suite).
# Checked as a user would: rows written through 5433 of any member read back through
# 5434 of every member; then a switchover, a hard crash of the primary's node
# and a network partition of it, each with a client writing through 5433 that records
# its longest gap and, afterwards, which acknowledged writes are missing; at no moment
# may two servers accept writes. Then re-runs change nothing, and an unreachable host
# gets a clear error while the others converge.
#
#   HA_RESULTS=FILE   also write the measured numbers there as JSON (tests/bench/ha.bench.sh)
#   HA_PG_CONF=crit.yml  pg_conf for pg-test (default: the admin node's); crit = synchronous
#                     replication, and then no acknowledged write may be lost
#   HA_BRIEF=1        only the deploy, switchover, crash, partition, rm and join (the
#                     second-release runs: ha-mixed.sh); the other sections say skipped
#   SUITE_DISTRO / ADMIN_DISTRO  releases of pg-test's nodes / the admin node (lib.sh);
#                     when they differ, a member of the admin's release is refused by pg-test
#   ADMIN_NODE=A      the admin node (default 1), pg-test on A+1..A+3 (lib.sh)
#   HA_VIP=ADDR / HA_NODE_VIP=ADDR  pg-test's L2 VIP / node VIP (default 10.10.10.3 /
#                     10.10.10.4, pg-test.yml's; ha-mixed beside this suite uses others)
#   HA_KILL_AFTER=1   kill the suite's nodes at the end (their CPU goes to later suites)
#   HA_PATRONI_TLS=1  pg-test with `patroni_ssl_enabled: true`: Patroni's REST API on
#                     https only, and every client of it (pigsty, HAProxy, keepalived,
#                     Prometheus, patronictl, writer.py) verifying it against the CA
# shellcheck disable=SC2034 # read by run.sh
NODES=4
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

A=$ADMIN_NODE
MEMBERS=($((A + 1)) $((A + 2)) $((A + 3))) # pg-test's nodes: primary, replica, offline replica
ip_of() { echo "10.10.10.$((9 + $1))"; }    # node 2 -> 10.10.10.11
META=$ADMIN_IP
PG_IPS=("$(ip_of "${MEMBERS[0]}")" "$(ip_of "${MEMBERS[1]}")" "$(ip_of "${MEMBERS[2]}")")
ALL_PG=$(IFS=,; echo "${PG_IPS[*]}")
VIP=${HA_VIP:-10.10.10.3}
NVIP=${HA_NODE_VIP:-10.10.10.4}
INV=/etc/pigsty/pigsty.yml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-ha.XXXXXX")
at_exit rm -rf "$WORK"
: >"$WORK/results.tsv"
# tests/lab/ha with pg-test.yml's member and VIP addresses moved to this run's
HA_DIR=$WORK/ha
cp -r "$LAB_DIR/ha" "$HA_DIR"
sed -i "s/^\(        \)10\.10\.10\.11:/\1${PG_IPS[0]}:/; s/^\(        \)10\.10\.10\.12:/\1${PG_IPS[1]}:/; s/^\(        \)10\.10\.10\.13:/\1${PG_IPS[2]}:/; s#pg_vip_address: 10\.10\.10\.3/24#pg_vip_address: $VIP/24#; s#vip_address: 10\.10\.10\.4\$#vip_address: $NVIP#" "$HA_DIR/pg-test.yml"

PAPI=http PCURL=""
if [[ ${HA_PATRONI_TLS:-0} == 1 ]]; then
  sed -i 's/^\(        \)pg_cluster: pg-test .*/&\n\1patroni_ssl_enabled: true    # HA_PATRONI_TLS: the REST API on https only/' "$HA_DIR/pg-test.yml"
  grep -q '^        patroni_ssl_enabled: true' "$HA_DIR/pg-test.yml" || { echo "HA_PATRONI_TLS: pg-test.yml has no pg_cluster line to add it after" >&2; exit 1; }
  PAPI=https PCURL="--cacert /etc/pki/ca.crt"
fi
patroni_get() { on "curl -sf $PCURL $PAPI://$1:8008$2"; } # HOST PATH: Patroni's answer, from the admin node

if [[ ${HA_KILL_AFTER:-0} == 1 ]]; then # registered before the sections' cleanups: runs after them
  at_exit bash -c "for i in $A ${MEMBERS[*]}; do '$LAB' kill \$i >/dev/null; done"
fi

on() { lab ssh "$A" "$@"; }
brief() { # TITLE: true (and says so) when HA_BRIEF skips this section
  [[ -n ${HA_BRIEF:-} ]] || return 1
  echo "-- skipped (HA_BRIEF): $1"
}
dcs_ttl() { patroni_get "${PG_IPS[1]}" /config | python3 -c 'import json,sys; print(json.load(sys.stdin)["ttl"])'; }
node_of() { echo $((${1##*.} - 9)); } # 10.10.10.11 -> 2
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$2"; }
record() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/results.tsv"; } # KEY VALUE: a measured number

# the value of an `all.vars` credential in the admin node's inventory (never printed by checks)
secret() { on "sed -n 's/^    $1: *//p' $INV | head -n1"; }

psql_at() { # host port db sql: as dbuser_dba from the admin node, password from ~/.pgpass
  on "psql -X -A -t -v ON_ERROR_STOP=1 'host=$1 port=$2 dbname=$3 user=dbuser_dba connect_timeout=3' -c \"$4\""
}
server_of() { psql_at "$1" "$2" test "select replace(pg_read_file('/etc/hostname'), chr(10), '')"; }

# `pigsty status pg-test --json` on the admin node (exit 1 when unhealthy: the JSON still comes)
status_json() { on "pigsty status pg-test --json 2>/dev/null; true"; }
# jq-like access to the status: members of pg-test as `name host role state timeline` lines
members() {
  status_json | python3 -c 'import json,sys
c=json.load(sys.stdin)["clusters"][0]
for m in c.get("members", []): print(m.get("name"), m.get("host"), m.get("role"), m.get("state"), m.get("timeline"))'
}
leader_line() { members | awk '$3 == "leader" && $4 == "running"' | head -n1; }
leader_name() { leader_line | awk '{print $1}'; }
leader_ip() { leader_line | awk '{print $2}'; }

# one running leader, N-1 (default 2) running replicas on its timeline, and the leader
# streams to all of them
healthy_cluster() {
  local m n=${1:-3}
  m=$(members) || return 1
  echo "$m"
  python3 - "$m" "$n" <<'PY' || return 1
import sys
n = int(sys.argv[2])
ms = [l.split() for l in sys.argv[1].splitlines() if l.strip()]
leaders = [m for m in ms if m[2] == "leader" and m[3] == "running"]
reps = [m for m in ms if m[2] in ("replica", "sync_standby") and m[3] in ("running", "streaming")]
ok = len(ms) == n and len(leaders) == 1 and len(reps) == n - 1 and all(r[4] == leaders[0][4] for r in reps)
sys.exit(0 if ok else 1)
PY
  [[ $(psql_at "$(leader_ip)" 5436 postgres "select count(*) from pg_stat_replication where state = 'streaming'") == $((n - 1)) ]]
}
new_leader_other_than() { local l; l=$(leader_name); [[ -n $l && $l != "$1" ]]; }
is_replica() { members | awk -v n="$1" '$1 == n && ($3 == "replica" || $3 == "sync_standby") && ($4 == "running" || $4 == "streaming")' | grep -q .; }

# writer.py on a node, in the background (ended by its stop file or duration)
start_writer() { # node run hosts [port]
  lab ssh "$1" "rm -f /tmp/ha-$2.stop /root/ha-$2.jsonl; nohup setsid python3 /root/ha/writer.py write $2 /root/ha-$2.jsonl --hosts $3 --port ${4:-5433} --user test --duration 900 --stop /tmp/ha-$2.stop >/root/ha-$2.err 2>&1 </dev/null &"
  at_exit lab ssh "$1" "touch /tmp/ha-$2.stop"
}
start_watcher() { # node run hosts
  lab ssh "$1" "rm -f /tmp/ha-$2-watch.stop /root/ha-$2.watch; HA_PATRONI_TLS=${HA_PATRONI_TLS:-0} nohup setsid python3 /root/ha/writer.py watch /root/ha-$2.watch --hosts $3 --duration 900 --stop /tmp/ha-$2-watch.stop >/root/ha-$2-watch.err 2>&1 </dev/null &"
  at_exit lab ssh "$1" "touch /tmp/ha-$2-watch.stop"
}
start_timeline() { # node run hosts: writer.py timeline (leader, /primary, HAProxy) on those hosts
  lab ssh "$1" "rm -f /tmp/ha-$2-tl.stop /root/ha-$2.timeline; HA_PATRONI_TLS=${HA_PATRONI_TLS:-0} nohup setsid python3 /root/ha/writer.py timeline /root/ha-$2.timeline --hosts $3 --duration 900 --stop /tmp/ha-$2-tl.stop >/root/ha-$2-tl.err 2>&1 </dev/null &"
  at_exit lab ssh "$1" "touch /tmp/ha-$2-tl.stop"
}
stop_writer() { lab ssh "$1" "touch /tmp/ha-$2.stop /tmp/ha-$2-watch.stop /tmp/ha-$2-tl.stop"; sleep 2; }
# events RUN T OLD OLD_HOST: the timeline of RUN after T as JSON (writer.py events)
events() { on "python3 /root/ha/writer.py events /root/ha-$1.timeline /root/ha-$1.jsonl --since $2 --old $3 --old-host $4"; }
record_events() { # PREFIX JSON: one number per event
  local k
  for k in last_ack leader_gone new_leader promoted haproxy_up haproxy_all first_ack; do record "${1}_${k}_seconds" "$(field "$2" "$k")"; done
}
acks_after() { # node run T [server-to-exclude]: the writer got an ack after T (from another server)
  lab ssh "$1" "python3 -c 'import json,sys
n=0
for l in open(\"/root/ha-$2.jsonl\"):
    r=json.loads(l)
    if \"server\" in r and r[\"t\"] > $3 and r[\"server\"] != \"${4:-}\": n+=1
sys.exit(0 if n >= 3 else 1)'"
}
# first time the watcher saw a running leader other than NAME after T
leader_seen_at() { # run name T
  on "python3 -c 'import json
for l in open(\"/root/ha-$1.watch\"):
    r=json.loads(l)
    if r[\"t\"] > $3 and r[\"leader\"] not in (None, \"$2\") and r[\"state\"] == \"running\":
        print(r[\"t\"]); break'"
}
verify_writes() { on "python3 /root/ha/writer.py verify $1 /root/ha-$1.jsonl --hosts $ALL_PG"; }
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }



#------------------------------------------------------------------------------
echo "-- node $A: the singleton meta node"
singleton_on_admin
# the pg-test.yml pushed is this run's (addresses moved along with ADMIN_NODE)
grep -q "^        ${PG_IPS[2]}: { pg_seq: 3" "$HA_DIR/pg-test.yml" && grep -q "pg_vip_address: $VIP/24" "$HA_DIR/pg-test.yml" &&
  grep -q "^        vip_address: $NVIP\$" "$HA_DIR/pg-test.yml" ||
  { echo "pg-test.yml: the addresses were not moved to ${PG_IPS[*]}, VIPs $VIP and $NVIP" >&2; exit 2; }

echo "-- nodes ${MEMBERS[*]}: fresh disks, and no pg-test left in etcd from an earlier run"
for i in "${MEMBERS[@]}"; do
  step "lab$i: reset to a fresh disk" lab reset "$i"
done
step "no pg-test keys in etcd, no old host keys in root's known_hosts" forget_pg_test "${PG_IPS[@]}"

echo "-- the HA inventory: node $A's inventory plus pg-test (tests/lab/ha/pg-test.yml)"
step "push tests/lab/ha to node $A" lab push "$A" "$HA_DIR" /root/ha
# an earlier run's merge is undone first: every run starts from the singleton inventory
check "merge pg-test into node $A's inventory (singleton kept aside)" \
  on "{ ! test -s /etc/pigsty/pigsty.singleton.yml || cp -p /etc/pigsty/pigsty.singleton.yml $INV; } && python3 /root/ha/merge.py /root/ha/pg-test.yml $INV"
if [[ -n ${HA_PG_CONF:-} ]]; then # e.g. HA_PG_CONF=crit.yml: synchronous replication for pg-test
  check "pg-test gets pg_conf $HA_PG_CONF" on "sed -i 's/^        pg_cluster: pg-test .*/&\n        pg_conf: $HA_PG_CONF/' $INV"
fi
check "the singleton inventory is kept as pigsty.singleton.yml" on "test -s /etc/pigsty/pigsty.singleton.yml"
check_eq "the inventory is still mode 0600" 600 on "stat -c %a $INV"
check "pigsty validate: 4 hosts, 2 pgsql clusters" on "pigsty validate 2>&1 | grep -q '4 hosts, 2 pgsql clusters'"
if ((A == 1)); then # the embedded ha/full profile describes this very pg-test (its addresses are ha-full's)
  check "pigsty configure -c ha/full: its pg-test is the one deployed here (members, roles, users, databases, VIP, crontab)" \
    on "pigsty configure -c ha/full -o /root/ha-full.yml --force >/dev/null && pigsty validate -i /root/ha-full.yml >/dev/null 2>&1 && python3 /root/ha/same_layout.py /root/ha-full.yml $INV pg-test"
fi
check "no published ha-full password in the inventory" \
  on "test -s $INV && ! grep -nE \"password: *'?(test|pigsty|DBUser\\.[A-Za-z]+|Patroni\\.API|Etcd\\.Root|S3User\\.[A-Za-z]+)'? *[,}]?\$\" $INV"
pw=$(secret pg_admin_password)
check "pg_admin_password is there (24 chars)" test "${#pw}" -eq 24
# the writer (writer.py) is the application: pg-test's own user `test`, pooled by
# pgBouncer in transaction mode (dbuser_dba is in session mode, as in Pigsty's defaults)
app_pw=$(on "python3 -c \"import yaml; u = yaml.safe_load(open('$INV'))['all']['children']['pg-test']['vars']['pg_users']; print([x for x in u if x['name'] == 'test'][0]['password'])\"")
check "pg-test's application user \`test\` has a generated password" test "${#app_pw}" -ge 16
on "umask 077; printf '%s\n' '*:*:*:dbuser_dba:$pw' '*:*:*:test:$app_pw' > /root/.pgpass"

echo "-- pigsty deploy -l pg-test, from node $A over ssh"
t0=$(now)
check "pigsty deploy -l pg-test completes" timeout 2700 "$LAB" ssh "$A" "pigsty deploy -l pg-test > /root/ha-deploy.log 2>&1"
t1=$(now)
record deploy_pg_test_seconds "$(secs "$t0" "$t1")"
info "deploy -l pg-test took $(secs "$t0" "$t1")s"
on tail -n 8 /root/ha-deploy.log | sed 's/^/     | /'
check "re-run INFRA on node $A (prometheus learns pg-test's targets)" \
  timeout 900 "$LAB" ssh "$A" "pigsty deploy -l $META -m infra > /root/ha-infra.log 2>&1"

no_value_on() { # node name value: VALUE is in no file under /etc /pg /var/lib/pigsty /root there
  [[ -n $3 ]] || { echo "no $2 in the inventory"; return 1; }
  lab ssh "$1" "grep -rlF -- '$3' /etc /pg/ /var/lib/pigsty /root 2>/dev/null; test \$? -eq 1"
}
for k in etcd_root_password grafana_admin_password minio_secret_key; do
  check "lab${MEMBERS[0]} (pg-test, no etcd, infra or minio) keeps no $k in any file" no_value_on "${MEMBERS[0]}" "$k" "$(secret "$k")"
done
# a password of another cluster: pg-meta's business user (its pg_users entry on the admin node)
meta_pw=$(on "sed -n 's/.*name: dbuser_meta *,password: *\([^ ,}]*\).*/\1/p' $INV | head -n1")
check "lab${MEMBERS[0]} keeps no password of pg-meta's users (dbuser_meta's)" no_value_on "${MEMBERS[0]}" dbuser_meta "$meta_pw"
check_eq "ssh's shared connections live in a directory only root can enter" "root:root 700 directory" on "stat -c '%U:%G %a %F' /run/pigsty/ssh"

echo "-- the cluster"
check "pigsty status pg-test: one leader, two running replicas, both streaming" retry 30 2 healthy_cluster
check_eq "the leader is pg-test-1 (pg_role: primary)" pg-test-1 leader_name
check "patronictl on the primary lists 3 members" lab ssh "${MEMBERS[0]}" "patronictl -c /etc/patroni/patroni.yml list -f json | python3 -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)) == 3 else 1)'"
if [[ ${HA_PATRONI_TLS:-0} == 1 ]]; then
  patroni_tls_only() { # each member's Patroni answers https (verified against the CA), never plain HTTP
    local ip rc
    for ip in "${PG_IPS[@]}"; do
      on "curl -sf -m 3 --cacert /etc/pki/ca.crt https://$ip:8008/health >/dev/null" || { echo "$ip: no answer over https"; return 1; }
      on "curl -sf -m 3 http://$ip:8008/health >/dev/null"
      rc=$?
      ((rc != 0 && rc != 255)) || { echo "$ip: plain HTTP: exit $rc"; return 1; }
    done
  }
  check "patroni_ssl_enabled: each member's Patroni answers https only" patroni_tls_only
  check "HAProxy checks Patroni with check-ssl against the CA" lab ssh "${MEMBERS[0]}" "grep -q 'check port 8008 check-ssl verify required ca-file /etc/pki/ca.crt' /etc/haproxy/pg-test-primary.cfg"
fi
check "pgbackrest on the primary has a full backup" retry 5 3 lab ssh "${MEMBERS[0]}" "runuser -u postgres -- pgbackrest --stanza=pg-test info | grep -q 'full backup'"
backup_in_status() { status_json | python3 -c 'import json,sys; b=json.load(sys.stdin)["clusters"][0]["backup"]; print(b); sys.exit(0 if b.get("type") == "full" and b.get("wal_max") else 1)'; }
check "pigsty status shows the last backup (full) and the archived WAL" retry 5 2 backup_in_status
check_eq "5436 (default) reaches the primary's postgres (lab${MEMBERS[0]})" "lab${MEMBERS[0]}" server_of "${PG_IPS[1]}" 5436
check_eq "5438 (offline) reaches the pg_offline_query replica (lab${MEMBERS[2]})" "lab${MEMBERS[2]}" server_of "${PG_IPS[0]}" 5438
replica_service_ok() { local s; s=$(server_of "$1" 5434) && [[ $s == "lab${MEMBERS[1]}" || $s == "lab${MEMBERS[2]}" ]]; }
check "5434 (replica) reaches a replica" replica_service_ok "${PG_IPS[0]}"
prom_has_pg_test() {
  on "curl -sf 'http://$META:9090/api/v1/targets?state=active'" >"$WORK/targets.json" || return 1
  python3 - "$WORK/targets.json" "${PG_IPS[@]}" <<'PY'
import json, sys
ts = json.load(open(sys.argv[1]))["data"]["activeTargets"]
by = {t["scrapeUrl"].split("/")[2]: t for t in ts}
bad = []
for ip in sys.argv[2:]:
    for port in ("9100", "9101", "9630", "9631", "8008"):
        t = by.get(f"{ip}:{port}")
        if t is None:
            bad.append(f"{ip}:{port} is not a target")
        elif t["health"] != "up":
            bad.append(f'{ip}:{port} is {t["health"]}: {t.get("lastError", "")}')
print("\n".join(bad) or "every pg-test target is up")
sys.exit(1 if bad else 0)
PY
}
check "prometheus scrapes node, haproxy, postgres, pgbouncer and patroni on the three members" retry 40 3 prom_has_pg_test

echo "-- the L2 VIP (pg_vip_enabled): $VIP on the primary, on no other member"
holders() { # ADDR: the members holding it now, comma separated (a node that is down holds nothing)
  local i n out=()
  for i in "${MEMBERS[@]}"; do
    n=$(lab ssh "$i" "ip -4 -o addr show to $1/32 | wc -l") || n=0
    if ((n > 0)); then out+=("$(ip_of "$i")"); fi
  done
  local IFS=,
  echo "${out[*]}"
}
vip_holders() { holders "$VIP"; }
vip_on_leader() { local h l; h=$(vip_holders) || return 1; l=$(leader_ip); echo "holders: ${h:-none}, leader: $l"; [[ -n $l && $h == "$l" ]]; }
vip_is_primary() { [[ $(psql_at $VIP 5432 postgres "select pg_is_in_recovery()::text || ' ' || host(inet_server_addr())") == "false $VIP" ]]; }
# every member samples its own interfaces every ~0.1s, each sample stamped before and after
# (the containers share the host's clock); two members held the VIP at once only if both
# saw it in two samples in a row and those spans overlap: a sampler on the host that asks
# the members one after another would see a VIP that moved between two asks as held twice
vip_sampler_start() { # run
  local i
  for i in "${MEMBERS[@]}"; do
    lab ssh "$i" "rm -f /tmp/vip-$1.stop /root/vip-$1.samples; nohup setsid bash -c 'while [ ! -e /tmp/vip-$1.stop ]; do a=\$(date +%s.%N); n=\$(ip -4 -o addr show to $VIP/32 | wc -l); echo \"\$a \$(date +%s.%N) \$n\"; sleep 0.1; done' >/root/vip-$1.samples 2>/dev/null </dev/null &" || return 1
    at_exit lab ssh "$i" "touch /tmp/vip-$1.stop"
  done
}
vip_sampler_max() { # run: stop the samplers, print the most members proven to hold the VIP at once
  local i
  for i in "${MEMBERS[@]}"; do lab ssh "$i" "touch /tmp/vip-$1.stop"; done
  sleep 1
  for i in "${MEMBERS[@]}"; do lab ssh "$i" "cat /root/vip-$1.samples" | sed "s/^/$i /" || return 1; done | python3 -c 'import sys
spans, count = {}, {}
last = {}
for line in sys.stdin:
    m, a, b, n = line.split()
    a, b, n = float(a), float(b), int(n)
    count[m] = count.get(m, 0) + 1
    p = last.get(m)
    if p and p[2] > 0 and n > 0:
        spans.setdefault(m, []).append((p[1], a))  # held from the end of one sample to the start of the next
    last[m] = (a, b, n)
if len(count) < 2 or min(count.values()) < 10:
    sys.exit("too few samples: %s" % count)
# sweep: the most spans of different members open at one instant
ev = sorted([(s, 1, m) for m, l in spans.items() for s, e in l] + [(e, -1, m) for m, l in spans.items() for s, e in l], key=lambda x: (x[0], x[1]))
open_, most = {}, 0
for t, d, m in ev:
    open_[m] = open_.get(m, 0) + d
    most = max(most, sum(1 for v in open_.values() if v > 0))
print(most, file=sys.stdout)
print("samples per member: %s" % count, file=sys.stderr)'
}
check "the VIP is held by the leader alone" retry 20 1 vip_on_leader
check "psql to $VIP:5432 reaches the primary" retry 10 1 vip_is_primary

echo "-- a row written through 5433 of any member reads back through 5434 of every member"
check "create the test tables through 5433" psql_at "${PG_IPS[0]}" 5433 test \
  "create table if not exists ha_rw(token text primary key, via text, ts timestamptz default now()); create table if not exists ha_probe(run text, seq int, ts timestamptz default now(), primary key (run, seq)); grant select, insert on ha_rw, ha_probe to dbrole_readwrite; create or replace function ha_host() returns text language sql security definer set search_path = pg_catalog as 'select replace(pg_read_file(''/etc/hostname''), chr(10), '''')'; grant execute on function ha_host() to dbrole_readwrite"
row_there() { [[ $(psql_at "$1" "$2" test "select count(*) from ha_rw where token = '$3'") == 1 ]]; }
for w in "${PG_IPS[@]}"; do
  tok=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  check "write a row through $w:5433" psql_at "$w" 5433 test "insert into ha_rw(token, via) values ('$tok', '$w')"
  for r in "${PG_IPS[@]}"; do
    check "  ... read it through $r:5434 within 5s" retry 10 0.5 row_there "$r" 5434 "$tok"
    check "  ... and in $r's own postgres (5432)" retry 10 0.5 row_there "$r" 5432 "$tok"
  done
done

echo "-- re-running the deploy changes nothing"
second_changed() { on "pigsty deploy -l pg-test --json" 2>"$WORK/second.err" | recap_changed; }
t0=$(now)
check_eq "a second pigsty deploy -l pg-test reports 0 changed" 0 second_changed
t1=$(now)
record noop_deploy_pg_test_seconds "$(secs "$t0" "$t1")"
check "pigsty plan --check exits 0" on "pigsty plan --check"

#------------------------------------------------------------------------------
echo "-- switchover: pigsty pgsql switchover pg-test --hold-writes (the trials of make bench go without)"
old=$(leader_name)
refuse_wrong_name() { on "echo nope | pigsty pgsql switchover pg-test" && return 1; [[ $(leader_name) == "$old" ]]; }
check "without --yes, a wrong name typed back refuses and changes nothing" refuse_wrong_name
step "push tests/lab/ha to the members" bash -c "for i in ${MEMBERS[*]}; do '$LAB' push \$i '$HA_DIR' /root/ha || exit 1; done"
oldip=$(leader_ip)
start_writer "$A" sw "$ALL_PG"
start_watcher "$A" sw "$ALL_PG"
start_timeline "$A" sw "$ALL_PG"
vip_sampler_start sw
sleep 5
t0=$(now)
check "pigsty pgsql switchover pg-test --hold-writes --yes" on "pigsty pgsql switchover pg-test --hold-writes --yes > /root/ha-switchover.log 2>&1"
t1=$(now)
on cat /root/ha-switchover.log | sed 's/^/     | /'
record switchover_command_seconds "$(secs "$t0" "$t1")"
check "the leader moved off $old" new_leader_other_than "$old"
new=$(leader_name)
check "switchover: every member's HAProxy was told the new primary as it came (haproxy_follow)" on "grep -q 'route to $new on 3 of 3 nodes' /root/ha-switchover.log"
check "switchover: the old leader's pgBouncer held the writes (PAUSE) and was resumed" on "grep -q 'pgbouncer on $oldip: paused' /root/ha-switchover.log && grep -q 'pgbouncer on $oldip: resumed' /root/ha-switchover.log"
pgbouncer_serves() { # ip: a query through its pgBouncer answers within 10 s (a paused one waits)
  [[ $(on "timeout 10 psql -X -A -t 'host=$1 port=6432 dbname=test user=dbuser_dba connect_timeout=3' -c 'select 1'") == 1 ]]
}
check "switchover: the old leader's pgBouncer is not left paused (a query through it answers)" retry 30 1 pgbouncer_serves "$oldip"
primary_up_on() { # ip: the servers UP in pg-test-primary on ip's HAProxy
  on "curl -sf 'http://$1:9101/metrics?scope=server'" | python3 -c 'import sys
up = [l.split("server=\"")[1].split("\"")[0] for l in sys.stdin if l.startswith("haproxy_server_status{proxy=\"pg-test-primary\"") and "state=\"UP\"" in l and l.split()[-1] == "1"]
print(",".join(sorted(up)))'
}
for ip in ${ALL_PG//,/ }; do
  check_eq "switchover: HAProxy on $ip routes the primary service to $new alone" "$new" primary_up_on "$ip"
done
check "one leader and two streaming replicas again" retry 60 2 healthy_cluster
check "switchover: the VIP moved to the new leader alone" retry 20 1 vip_on_leader
check "switchover: psql to $VIP:5432 reaches the new primary" retry 10 1 vip_is_primary
check_eq "switchover: no two members held the VIP at the same time (sampled on each member)" 1 vip_sampler_max sw
check "writes through 5433 go on after the switchover" retry 30 1 acks_after "$A" sw "$t1"
# pg-test backs up to each member's own /pg/backup (pgbackrest_method: local): the new
# primary had no stanza; Patroni's callback (/pg/bin/pg-role-change) creates it, or WAL
# archiving fails there (and its next demotion waits on the failing archiver)
new_archives() { lab ssh "$(node_of "$(leader_ip)")" "cd / && runuser -u postgres -- pgbackrest --stanza=pg-test --archive-timeout=20 check"; }
check "switchover: the new primary archives WAL (stanza created by pg-role-change)" retry 10 3 new_archives
sleep 3
stop_writer "$A" sw
v=$(verify_writes sw)
info "switchover: $v"
record switchover_max_gap_seconds "$(field "$v" max_gap)"
record switchover_acked "$(field "$v" acked)"
record switchover_lost "$(field "$v" lost)"
record switchover_failed "$(field "$v" failed)"
ev=$(events sw "$t0" "$old" "lab$(node_of "$oldip")")
record_events switchover "$ev"
info "switchover timeline (s from the command): $ev"
check_eq "switchover: every acknowledged write is in the table (lost)" 0 field "$v" lost
info "switchover: longest gap between two acknowledged writes $(field "$v" max_gap)s"

if brief "failover and switchover to a chosen member"; then :; else
echo "-- failover and switchover to a chosen member"
leader_is() { [[ $(leader_name) == "$1" ]]; }
# a member that may take over: a synchronous standby in synchronous mode, else a replica
to_other() { members | awk '$3 == "sync_standby" {s = $1} $3 == "replica" {r = $1} END {print (s != "" ? s : r)}'; }
target=$(to_other)
check "pigsty pgsql failover pg-test --to $target --yes" on "pigsty pgsql failover pg-test --to $target --yes"
check "the leader is $target" retry 10 1 leader_is "$target"
check "one leader and two streaming replicas again" retry 60 2 healthy_cluster
target=$(to_other)
check "pigsty pgsql switchover pg-test --to $target --yes" on "pigsty pgsql switchover pg-test --to $target --yes"
check "the leader is $target" retry 10 1 leader_is "$target"
check "one leader and two streaming replicas again" retry 60 2 healthy_cluster
check_refused "switchover --to the leader itself is refused" "is the leader already" on "pigsty pgsql switchover pg-test --to $target --yes"
fi

#------------------------------------------------------------------------------
# HA_TRIALS=N (make bench: 5): N more switchovers and N failovers, each with a writing
# client; the bench reports the median and worst write gap and the writes lost.
TRIALS=${HA_TRIALS:-0}
if ((TRIALS > 0)); then
  echo "-- $TRIALS switchover and $TRIALS failover trials with a writing client"
  for verb in switchover failover; do
    for ((k = 1; k <= TRIALS; k++)); do
      run=$verb-$k
      old=$(leader_name) oldhost=lab$(node_of "$(leader_ip)")
      start_writer "$A" "$run" "$ALL_PG"
      start_timeline "$A" "$run" "$ALL_PG"
      sleep 3
      t0=$(now)
      check "$verb trial $k" on "pigsty pgsql $verb pg-test --yes > /root/ha-$run.log 2>&1"
      check "$verb trial $k: one leader and two streaming replicas again" retry 60 2 healthy_cluster
      sleep 3
      stop_writer "$A" "$run"
      v=$(verify_writes "$run")
      record "${verb}_trial_${k}_max_gap_seconds" "$(field "$v" max_gap)"
      record "${verb}_trial_${k}_lost" "$(field "$v" lost)"
      record "${verb}_trial_${k}_errors" "$(field "$v" errors)"
      record "${verb}_trial_${k}_failed" "$(field "$v" failed)"
      ev=$(events "$run" "$t0" "$old" "$oldhost")
      record_events "${verb}_trial_${k}" "$ev"
      info "$verb trial $k: $v"
      info "$verb trial $k timeline (s from the command): $ev"
    done
  done
fi

#------------------------------------------------------------------------------
echo "-- crash: kill the primary's node, boot it again"
L=$(leader_name) LIP=$(leader_ip)
I=$(node_of "$LIP")
surv=$(tr ',' '\n' <<<"$ALL_PG" | grep -vx "$LIP" | paste -sd,)
info "primary $L on $LIP (lab$I); survivors $surv"
ttl=$(patroni_get "${surv%%,*}" /config | python3 -c 'import json,sys; print(json.load(sys.stdin)["ttl"])')
loop_wait=$(patroni_get "${surv%%,*}" /config | python3 -c 'import json,sys; print(json.load(sys.stdin)["loop_wait"])')
info "patroni ttl ${ttl}s, loop_wait ${loop_wait}s (pg_rto)"
start_writer "$A" crash "$ALL_PG"
start_watcher "$A" crash "$surv"
start_timeline "$A" crash "$surv"
sleep 5
# the time after the kill: lab.sh may first wait for its lock (a suite beside this one
# resetting a node), and a SIGKILL'd node is gone when the command returns
check "lab$I: kill (hard crash of the primary's node)" lab kill "$I"
t_kill=$(now)
at_exit lab start "$I"
check "a new leader is elected among the survivors" retry 240 0.5 new_leader_other_than "$L"
t_new=$(leader_seen_at crash "$L" "$t_kill")
[[ -n $t_new ]] || t_new=$(now)
elect=$(secs "$t_kill" "$t_new")
record crash_new_leader_seconds "$elect"
info "crash: new leader $(leader_name) after ${elect}s (ttl ${ttl}s + loop_wait ${loop_wait}s)"
within() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$1" "$2"; }
check "crash: new leader within the pg_rto budget (ttl ${ttl}s + loop_wait ${loop_wait}s; took ${elect}s)" within "$elect" "$((ttl + loop_wait))"
check "writes through 5433 resume on the surviving nodes" retry 60 1 acks_after "$A" crash "$t_kill" "lab$I"
check "crash: the VIP is on the new leader alone" retry 30 1 vip_on_leader
check "crash: psql to $VIP:5432 reaches the new primary" retry 10 1 vip_is_primary
check "lab$I: start (the node boots again)" lab start "$I"
check "$L rejoins as a replica with no manual step" retry 90 2 is_replica "$L"
check "one leader and two streaming replicas again" retry 60 2 healthy_cluster
check "crash: the VIP stays on the leader alone after $L rejoins" retry 20 1 vip_on_leader
sleep 2
stop_writer "$A" crash
v=$(verify_writes crash)
info "crash: $v"
record crash_max_gap_seconds "$(field "$v" max_gap)"
record crash_acked "$(field "$v" acked)"
record crash_lost "$(field "$v" lost)"
ev=$(events crash "$t_kill" "$L" "lab$I")
record_events crash "$ev"
info "crash timeline (s from the kill): $ev"
info "crash: longest write gap $(field "$v" max_gap)s, acknowledged writes lost: $(field "$v" lost)"
# pg-test's own pg_conf (HA_PG_CONF puts one there), else the global one
conf=$(on "sed -n 's/^        pg_conf: *\\([^ #]*\\).*/\\1/p; s/^    pg_conf: *\\([^ #]*\\).*/\\1/p' $INV | head -n1")
if [[ $conf == crit* ]]; then
  check_eq "crash: no acknowledged write lost (pg_conf crit: synchronous replication)" 0 field "$v" lost
else
  info "pg_conf $conf: asynchronous replication, a crash may lose the last acknowledged writes (pg_rpo)"
fi

#------------------------------------------------------------------------------
echo "-- partition: cut the primary's node off the network, heal it"
L=$(leader_name) LIP=$(leader_ip)
I=$(node_of "$LIP")
LHOST=lab$I
surv=$(tr ',' '\n' <<<"$ALL_PG" | grep -vx "$LIP" | paste -sd,)
info "primary $L on $LIP (lab$I); majority side $surv"
# The client on the isolated side writes to its postgres over the unix socket: that
# catches every write the old primary accepts (in the lab, a cut node also loses its
# own address, so its 5433 is gone with the network).
check "lab$I: a client of its own postgres (unix socket), with the password" lab ssh "$I" "umask 077; printf '%s\n' '*:*:*:dbuser_dba:$pw' '*:*:*:test:$app_pw' > /root/.pgpass"
start_writer "$I" part-old /var/run/postgresql 5432
start_writer "$A" part "$ALL_PG"
start_watcher "$A" part "$surv"
sleep 5
check "lab$I: cut" lab cut "$I"
t_cut=$(now) # after the cut, as t_kill
at_exit lab heal "$I"
check "a new leader on the majority side" retry 240 0.5 new_leader_other_than "$L"
t_new=$(leader_seen_at part "$L" "$t_cut")
[[ -n $t_new ]] || t_new=$(now)
record partition_new_leader_seconds "$(secs "$t_cut" "$t_new")"
old_pg() { lab exec "$I" runuser -u postgres -- psql -X -A -t -h /var/run/postgresql -c 'select pg_is_in_recovery()' 2>&1; }
not_primary() { # in recovery (demoted to read-only), or not running: either way no writes
  local r
  r=$(old_pg)
  echo "$r"
  [[ $r == t || $r == *"No such file or directory"* || $r == *"Connection refused"* || $r == *"the database system is"* ]]
}
sleep_until() { local d; d=$(python3 -c "import time,sys; print(max(0, float(sys.argv[1]) - time.time()))" "$1"); sleep "$d"; }
sleep_until "$(python3 -c "print($t_cut + $ttl)")"
check "after ttl (${ttl}s) the isolated old primary no longer runs as a primary" retry 10 1 not_primary
info "partition: the isolated old primary after ttl: pg_is_in_recovery() -> $(old_pg | head -n1)"
check "writes through 5433 resume on the majority side" retry 60 1 acks_after "$A" part "$t_cut" "$LHOST"
check "lab$I: heal" lab heal "$I"
check "$L rejoins as a replica with no manual step" retry 90 2 is_replica "$L"
check "one leader and two streaming replicas again" retry 60 2 healthy_cluster
sleep 2
stop_writer "$A" part
stop_writer "$I" part-old
lab ssh "$I" cat /root/ha-part-old.jsonl >"$WORK/part-old.jsonl"
on cat /root/ha-part.jsonl >"$WORK/part.jsonl"
one_writer_at_a_time() { # every ack of the old primary comes before the first ack of any other server
  python3 - "$WORK/part-old.jsonl" "$WORK/part.jsonl" "$LHOST" "$t_cut" <<'PY'
import json, sys
old, rest = sys.argv[3], float(sys.argv[4])
acks = [json.loads(l) for f in sys.argv[1:3] for l in open(f) if l.strip()]
acks = [a for a in acks if "server" in a]
old_last = max((a["t"] for a in acks if a["server"] == old), default=None)
new_first = min((a["t"] for a in acks if a["server"] != old), default=None)
print(f"old primary last ack at cut{old_last - rest:+.2f}s, another server's first ack at cut{new_first - rest:+.2f}s")
sys.exit(0 if old_last is not None and new_first is not None and old_last < new_first else 1)
PY
}
check "at no moment did two servers accept writes (the isolated primary's last ack < any other server's first)" one_writer_at_a_time
python3 - "$WORK/part-old.jsonl" "$LHOST" "$t_cut" >"$WORK/part-old.txt" <<'PY'
import json, sys
acks = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
late = [a for a in acks if "server" in a and a["server"] == sys.argv[2] and a["t"] > float(sys.argv[3])]
print(len(late), round(max((a["t"] for a in late), default=float(sys.argv[3])) - float(sys.argv[3]), 2))
PY
read -r late_acks late_for <"$WORK/part-old.txt"
record partition_old_primary_acks_after_cut "$late_acks"
record partition_old_primary_writable_after_cut_seconds "$late_for"
info "partition: the isolated primary acknowledged $late_acks writes during ${late_for}s after the cut (lost after it rejoined, unless synchronous)"
v=$(verify_writes part)
info "partition (majority-side client): $v"
record partition_max_gap_seconds "$(field "$v" max_gap)"
record partition_lost "$(field "$v" lost)"
lab push "$A" "$WORK/part-old.jsonl" /root/ha-part-old.jsonl # verify reads the log on the admin node
vo=$(verify_writes part-old)
record partition_old_primary_lost "$(field "$vo" lost)"
info "partition: writes the isolated primary acknowledged and that are gone now: $(field "$vo" lost)"
if [[ $conf == crit* ]]; then
  check_eq "partition: no acknowledged write lost (pg_conf crit)" 0 field "$vo" lost
fi

#------------------------------------------------------------------------------
echo "-- converge again after the faults; then a deploy changes nothing"
check "pigsty deploy (every host) after the faults" timeout 1800 "$LAB" ssh "$A" "pigsty deploy > /root/ha-deploy2.log 2>&1"
on "grep -E '^10\\.10\\.10\\.[0-9]+ ' /root/ha-deploy2.log | tail -n 8" | sed 's/^/     | /'
full_changed() { on "pigsty deploy --json" 2>"$WORK/full.err" | recap_changed; }
t0=$(now)
check_eq "a second pigsty deploy (every host) reports 0 changed" 0 full_changed
t1=$(now)
record noop_deploy_all_seconds "$(secs "$t0" "$t1")"
ssh4() { on "for h in $META ${PG_IPS[*]}; do ssh -o BatchMode=yes -o ControlMaster=no -o ControlPath=none root@\$h true & done; wait"; }
t0=$(now)
check "4 parallel ssh round trips from node $A" ssh4
t1=$(now)
record ssh_parallel_4_nodes_seconds "$(secs "$t0" "$t1")"
check "pigsty plan --check exits 0" on "pigsty plan --check"

#------------------------------------------------------------------------------
echo "-- pigsty pgsql rm of a replica, then pigsty join of that node reset to a fresh disk"
LIP=$(leader_ip)
R=$(tr ',' '\n' <<<"$ALL_PG" | grep -vx "$LIP" | tail -n1)
RI=$(node_of "$R")
RN=$(members | awk -v h="$R" '$2 == h {print $1}')
info "leader on $LIP; removing the replica $RN ($R, lab$RI)"
refuse_rm_wrong_name() { on "echo pg-nope | pigsty pgsql rm pg-test $R" && return 1; healthy_cluster 3; }
check "pgsql rm without --yes and a wrong name typed back: refused, nothing changed" refuse_rm_wrong_name
check_refused "pgsql rm of the leader alone is refused" "removing it alone would force a failover" on "pigsty pgsql rm pg-test $LIP --yes"
check_refused "pg_safeguard on (-e pg_safeguard=true): pgsql rm is refused" "pg_safeguard is on" on "pigsty pgsql rm pg-test $R --yes -e pg_safeguard=true"
check "... and the replica still runs" lab ssh "$RI" systemctl is-active --quiet patroni
t0=$(now)
check "pigsty pgsql rm pg-test $R --yes" on "pigsty pgsql rm pg-test $R --yes > /root/ha-rm.log 2>&1"
t1=$(now)
record rm_replica_seconds "$(secs "$t0" "$t1")"
on tail -n 4 /root/ha-rm.log | sed 's/^/     | /'
check "after rm: one leader and one streaming replica" retry 30 2 healthy_cluster 2
check_fails "after rm: patroni and postgres no longer run on $R" lab ssh "$RI" "systemctl is-active --quiet patroni || pgrep -x postgres"
check_fails "after rm: the data directory of $R is gone" lab ssh "$RI" "test -e /pg/data"
check_fails "after rm: prometheus has no pgsql target file for $R" on "test -e /etc/prometheus/targets/pgsql/$R.yml"
check "after rm: the other members' haproxy no longer lists $RN" on "ssh $LIP 'test -s /etc/haproxy/pg-test-replica.cfg && ! grep -q $RN /etc/haproxy/pg-test-replica.cfg' && { ! test -e /etc/haproxy/pg-test-replica.cfg || ! grep -q '$RN' /etc/haproxy/pg-test-replica.cfg; }"
tok=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
check "after rm: writes through 5433 of the leader's node still work" psql_at "$LIP" 5433 test "insert into ha_rw(token, via) values ('$tok', 'after-rm')"
if [[ $ADMIN_DISTRO != "$SUITE_DISTRO" ]]; then
  echo "-- a member of another release (and so another default major) is refused by pg-test"
  check "lab$RI: reset to a fresh $ADMIN_DISTRO disk" "$LAB" reset "$RI" --distro "$ADMIN_DISTRO"
  check_refused "pigsty join $R ($ADMIN_DISTRO) is refused: the leader runs another major" \
    "would run PostgreSQL" on "pigsty join $R > /root/ha-join-mixed.log 2>&1; rc=\$?; cat /root/ha-join-mixed.log; exit \$rc"
  lmajor=$(psql_at "$(leader_ip)" 5433 test "select current_setting('server_version_num')::int / 10000")
  case $ADMIN_DISTRO in # the refused member's release and the major its archive offers
    bookworm) other_release="debian 12 (bookworm)" other_major=15 ;;
    trixie) other_release="debian 13 (trixie)" other_major=17 ;;
  esac
  check "the refusal names the leader's major ($lmajor), this member's release and the way out" \
    on "grep -q 'runs PostgreSQL $lmajor but this member, on $other_release, would run PostgreSQL $other_major' /root/ha-join-mixed.log && grep -q 'set .pg_version: $lmajor. for the cluster' /root/ha-join-mixed.log"
  check_fails "... and no postgres server or patroni got installed on $R" lab ssh "$RI" "dpkg -l 'postgresql-1*' patroni 2>/dev/null | grep -q '^ii'"
  check "... and pg-test still has one leader and one streaming replica" healthy_cluster 2
fi
check "lab$RI: reset to a fresh disk" lab reset "$RI"
t0=$(now)
check "pigsty join $R (a fresh node becomes a replica of pg-test)" timeout 1800 "$LAB" ssh "$A" "pigsty join $R > /root/ha-join.log 2>&1"
t1=$(now)
record join_replica_seconds "$(secs "$t0" "$t1")"
info "join of $R took $(secs "$t0" "$t1")s"
on tail -n 4 /root/ha-join.log | sed 's/^/     | /'
check "after join: one leader and two streaming replicas" retry 60 2 healthy_cluster 3
check "after join: the row written after the rm is in $R's own postgres" retry 20 1 row_there "$R" 5432 "$tok"
check "after join: prometheus scrapes the three members again" retry 40 3 prom_has_pg_test

#------------------------------------------------------------------------------
if brief "a changed ssh host key"; then :; else
echo "-- a changed ssh host key: refused for that host, the others converge"
LIP=$(leader_ip)
R=$(tr ',' '\n' <<<"$ALL_PG" | grep -vx "$LIP" | tail -n1)
O=$(tr ',' '\n' <<<"$ALL_PG" | grep -vx "$R" | head -n1)
swap_key() { # the admin node's system known_hosts: R's keys replaced by O's (as after a reinstall)
  on "cp -p /etc/ssh/ssh_known_hosts /root/ssh_known_hosts.ha && ssh-keygen -R $R >/dev/null 2>&1; python3 - $R $O <<'PY'
import sys
r, o = sys.argv[1], sys.argv[2]
lines = open('/etc/ssh/ssh_known_hosts').read().splitlines()
keys = {l.split()[1]: l.split()[2] for l in lines if l.split() and o in l.split()[0].split(',')}
out = []
for l in lines:
    f = l.split()
    if f and r in f[0].split(',') and f[1] in keys:
        l = ' '.join([f[0], f[1], keys[f[1]]])
    out.append(l)
open('/etc/ssh/ssh_known_hosts', 'w').write('\n'.join(out) + '\n')
PY
ssh -o ControlPath=/run/pigsty/ssh/%C -O exit root@$R >/dev/null 2>&1; true"
}
step "node $A believes $R has another host key" swap_key
at_exit on "cp -p /root/ssh_known_hosts.ha /etc/ssh/ssh_known_hosts"
on "pigsty deploy -l pg-test --json > /root/ha-hostkey.json 2> /root/ha-hostkey.err; echo \$? > /root/ha-hostkey.rc" || true
check_eq "deploy exits 1" 1 on cat /root/ha-hostkey.rc
check "the error names $R and says its host key changed" on "grep -E 'host \`$R\`.*host key CHANGED' /root/ha-hostkey.err"
check "the two other hosts converged with no failure" only_failed /root/ha-hostkey.json "$R"
step "the right key back on node $A" on "cp -p /root/ssh_known_hosts.ha /etc/ssh/ssh_known_hosts"
check "deploy -l pg-test works again" on "pigsty deploy -l pg-test > /root/ha-deploy3.log 2>&1"
fi

#------------------------------------------------------------------------------
if brief "an unreachable host"; then :; else
echo "-- an unreachable host: a clear error for it, the others converge"
LIP=$(leader_ip)
R=$(tr ',' '\n' <<<"$ALL_PG" | grep -vx "$LIP" | tail -n1) # a replica: no failover
RI=$(node_of "$R")
check "lab$RI ($R): cut" lab cut "$RI"
at_exit lab heal "$RI"
on "pigsty deploy -l pg-test --json > /root/ha-unreach.json 2> /root/ha-unreach.err; echo \$? > /root/ha-unreach.rc" || true
check_eq "deploy exits 1" 1 on cat /root/ha-unreach.rc
check "the error names the host and says it is unreachable" on "grep -E 'host \`$R\`.*unreachable' /root/ha-unreach.err"
check "the two other hosts converged with no failure" only_failed /root/ha-unreach.json "$R"
on cat /root/ha-unreach.err | grep -E 'error|unreachable' | head -n 3 | sed 's/^/     | /'
check "lab$RI: heal" lab heal "$RI"
check "one leader and two streaming replicas after the heal" retry 60 2 healthy_cluster
fi

if brief "the node VIP (vip_enabled)"; then :; else
M3=${MEMBERS[2]} # vip_role: master
echo "-- the node VIP (vip_enabled): $NVIP on lab$M3 (vip_role master), moves when lab$M3 dies, comes back (vip_preempt)"
nvip_holders() { holders "$NVIP"; }
nvip_is() { local h; h=$(nvip_holders); echo "holders: ${h:-none}"; [[ $h == "$1" ]]; }
nvip_on_other() { local h; h=$(nvip_holders); echo "holders: ${h:-none}"; [[ $h == "${PG_IPS[0]}" || $h == "${PG_IPS[1]}" ]]; }
nvip_serves() { on "curl -sf -o /dev/null http://$NVIP:9101/metrics"; }
check "the node VIP is on lab$M3 alone" retry 20 1 nvip_is "${PG_IPS[2]}"
check "node $A reaches HAProxy's metrics through the node VIP" retry 10 1 nvip_serves
check "lab$M3: kill" lab kill "$M3"
at_exit lab start "$M3"
check "the node VIP moved to lab${MEMBERS[0]} or lab${MEMBERS[1]} (one of them)" retry 20 1 nvip_on_other
check "node $A still reaches HAProxy through the node VIP" retry 10 1 nvip_serves
check "lab$M3: start" lab start "$M3"
check "the node VIP is back on lab$M3 alone (vip_preempt)" retry 90 1 nvip_is "${PG_IPS[2]}"
check "one leader and two streaming replicas after lab$M3's return" retry 90 2 healthy_cluster
fi

if brief "maintenance mode"; then :; else
echo "-- maintenance mode: pause stops failover until resume"
paused_is() { [[ $(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clusters"][0].get("paused"))') == "$1" ]]; }
is_paused() { paused_is True; }
check "pigsty pgsql pause pg-test" on "pigsty pgsql pause pg-test > /root/ha-pause.log 2>&1"
check "pigsty status shows pg-test paused" is_paused
check "pigsty status says so in words" on "pigsty status pg-test | grep -q 'paused: maintenance mode'"
P=$(leader_name) PIP=$(leader_ip)
PI=$(node_of "$PIP")
check "lab$PI: the leader's postmaster killed (SIGKILL)" lab ssh "$PI" "kill -9 \$(head -n1 /pg/data/postmaster.pid)"
wait_s=$((ttl + loop_wait + 5))
info "waiting ${wait_s}s (ttl + loop_wait + 5) for a failover that must not come"
sleep "$wait_s"
no_other_leader() { local m; m=$(members) || return 1; echo "$m"; ! awk -v p="$P" '$3 == "leader" && $1 != p' <<<"$m" | grep -q .; }
check "paused: no replica was promoted" no_other_leader
pg_down() { ! lab ssh "$PI" "runuser -u postgres -- pg_isready -q -h /var/run/postgresql"; }
check "paused: Patroni did not start the killed Postgres again" pg_down
check "pigsty pgsql resume pg-test" on "pigsty pgsql resume pg-test > /root/ha-resume.log 2>&1"
check "pigsty status shows pg-test not paused" paused_is False
check "resumed: one leader and two streaming replicas again" retry 90 2 healthy_cluster
fi

if brief "every pg_rto plan deploys, and HAProxy accepts its health-check timings"; then :; else
echo "-- every pg_rto plan deploys, and HAProxy accepts its health-check timings"
# the plans' HAProxy intervals include fractions of a second (fast: fastinter 0.5s),
# which Debian 12's HAProxy 2.6 only takes as whole milliseconds; a number is seconds
# (Pigsty before v4), its ttl floored at what the node's Patroni takes (10 on 3.0)
if [[ $SUITE_DISTRO == bookworm ]]; then
  ttl10=10 why10="Patroni 3.0.2-1 takes a ttl down to 10 s" loop10=1 retry10=3
else # Patroni 4 on trixie
  ttl10=20 why10="refuses a ttl under 20 s" loop10=3 retry10=6
fi
for rto in fast safe wide 45 10 norm; do
  check "pg_rto=$rto: deploy of pg-test succeeds" on "pigsty deploy -l pg-test -m pgsql -e pg_rto=$rto > /root/ha-rto.log 2>&1 || { tail -n 30 /root/ha-rto.log; exit 1; }"
  for ip in ${ALL_PG//,/ }; do
    check "pg_rto=$rto: haproxy -c accepts $ip's configuration" lab ssh "$(node_of "$ip")" "haproxy -f /etc/haproxy/ -c -q"
  done
  if [[ $rto == fast ]]; then check "pg_rto=fast: fastinter rendered as 500ms" lab ssh "${MEMBERS[0]}" "grep -q 'fastinter 500ms' /etc/haproxy/pg-test-primary.cfg"; fi
  if [[ $rto == 10 ]]; then
    check_eq "pg_rto=10: Patroni's ttl is $ttl10 s ($why10)" "$ttl10" dcs_ttl
    check "pg_rto=10: plan names the timings and the Patroni floor" on "pigsty plan -l pg-test -m pgsql -e pg_rto=10 2>&1 | grep 'pg_rto 10: ttl ${ttl10}s, loop_wait ${loop10}s, retry_timeout ${retry10}s' | grep -q '$why10'"
  fi
done
check_eq "pg_rto=norm again: Patroni's ttl is 30 s" 30 dcs_ttl
fi

#------------------------------------------------------------------------------
# HA_CRASH_TRIALS=N with HA_CRASH_RTOS="10 fast" (make bench): for each pg_rto, N hard
# crashes of the primary's node with a writing client and the timeline watcher; the
# node boots again and rejoins before the next. Then pg_rto as the inventory says.
crash_trial() { # run
  local run=$1 L LIP I surv t_kill v ev
  L=$(leader_name) LIP=$(leader_ip)
  I=$(node_of "$LIP")
  surv=$(tr ',' '\n' <<<"$ALL_PG" | grep -vx "$LIP" | paste -sd,)
  start_writer "$A" "$run" "$ALL_PG"
  start_timeline "$A" "$run" "$surv"
  sleep 3
  check "$run: kill lab$I, the primary's node" lab kill "$I"
  t_kill=$(now)
  check "$run: a new leader among the survivors" retry 120 0.5 new_leader_other_than "$L"
  check "$run: writes resume through 5433" retry 60 0.5 acks_after "$A" "$run" "$t_kill" "lab$I"
  sleep 1
  stop_writer "$A" "$run"
  check "$run: lab$I boots again" lab start "$I"
  check "$run: $L rejoins as a replica" retry 90 2 is_replica "$L"
  check "$run: one leader and two streaming replicas again" retry 60 2 healthy_cluster
  v=$(verify_writes "$run")
  ev=$(events "$run" "$t_kill" "$L" "lab$I")
  record "${run}_max_gap_seconds" "$(field "$v" max_gap)"
  record "${run}_lost" "$(field "$v" lost)"
  record_events "$run" "$ev"
  info "$run: $v"
  info "$run timeline (s from the kill): $ev"
  if [[ $conf == crit* ]]; then check_eq "$run: no acknowledged write lost (crit)" 0 field "$v" lost; fi
}
CRASH_TRIALS=${HA_CRASH_TRIALS:-0}
if ((CRASH_TRIALS > 0)); then
  for rto in ${HA_CRASH_RTOS:-10 fast}; do
    echo "-- $CRASH_TRIALS crash trials with pg_rto=$rto"
    check "pg_rto=$rto: deploy of pg-test" on "pigsty deploy -l pg-test -m pgsql -e pg_rto=$rto > /root/ha-rto.log 2>&1 || { tail -n 30 /root/ha-rto.log; exit 1; }"
    info "pg_rto=$rto: Patroni ttl $(dcs_ttl)s"
    for ((k = 1; k <= CRASH_TRIALS; k++)); do crash_trial "crash_rto${rto}_trial_$k"; done
  done
  check "pg_rto as the inventory says again" on "pigsty deploy -l pg-test -m pgsql > /root/ha-rto.log 2>&1 || { tail -n 30 /root/ha-rto.log; exit 1; }"
fi
check "one leader and two streaming replicas after the plans" retry 60 2 healthy_cluster

#------------------------------------------------------------------------------
if [[ -n ${HA_RESULTS:-} ]]; then
  python3 - "$WORK/results.tsv" >"$HA_RESULTS" <<'PY'
import json, sys
out = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("\t")
    try:
        out[k] = float(v) if "." in v else int(v)
    except ValueError:
        out[k] = v or None
print(json.dumps(out))
PY
fi
echo "measured:"
sed 's/^/  /' "$WORK/results.tsv"

summary
