#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# monitor: the observability of the 4-node lab, checked against the live Prometheus and
# Alertmanager on node 1:
#   - every active Prometheus target is up;
#   - the installed alert rules pass `promtool check rules` (the unit tests that fire
#     every rule, src/modules/infra/rules_test.yml, run in `make test-unit`);
#   - stopping a pg-test replica's Postgres makes PostgresDown fire in Alertmanager
#     for that instance; it comes back as a streaming replica;
#   - `pigsty pgsql monitor add` registers a Postgres by URL (a pg-test member, as a
#     Postgres pigsty reaches over TCP only): its `pgrds` target is up; a wrong
#     password is refused with nothing left behind; `rm` takes the target away;
#   - `pigsty logs pg-test patroni --since 10m` shows a failover this suite triggers;
#   - every panel query of the provisioned dashboards returns data (tests/lab/dashboards.py).
# Runs after `ha` (and `redis`) in the same lab, or sets pg-test up itself
# (tests/lab/backup/pgtest.sh). Leaves pg-test healthy.
# shellcheck disable=SC2034 # read by run.sh
NODES=4
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"
# shellcheck source=SCRIPTDIR/../backup/pgtest.sh
source "$LAB_DIR/backup/pgtest.sh"

META=10.10.10.10
PROM=http://$META:9090
AM=http://$META:9059
INV=/etc/pigsty/pigsty.yml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-monitor.XXXXXX")
at_exit rm -rf "$WORK"
on() { lab ssh 1 "$@"; }
node_of() { echo $((${1##*.} - 9)); }

members() { # `name host role state` lines of pg-test
  on "pigsty status pg-test --json 2>/dev/null; true" | python3 -c 'import json,sys
c=json.load(sys.stdin)["clusters"][0]
for m in c.get("members", []): print(m.get("name"), m.get("host"), m.get("role"), m.get("state"))'
}
healthy() {
  members | python3 -c 'import sys
ms=[l.split() for l in sys.stdin if l.strip()]
print(ms)
l=[m for m in ms if m[2]=="leader" and m[3]=="running"]
r=[m for m in ms if m[2] in ("replica","sync_standby") and m[3] in ("running","streaming")]
sys.exit(0 if len(ms)==3 and len(l)==1 and len(r)==2 else 1)'
}

echo "-- node 1 and pg-test"
pgtest_setup
check "pg-test is healthy" retry 30 2 healthy

echo "-- Prometheus: every active target is up"
all_up() {
  on "curl -sf '$PROM/api/v1/targets?state=active'" >"$WORK/targets.json" || return 1
  python3 - "$WORK/targets.json" <<'PY'
import json, sys
ts = json.load(open(sys.argv[1]))["data"]["activeTargets"]
jobs = sorted({t["labels"].get("job") for t in ts})
down = [(t["labels"].get("job"), t["scrapeUrl"], t.get("lastError", "")) for t in ts if t["health"] != "up"]
print(f"{len(ts)} targets in jobs {jobs}; down: {down}")
sys.exit(0 if ts and not down else 1)
PY
}
check "every target is up" retry 20 3 all_up
tail -n1 "$_CHECK_OUT" 2>/dev/null | sed 's/^/     | /' || true
has_jobs() { python3 -c 'import json,sys
jobs={t["labels"].get("job") for t in json.load(open(sys.argv[1]))["data"]["activeTargets"]}
need={"node","haproxy","etcd","pgsql","pgbouncer","patroni","infra","ping"}
print(sorted(need-jobs)); sys.exit(0 if need <= jobs else 1)' "$WORK/targets.json"; }
check "node, haproxy, etcd, pgsql, pgbouncer, patroni, infra and ping targets exist" has_jobs
has_cls_ins_ip() { python3 -c 'import json,sys
ts=json.load(open(sys.argv[1]))["data"]["activeTargets"]
bad=[t["scrapeUrl"] for t in ts if not all(t["labels"].get(k) for k in ("cls","ins","ip"))]
print(bad); sys.exit(0 if not bad else 1)' "$WORK/targets.json"; }
check "every target has the cls, ins and ip labels" has_cls_ins_ip

echo "-- alert rules: the installed rules pass promtool (each rule's unit test runs in make test-unit)"
check "promtool check rules on node 1's /etc/prometheus/rules" on "promtool check rules /etc/prometheus/rules/*.yml"

echo "-- PostgresDown fires in Alertmanager when a replica's Postgres is down"
R=$(members | awk '$3 != "leader" {print $1, $2}' | head -n1)
RI=${R% *} RIP=${R#* }
info "replica $RI on $RIP: patroni (and its postgres) stopped"
check "stop patroni on $RIP" lab ssh "$(node_of "$RIP")" "systemctl stop patroni"
at_exit lab ssh "$(node_of "$RIP")" "systemctl start patroni"
pg_down_seen() { on "curl -sf '$PROM/api/v1/query?query=pg_up%7Bins%3D%22$RI%22%7D'" | grep -q '"value":\[[0-9.]*,"0"\]'; }
check "the exporter reports pg_up 0 for $RI" retry 30 2 pg_down_seen
firing() {
  on "curl -sf '$AM/api/v2/alerts?active=true'" | python3 -c 'import json,sys
a=[x for x in json.load(sys.stdin) if x["labels"].get("alertname")=="PostgresDown" and x["labels"].get("ins")==sys.argv[1]]
print([(x["labels"].get("ins"), x["status"]["state"]) for x in a]); sys.exit(0 if a else 1)' "$RI"
}
t0=$SECONDS
check "Alertmanager has PostgresDown for $RI (the rule waits 1m)" retry 60 3 firing
info "PostgresDown reached Alertmanager $((SECONDS - t0))s after pg_up 0 was seen"
check "start patroni on $RIP" lab ssh "$(node_of "$RIP")" "systemctl start patroni"
check "pg-test is healthy again" retry 60 2 healthy

echo "-- pigsty pgsql monitor: a Postgres registered by URL"
MIP=$(members | awk '$3 == "leader" {print $2}' | head -n1)
mon_pw() { on "sed -n 's/^    pg_monitor_password: *//p' $INV | head -n1"; }
MPW=$(mon_pw)
check "the monitor password is in the inventory" test -n "$MPW"
check_fails "a wrong password is refused (the message is checked next)" on "PGPASSWORD=wrong-password pigsty pgsql monitor add pg-rds postgres://dbuser_monitor@$MIP:5432/postgres 2>/root/mon-bad.err"
on cat /root/mon-bad.err | sed 's/^/     | /'
check "... saying the exporter could not reach it" on "grep -q 'could not reach' /root/mon-bad.err && grep -q 'nothing is left registered' /root/mon-bad.err"
check_fails "... and nothing is left (env file, unit, target)" on "test -e /etc/pigsty/monitor/pg-rds.env || test -e /etc/prometheus/targets/pgrds/pg-rds.yml || systemctl is-active --quiet pg-monitor@pg-rds"
check "... the password is not in the error" on "test -s /root/mon-bad.err && ! grep -q wrong-password /root/mon-bad.err"
check "pigsty pgsql monitor add pg-rds postgres://dbuser_monitor@$MIP:5432/postgres (password in PGPASSWORD)" \
  on "PGPASSWORD='$MPW' pigsty pgsql monitor add pg-rds postgres://dbuser_monitor@$MIP:5432/postgres"
no_pw_in_args() { # no process on node 1 has the monitor password in its arguments
  on "python3 - <<'PY'
import os, re
pw = re.search(r'^    pg_monitor_password: *(\\S+)', open('$INV').read(), re.M).group(1)
me = str(os.getpid())
hits = []
for p in os.listdir('/proc'):
    if p.isdigit() and p != me:
        try:
            if pw.encode() in open('/proc/%s/cmdline' % p, 'rb').read():
                hits.append(p)
        except OSError:
            pass
print(hits)
raise SystemExit(1 if hits else 0)
PY"
}
check "the password is in no process's arguments" no_pw_in_args
check "pigsty pgsql monitor list shows it active" on "pigsty pgsql monitor list | grep -E '^pg-rds .* active .*postgres://dbuser_monitor@$MIP:5432/postgres'"
rds_up() {
  on "curl -sf '$PROM/api/v1/targets?state=active'" | python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"].get("job")=="pgrds" and t["labels"].get("cls")=="pg-rds"]
print([(t["scrapeUrl"], t["health"]) for t in ts]); sys.exit(0 if ts and all(t["health"]=="up" for t in ts) else 1)'
}
check "Prometheus scrapes pg-rds (job pgrds) and it is up" retry 30 2 rds_up
rds_pg_up() { on "curl -sf '$PROM/api/v1/query?query=pg_up%7Bjob%3D%22pgrds%22%2Ccls%3D%22pg-rds%22%7D'" | grep -q '"value":\[[0-9.]*,"1"\]'; }
check "... reporting pg_up 1" retry 20 2 rds_pg_up
check_fails "a second add of the same name is refused" on "PGPASSWORD='$MPW' pigsty pgsql monitor add pg-rds postgres://dbuser_monitor@$MIP:5432/postgres"
check "pigsty pgsql monitor rm pg-rds" on "pigsty pgsql monitor rm pg-rds"
rds_gone() {
  on "curl -sf '$PROM/api/v1/targets?state=active'" | python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"].get("job")=="pgrds"]
sys.exit(0 if not ts else 1)'
}
check "... its target is gone from Prometheus" retry 20 2 rds_gone
check_fails "... and its exporter is stopped" on "systemctl is-active --quiet pg-monitor@pg-rds"

echo "-- pigsty logs: the failover this suite triggers"
old=$(members | awk '$3 == "leader" {print $1}')
check "pigsty pgsql failover pg-test --yes" on "pigsty pgsql failover pg-test --yes > /root/mon-failover.log 2>&1"
new_leader() { local l; l=$(members | awk '$3 == "leader" && $4 == "running" {print $1}'); [[ -n $l && $l != "$old" ]]; }
check "a new leader" retry 30 2 new_leader
check "pg-test is healthy after the failover" retry 60 2 healthy
failover_in_logs() { on "pigsty logs pg-test patroni --since 10m" >"$WORK/logs.txt" && grep -E 'promoted self to leader|acquired session lock as a leader|Cleaning up failover key after acquiring leader lock' "$WORK/logs.txt"; }
check "pigsty logs pg-test patroni --since 10m shows the promotion" retry 5 3 failover_in_logs

echo "-- dashboards: every panel query returns data"
step "push tests/lab/dashboards.py to node 1" lab push 1 "$LAB_DIR/dashboards.py" /root/dashboards.py
check "node 1 has the dashboards installed" on "ls /etc/pigsty/dashboards/*.json"
check "every panel's query returns data from Prometheus" on "python3 /root/dashboards.py $PROM /etc/pigsty/dashboards > /root/dashboards.out 2>&1"
on "grep -vE '^ +ok ' /root/dashboards.out | tail -n 40" | sed 's/^/     | /'

summary
