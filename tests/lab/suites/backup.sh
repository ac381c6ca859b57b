#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# backup: MINIO (Garage engine) on node 1, pg-test (nodes 2-4) backing up to it over
# HTTPS with a CA INFRA created and every node trusts, then point-in-time recovery,
# backups after a failover, the singleton's local repository restored to a point in
# time, bad PITR input refused with the cluster untouched, and a cluster rebuilt on
# reset nodes from the S3 repository alone. Checked as a user would: through the
# service ports with the generated passwords, `pgbackrest info`, S3 calls with each
# bucket's own key.
#
# Runs after `singleton` (and `ha`) in the same lab, or after `singleton` alone: pg-test
# is set up as the ha suite does when it is missing (tests/lab/backup/pgtest.sh).
# The Garage binary comes from tests/lab/garage.sh (built once, cached outside the repo).
#
#   BACKUP_RESULTS=FILE   also write the measured numbers there as JSON
# shellcheck disable=SC2034 # read by run.sh
NODES=4
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"
# shellcheck source=SCRIPTDIR/../backup/pgtest.sh
source "$LAB_DIR/backup/pgtest.sh"

META=10.10.10.10
PG_IPS=(10.10.10.11 10.10.10.12 10.10.10.13)
INV=/etc/pigsty/pigsty.yml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-backup.XXXXXX")
at_exit rm -rf "$WORK"
: >"$WORK/results.tsv"

on() { lab ssh 1 "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$2"; }
record() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/results.tsv"; }
node_of() { echo $((${1##*.} - 9)); }

psql_at() { # host port db sql: as dbuser_dba from node 1 (password in node 1's ~/.pgpass)
  on "psql -X -A -t -v ON_ERROR_STOP=1 'host=$1 port=$2 dbname=$3 user=dbuser_dba connect_timeout=3' -c \"$4\""
}
status_json() { on "pigsty status $1 --json 2>/dev/null; true"; }
members() { # CLUSTER: `name host role state timeline` lines
  status_json "$1" | python3 -c 'import json,sys
c=json.load(sys.stdin)["clusters"][0]
for m in c.get("members", []): print(m.get("name"), m.get("host"), m.get("role"), m.get("state"), m.get("timeline"))'
}
leader_line() { members "${1:-pg-test}" | awk '$3 == "leader" && $4 == "running"' | head -n1; }
leader_ip() { leader_line pg-test | awk '{print $2}'; }
leader_name() { leader_line pg-test | awk '{print $1}'; }
leader_tl() { leader_line pg-test | awk '{print $5}'; }
healthy_cluster() { # one running leader, two replicas streaming on its timeline
  local m
  m=$(members pg-test) || return 1
  echo "$m"
  python3 - "$m" <<'PY' || return 1
import sys
ms = [l.split() for l in sys.argv[1].splitlines() if l.strip()]
leaders = [m for m in ms if m[2] == "leader" and m[3] == "running"]
reps = [m for m in ms if m[2] in ("replica", "sync_standby") and m[3] in ("running", "streaming")]
sys.exit(0 if len(ms) == 3 and len(leaders) == 1 and len(reps) == 2 and all(r[4] == leaders[0][4] for r in reps) else 1)
PY
  [[ $(psql_at "$(leader_ip)" 5436 postgres "select count(*) from pg_stat_replication where state = 'streaming'") == 2 ]]
}
on_leader() { lab ssh "$(node_of "$(leader_ip)")" "$@"; }
info_json() { on_leader "runuser -u postgres -- pgbackrest --stanza=pg-test --output=json info"; }
count_backups() { # TYPE: number of backups of that type of pg-test
  info_json | python3 -c 'import json,sys; s=[x for x in json.load(sys.stdin) if x["name"]=="pg-test"][0]; print(sum(1 for b in s["backup"] if b["type"]==sys.argv[1]))' "$1"
}
repo_is_s3() { on_leader "grep -q '^repo1-type=s3' /etc/pgbackrest/pgbackrest.conf && grep -q '^repo1-s3-endpoint=sss.pigsty' /etc/pgbackrest/pgbackrest.conf"; }

echo "-- the garage binary (built once, cached outside the repository)"
GARAGE=$("$LAB_DIR/garage.sh" 2>"$WORK/garage.err") || true
check "tests/lab/garage.sh gives a garage binary" test -x "$GARAGE"
[[ -x $GARAGE ]] || tail -n 5 "$WORK/garage.err" | sed 's/^/     | /'

echo "-- node 1 (singleton) and pg-test (nodes 2-4)"
pgtest_setup
pw=$(on "sed -n 's/^    pg_admin_password: *//p' $INV | head -n1")
on "umask 077; echo '*:*:*:dbuser_dba:$pw' > /root/.pgpass"
check "pg-test is healthy before we start" retry 30 2 healthy_cluster

echo "-- pigsty repo add: the garage binary into node 1's local repository"
step "push the garage binary to node 1" lab push 1 "$GARAGE" /root/garage
check "pigsty repo add /root/garage" on "pigsty repo add /root/garage > /root/repo-add.log 2>&1"
check "nginx serves it and SHA256SUMS records its checksum" on "cd /tmp && curl -sf http://$META/pigsty/garage -o /tmp/garage.dl && curl -sf http://$META/pigsty/SHA256SUMS | grep ' garage\$' | sed 's/garage\$/garage.dl/' | sha256sum -c --quiet"

echo "-- MINIO on node 1 (garage engine), HTTPS with the INFRA CA"
step "push tests/lab/backup and ha to node 1" bash -c "'$LAB' push 1 '$LAB_DIR/backup' /root/backup && '$LAB' push 1 '$LAB_DIR/ha' /root/ha"
merge_minio() {
  on "python3 - <<'PY'
import re
inv = open('$INV').read()
m = re.search(r'^ +s3_key_secret: *(\\S+)', inv, re.M)
src = open('/root/backup/minio.yml').read().replace('__S3_KEY_SECRET__', m.group(1))
import os
fd = os.open('/root/backup/minio.merge.yml', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, src.encode()); os.close(fd)
PY
python3 /root/ha/merge.py /root/backup/minio.merge.yml $INV && rm -f /root/backup/minio.merge.yml"
}
check "merge group minio into node 1's inventory (pgbackrest's key = pgbackrest_repo.minio.s3_key_secret)" merge_minio
sss_and_minio() { # every node resolves sss.pigsty; pg-test's repository is minio
  on "grep -q \"'$META sss.pigsty'\" $INV || sed -i \"s/^    node_etc_hosts: \\[ '$META i.pigsty' \\]/    node_etc_hosts: [ '$META i.pigsty', '$META sss.pigsty' ]/\" $INV" &&
    on "sed -i 's/^        pgbackrest_method: local.*\$/        pgbackrest_method: minio/' $INV" &&
    on "grep -q \"'$META sss.pigsty'\" $INV && grep -q '^        pgbackrest_method: minio' $INV"
}
check "the inventory: sss.pigsty in node_etc_hosts, pg-test on pgbackrest_method minio" sss_and_minio
check "pigsty validate" on "pigsty validate > /root/validate.log 2>&1"
check "INFRA on node 1 (the CA exists once)" timeout 900 "$LAB" ssh 1 "pigsty deploy -l $META -m infra > /root/bk-infra.log 2>&1"
check "the CA: /etc/pki/ca.crt, its key 0600" on "openssl x509 -in /etc/pki/ca.crt -noout -subject | grep -q pigsty-ca && test \"\$(stat -c %a /etc/pki/ca.key)\" = 600"
t0=$(now)
check "pigsty minio add minio" timeout 1200 "$LAB" ssh 1 "pigsty minio add minio > /root/minio-add.log 2>&1"
t1=$(now)
record minio_add_seconds "$(secs "$t0" "$t1")"
on tail -n 6 /root/minio-add.log | sed 's/^/     | /'
check "garage runs as a systemd unit on node 1" on "systemctl is-active --quiet garage"
check "the certificate on :9000 is signed by the CA for sss.pigsty" on "echo | openssl s_client -connect $META:9000 -servername sss.pigsty -CAfile /etc/pki/ca.crt -verify_hostname sss.pigsty 2>/dev/null | grep -q 'Verify return code: 0'"
check "a second minio add changes nothing" on "pigsty deploy -l $META -m minio --json 2>/dev/null | python3 -c 'import json,sys
r=[json.loads(l) for l in sys.stdin if l.startswith(\"{\")]
r=[x for x in r if x.get(\"event\")==\"recap\"][-1]
sys.exit(0 if sum(h[\"changed\"] for h in r[\"hosts\"].values()) == 0 else 1)'"
prom_minio_up() {
  on "curl -sf 'http://$META:9090/api/v1/targets?state=active'" | python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"].get("job")=="minio"]
print([(t["scrapeUrl"], t["health"]) for t in ts]); sys.exit(0 if ts and all(t["health"]=="up" for t in ts) else 1)'
}
check "prometheus scrapes the minio target and it is up" retry 30 3 prom_minio_up

echo "-- pg-test backs up to MINIO over HTTPS"
t0=$(now)
check "pigsty deploy -l pg-test -m node,pgsql (sss.pigsty, CA trust, s3 repository, stanza, full backup)" timeout 1800 "$LAB" ssh 1 "pigsty deploy -l pg-test -m node,pgsql > /root/bk-deploy.log 2>&1"
t1=$(now)
record switch_to_minio_seconds "$(secs "$t0" "$t1")"
on "grep -E 'failed|error' /root/bk-deploy.log | tail -n 5" | sed 's/^/     | /'
for i in 1 2 3 4; do
  check "lab$i trusts the CA: https://sss.pigsty:9000 verifies with the system store" lab ssh "$i" "curl -s -o /dev/null https://sss.pigsty:9000/"
done
check "the leader's pgbackrest.conf points at the s3 repository on sss.pigsty" repo_is_s3
check "pgbackrest check passes on the leader" on_leader "runuser -u postgres -- pgbackrest --stanza=pg-test check"
has_backups() { [[ $(count_backups full) -ge ${1:-1} && $(count_backups incr) -ge ${2:-0} ]]; }
n_backups() { info_json | python3 -c 'import json,sys; print(len([x for x in json.load(sys.stdin) if x["name"]=="pg-test"][0]["backup"]))'; }
check "the first full backup is in the bucket" retry 5 3 has_backups 1 0
t0=$(now)
check "pigsty pgsql backup pg-test incr" on "pigsty pgsql backup pg-test incr > /root/bk-incr.log 2>&1"
t1=$(now)
record backup_incr_seconds "$(secs "$t0" "$t1")"
check "pgbackrest info lists a full and an incremental backup" has_backups 1 1
# backup freshness in Prometheus: pgbackrest-metrics (textfile, job node) after the backup
incr_in_prom() {
  on "curl -sf 'http://$META:9090/api/v1/query' --data-urlencode 'query=time() - pgbackrest_backup_last_timestamp_seconds{job=\"node\",stanza=\"pg-test\",type=\"incr\"} < 900'" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r); sys.exit(0 if r else 1)'
}
check "prometheus sees the incremental backup, less than 15 min old (pgbackrest_backup_last_timestamp_seconds)" retry 10 3 incr_in_prom
status_shows_backup() { on "pigsty status pg-test" | tee /dev/stderr | grep -E '^  backup: last .* last full .*; archiving ok'; }
check "pigsty status pg-test shows the last backup and healthy archiving" status_shows_backup
if [[ ${BACKUP_BENCH:-0} == 1 ]]; then # make bench: pigsty next to the same pgbackrest commands by hand
  t0=$(now)
  check "bench: pigsty pgsql backup pg-test full" on "pigsty pgsql backup pg-test full > /root/bench-full.log 2>&1"
  t1=$(now)
  record backup_full_pigsty_seconds "$(secs "$t0" "$t1")"
  t0=$(now)
  check "bench: pgbackrest --type=full backup by hand on the leader" on_leader "cd / && runuser -u postgres -- pgbackrest --stanza=pg-test --type=full backup"
  t1=$(now)
  record backup_full_by_hand_seconds "$(secs "$t0" "$t1")"
  R=$(tr ' ' '\n' <<<"${PG_IPS[*]}" | grep -vx "$(leader_ip)" | head -n1)
  t0=$(now)
  check "bench: pgbackrest restore by hand into a scratch directory on $R" lab ssh "$(node_of "$R")" "cd / && rm -rf /pg/tmp/bench-restore && install -d -m 0700 -o postgres -g postgres /pg/tmp/bench-restore && runuser -u postgres -- pgbackrest --stanza=pg-test --pg1-path=/pg/tmp/bench-restore --type=immediate --target-action=promote restore"
  t1=$(now)
  record restore_by_hand_seconds "$(secs "$t0" "$t1")"
  lab ssh "$(node_of "$R")" "rm -rf /pg/tmp/bench-restore"
fi
check "the repository is encrypted (cipher aes-256-cbc)" on_leader "grep -q '^repo1-cipher-type=aes-256-cbc' /etc/pgbackrest/pgbackrest.conf"

echo "-- each bucket's key works only for its own bucket"
s3cfg() { # KEY: /root/s3-KEY.curl (0600) with the key's id and secret from the inventory
  on "python3 - $1 <<'PY'
import os, sys, yaml
inv = yaml.safe_load(open('$INV'))
u = [x for x in inv['all']['children']['minio']['vars']['minio_users'] if x['access_key'] == sys.argv[1]][0]
fd = os.open('/root/s3-%s.curl' % sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, ('user = \"%s:%s\"\n' % (u['access_key'], u['secret_key'])).encode()); os.close(fd)
PY"
}
s3_code() { # KEY BUCKET: HTTP code of ListObjectsV2 on BUCKET signed with KEY
  on "curl -s -o /dev/null -w '%{http_code}' -K /root/s3-$1.curl -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' --aws-sigv4 aws:amz:us-east-1:s3 'https://sss.pigsty:9000/$2?list-type=2'"
}
s3cfgs() { s3cfg pgbackrest && s3cfg s3user_meta; }
check "credentials files for pgbackrest and s3user_meta" s3cfgs
check_eq "pgbackrest's key lists bucket pgsql" 200 s3_code pgbackrest pgsql
check_eq "pgbackrest's key is refused on bucket meta" 403 s3_code pgbackrest meta
check_eq "s3user_meta's key lists bucket meta" 200 s3_code s3user_meta meta
check_eq "s3user_meta's key is refused on bucket pgsql" 403 s3_code s3user_meta pgsql
check "no credentials file is world-readable" on "! find /root -maxdepth 1 -name 's3-*.curl' -perm /o=r | grep -q ."

echo "-- bad input: the cluster is left untouched"
before=$(leader_line)
err_has() { on "$1 > /root/bk-bad.out 2>&1; rc=\$?; cat /root/bk-bad.out; test \$rc -ne 0 && grep -q \"$2\" /root/bk-bad.out"; }
check "pitr --time before the first backup fails naming the earliest restorable point" err_has "pigsty pgsql pitr pg-test --time '2001-01-01 00:00:00+00' --yes" "earliest restorable point"
check "pitr --from a cluster with no backups fails saying there is no earliest restorable point" err_has "pigsty pgsql pitr pg-test --from pg-nobackups --latest --yes" "no earliest restorable point"
check_eq "... the same leader on the same timeline, patroni running" "$before" leader_line
check "... and pg-test is healthy" retry 5 2 healthy_cluster

echo "-- point-in-time recovery of pg-test"
L=$(leader_ip)
tl0=$(leader_tl)
check "batch A (1000 rows) and a table to drop, through 5433" psql_at "$L" 5433 test \
  "drop table if exists pitr_a; drop table if exists pitr_gone; create table pitr_a(id int primary key, batch text); insert into pitr_a select g, 'A' from generate_series(1, 1000) g; create table pitr_gone(id int); insert into pitr_gone select generate_series(1, 10)"
sleep 2
T=$(psql_at "$L" 5433 test "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
info "T = $T"
sleep 2
check "batch B (1000 rows), then drop the table" psql_at "$L" 5433 test \
  "insert into pitr_a select g, 'B' from generate_series(1001, 2000) g; drop table pitr_gone"
check "the WAL up to now is archived (pgbackrest check)" on_leader "runuser -u postgres -- pgbackrest --stanza=pg-test check"
refuse_wrong_name() { on "echo nope | pigsty pgsql pitr pg-test --time '$T'" && return 1; [[ $(psql_at "$L" 5433 test "select count(*) from pitr_a") == 2000 ]]; }
check "without --yes, a wrong name typed back refuses and changes nothing" refuse_wrong_name
t0=$(now)
check "pigsty pgsql pitr pg-test --time T --yes" timeout 3600 "$LAB" ssh 1 "pigsty pgsql pitr pg-test --time '$T' --yes > /root/bk-pitr.log 2>&1"
t1=$(now)
record pitr_pg_test_seconds "$(secs "$t0" "$t1")"
on tail -n 12 /root/bk-pitr.log | sed 's/^/     | /'
check "one leader and two streaming replicas" retry 60 2 healthy_cluster
L=$(leader_ip)
check_eq "batch A is there, batch B is not (count, batches)" "1000|A" psql_at "$L" 5433 test "select count(*) || '|' || string_agg(distinct batch, ',') from pitr_a"
check_eq "the dropped table is back" 10 psql_at "$L" 5433 test "select count(*) from pitr_gone"
tl1=$(leader_tl)
check "a new timeline ($tl0 -> $tl1)" test "${tl1:-0}" -gt "${tl0:-0}"
own_count() { [[ $(psql_at "$1" 5432 test "select count(*) from pitr_a") == "$2" ]]; }
for r in "${PG_IPS[@]}"; do
  check "  $r's own postgres has batch A only" retry 10 1 own_count "$r" 1000
done
new_wal_archived() { # a WAL segment of the new timeline is in the repository
  local seg
  psql_at "$L" 5433 test "insert into pitr_a values (5000, 'C')" >/dev/null &&
    seg=$(psql_at "$L" 5433 test "select pg_walfile_name(pg_current_wal_lsn())") &&
    psql_at "$L" 5433 test "select pg_switch_wal()" >/dev/null &&
    on_leader "runuser -u postgres -- pgbackrest --stanza=pg-test check" >/dev/null &&
    on_leader "runuser -u postgres -- pgbackrest --stanza=pg-test repo-ls archive/pg-test --recurse" | grep -q "$seg"
}
check "new WAL (timeline $tl1) is archived to the stanza" retry 5 3 new_wal_archived
check "a full backup was taken after the recovery" has_backups 2 0
check "the previous data directory was kept aside on the primary" on_leader "ls -d /pg/data-pitr-* >/dev/null"

echo "-- after a failover: the new primary archives into the same stanza"
old=$(leader_name)
check "pigsty pgsql failover pg-test --yes" on "pigsty pgsql failover pg-test --yes > /root/bk-failover.log 2>&1"
new_leader() { local l; l=$(leader_name); [[ -n $l && $l != "$old" ]]; }
check "a new leader" retry 30 1 new_leader
check "one leader and two streaming replicas" retry 60 2 healthy_cluster
check "pgbackrest check passes on the new primary $(leader_name)" on_leader "runuser -u postgres -- pgbackrest --stanza=pg-test check"
n_before=$(n_backups)
check "pigsty pgsql backup pg-test (full) on the new primary" on "pigsty pgsql backup pg-test full > /root/bk-after-failover.log 2>&1"
more_backups() { [[ $(n_backups) -gt $1 ]]; }
check "... and it is listed" more_backups "$n_before"
check "the backup ran on the new primary" on "grep -q \"on its leader $(leader_ip)\" /root/bk-after-failover.log && grep -q 'full backup done' /root/bk-after-failover.log"

echo "-- the singleton (local repository) restores to a point in time"
check "batch A in pg-meta" psql_at "$META" 5433 meta \
  "drop table if exists pitr_s; create table pitr_s(id int, batch text); insert into pitr_s select g, 'A' from generate_series(1, 100) g"
sleep 2
TS=$(psql_at "$META" 5433 meta "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 2
check "batch B in pg-meta, archived" psql_at "$META" 5433 meta "insert into pitr_s select g, 'B' from generate_series(101, 200) g"
check "pg-meta's WAL is archived (pgbackrest check)" on "runuser -u postgres -- pgbackrest --stanza=pg-meta check"
t0=$(now)
check "pigsty pgsql pitr pg-meta --time T --yes" timeout 1800 "$LAB" ssh 1 "pigsty pgsql pitr pg-meta --time '$TS' --yes > /root/bk-pitr-meta.log 2>&1"
t1=$(now)
record pitr_pg_meta_seconds "$(secs "$t0" "$t1")"
on tail -n 6 /root/bk-pitr-meta.log | sed 's/^/     | /'
check_eq "pg-meta has batch A only" "100|A" retry 20 2 psql_at "$META" 5433 meta "select count(*) || '|' || string_agg(distinct batch, ',') from pitr_s"
meta_leads() { [[ -n $(leader_line pg-meta) ]]; }
check "pg-meta's leader runs" retry 30 2 meta_leads

echo "-- disaster recovery: pg-test rebuilt on reset nodes from the S3 repository"
L=$(leader_ip)
check "a last row, archived" psql_at "$L" 5433 test "insert into pitr_a values (9999, 'DR')"
check "... WAL archived (pgbackrest check)" on_leader "runuser -u postgres -- pgbackrest --stanza=pg-test check"
for i in 2 3 4; do step "lab$i: reset to a fresh disk (the cluster is gone)" lab reset "$i"; done
step "no pg-test in etcd, no old host keys" forget_pg_test "${PG_IPS[@]}"
t0=$(now)
check "pigsty deploy -l pg-test on the fresh nodes" timeout 2700 "$LAB" ssh 1 "pigsty deploy -l pg-test > /root/bk-dr-deploy.log 2>&1"
info "deploy on the fresh nodes says: $(on "grep -m1 -o 'holds another system.s backups[^:]*' /root/bk-dr-deploy.log" || echo '(no stanza note)')"
check "pigsty pgsql pitr pg-test --latest --yes (from the S3 repository)" timeout 3600 "$LAB" ssh 1 "pigsty pgsql pitr pg-test --latest --yes > /root/bk-dr.log 2>&1"
t1=$(now)
record disaster_recovery_seconds "$(secs "$t0" "$t1")"
on tail -n 6 /root/bk-dr.log | sed 's/^/     | /'
check "one leader and two streaming replicas" retry 60 2 healthy_cluster
L=$(leader_ip)
check_eq "the data of the last backup plus archived WAL (rows A, C and DR)" "1002" psql_at "$L" 5433 test "select count(*) from pitr_a"
check_eq "the last row written before the disaster is there" DR psql_at "$L" 5433 test "select batch from pitr_a where id = 9999"

if [[ -n ${BACKUP_RESULTS:-} ]]; then
  python3 - "$WORK/results.tsv" >"$BACKUP_RESULTS" <<'PY'
import json, sys
print(json.dumps({k: float(v) for k, v in (l.rstrip("\n").split("\t") for l in open(sys.argv[1]))}))
PY
fi
echo "measured:"
sed 's/^/  /' "$WORK/results.tsv"

summary
