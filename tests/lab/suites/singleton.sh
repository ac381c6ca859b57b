#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# singleton: `pigsty install` on a fresh lab node builds the meta node (NODE, INFRA,
# ETCD, PGSQL), checked the way a user would: connect through the service ports with
# the generated passwords, look at Patroni, etcd, Prometheus and pgBackRest, re-run it,
# change a parameter, crash the node and boot it again.
# shellcheck disable=SC2034 # read by run.sh
NODES=1
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

N=${SINGLETON_NODE:-1} # the node it installs (singleton-trixie: its own, beside ha-mixed)
IP=10.10.10.$((9 + N))
INV=/etc/pigsty/pigsty.yml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-singleton.XXXXXX")
at_exit rm -rf "$WORK"
on() { lab ssh "$N" "$@"; }

# the value of an `all.vars` credential in the node's inventory (never printed by checks)
secret() { on "sed -n 's/^    $1: *//p' $INV | head -n1"; }

psql_as() { # port db sql: as dbuser_dba with the generated password, via ~/.pgpass
  on "psql -X -q -A -t -v ON_ERROR_STOP=1 -h $IP -p $1 -U dbuser_dba -d $2 -c \"$3\""
}
sql_roundtrip() { # port table
  psql_as "$1" meta "create table if not exists $2(id int primary key, v text); insert into $2 values (1, 'hello') on conflict (id) do update set v = excluded.v; select v from $2 where id = 1"
}
http_code() { on "curl -s -o /dev/null -w '%{http_code}' $1"; }
one_leader() { [[ $(on "patronictl -c /etc/patroni/patroni.yml list -f json" | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m["Role"] == "Leader"))') == 1 ]]; }
etcd_healthy() { # as root with the generated etcd root password (read on the node, never in argv here)
  on ". /etc/profile.d/etcdctl.sh; export ETCDCTL_USER=root:\$(sed -n 's/^    etcd_root_password: *//p' $INV); etcdctl endpoint health" 2>&1 | grep -q 'is healthy'
}

# every expected exporter is a Prometheus target and every target is up
targets_up() {
  on "curl -sf http://$IP:9090/api/v1/targets?state=active" >"$WORK/targets.json" || return 1
  python3 - "$WORK/targets.json" <<'PY'
import json, sys
ts = json.load(open(sys.argv[1]))["data"]["activeTargets"]
ports = {t["scrapeUrl"].split("/")[2].rsplit(":", 1)[1]: t for t in ts}
want = {"node": "9100", "postgres": "9630", "pgbouncer": "9631", "haproxy": "9101", "patroni": "8008",
        "etcd": "2379", "prometheus": "9090", "alertmanager": "9059", "pushgateway": "9091", "blackbox": "9115"}
bad = [f"{k} (:{p}) missing" for k, p in want.items() if p not in ports]
bad += [f'{t["scrapeUrl"]} is {t["health"]}: {t.get("lastError", "")}' for t in ts if t["health"] != "up"]
print("\n".join(bad) or f"{len(ts)} targets up")
sys.exit(1 if bad else 0)
PY
}
home_links() {
  local page
  page=$(on "curl -sf http://$IP/") || return 1
  for p in 9090 9059 9091 9115; do grep -q ":$p" <<<"$page" || { echo "home page lacks a link to :$p"; return 1; }; done
}
backup_listed() { on "runuser -u postgres -- pgbackrest --stanza=pg-meta info" | grep -q 'full backup'; }
archive_works_after_b() {
  psql_as 5433 meta "insert into pitr_s select g, 'B' from generate_series(101, 200) g" >/dev/null && archive_works
}
archive_works() { psql_as 5433 meta "select pg_switch_wal()" >/dev/null && on "runuser -u postgres -- pgbackrest --stanza=pg-meta check"; }

# start times of every unit the singleton runs, and the postmaster's
UNITS="etcd patroni pgbouncer haproxy prometheus prometheus-alertmanager prometheus-pushgateway prometheus-blackbox-exporter prometheus-node-exporter nginx"
start_times() {
  local u
  for u in $UNITS; do echo "$u $(on systemctl show -p ActiveEnterTimestampMonotonic --value "$u")"; done
  echo "postmaster $(psql_as 5432 postgres 'select pg_postmaster_start_time()')"
}
tls_query() { # port sslmode: is this session encrypted? (as dbuser_dba, password from ~/.pgpass)
  on "psql -X -q -A -t -v ON_ERROR_STOP=1 'host=$IP port=$1 dbname=meta user=dbuser_dba sslmode=$2 sslrootcert=/etc/pki/ca.crt' -c 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'"
}

everything_answers() { # the user-visible checks, reused after the crash
  local when=$1
  check_eq "$when: write and read back through 5433 (primary service)" hello retry 30 2 sql_roundtrip 5433 t_primary
  check_eq "$when: write and read back through 6432 (pgbouncer)" hello retry 10 2 sql_roundtrip 6432 t_pgbouncer
  check_eq "$when: read through 5434 (replica service)" hello retry 10 2 psql_as 5434 meta "select v from t_primary where id = 1"
  check_eq "$when: TLS through 5432, the server certificate verified against the CA (verify-full)" t retry 10 2 tls_query 5432 verify-full
  check_eq "$when: patroni /primary answers 200 on 8008" 200 retry 30 2 http_code "http://$IP:8008/primary"
  check "$when: patronictl list shows one leader" retry 10 2 one_leader
  check "$when: etcdctl endpoint health is healthy" retry 10 2 etcd_healthy
  check "$when: every prometheus target is up" retry 40 3 targets_up
}

echo "-- fresh node"
step "lab$N: reset to a fresh disk" lab reset "$N"
step "push the binary" lab push "$N" "$REPO_ROOT/target/pigsty" /usr/local/bin/pigsty
step "binary is executable" on chmod 755 /usr/local/bin/pigsty

echo "-- bad input applies nothing"
check "not root: a clear refusal" on "! runuser -u nobody -- pigsty install -i /tmp/none.yml 2>/tmp/notroot.err && grep -q 'must run as root' /tmp/notroot.err"
on "mkdir -p /tmp/bad && printf 'all:\n  children:\n    pg-x:\n      hosts: { $IP: { pg_seq: 1, pg_role: leader } }\n      vars: { pg_cluster: pg-x }\n' > /tmp/bad/pigsty.yml"
check "invalid inventory: exit 1 naming the key, nothing applied" on "! pigsty deploy -i /tmp/bad/pigsty.yml 2>/tmp/bad/err && grep -q pg_role /tmp/bad/err && ! systemctl is-active --quiet patroni && ! test -e /etc/patroni"

install_args=""
if [[ ${SINGLETON_BUNDLE:-0} == 1 ]]; then
  # the install below is offline, from a bundle another node of the release builds
  B=$((N + 1))
  echo "-- an offline bundle: pigsty repo build and repo pack on lab$B ($SUITE_DISTRO, online)"
  step "lab$B: reset to a fresh disk" lab reset "$B"
  step "push the binary to lab$B" lab push "$B" "$REPO_ROOT/target/pigsty" /usr/local/bin/pigsty
  step "binary is executable" lab ssh "$B" chmod 755 /usr/local/bin/pigsty
  step "lab$B: pigsty configure" lab ssh "$B" "pigsty configure > /root/configure.log 2>&1"
  t0=$SECONDS
  check "lab$B: pigsty repo build" timeout 1800 "$LAB" ssh "$B" "pigsty repo build > /root/repo-build.log 2>&1"
  info "repo build took $((SECONDS - t0))s"
  lab ssh "$B" tail -n 2 /root/repo-build.log | sed 's/^/     | /'
  check_eq "the repository's Release names $SUITE_DISTRO" "$SUITE_DISTRO" lab ssh "$B" "sed -n 's/^Codename: //p' /www/pigsty/Release"
  check "lab$B: pigsty repo pack" timeout 900 "$LAB" ssh "$B" "pigsty repo pack -o /root/bundle.tar > /root/repo-pack.log 2>&1"
  step "copy the bundle to lab$N" copy_bundle "$B" "$N" "$WORK"
  rm -f "$WORK/bundle.tar"
  check "lab$N: isolate (no internet, lab traffic only)" lab isolate "$N"
  at_exit lab unisolate "$N"
  mirror=$(on "sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources | head -n1")
  check_fails "lab$N cannot reach its upstream mirror" on "curl -s -m 5 -o /dev/null '$mirror'"
  here=$(on ". /etc/os-release; echo \$VERSION_ID")
  other=""
  for f in "${LAB_SHARE:-/nonexistent}"/bundle-*.tar; do
    [[ -e $f && $f != */bundle-$SUITE_DISTRO.tar ]] && other=$f
  done
  if [[ -n $other ]]; then # the repo suite's bundle: a real one of another release
    ov=$(tar -xOf "$other" pigsty-bundle/manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version_id"])')
    check "a real bundle of Debian $ov ($(basename "$other")) is refused here with nothing changed" \
      bundle_of_other_release_refused "$N" "$other" "$ov" "$here"
  else
    ov=$((here == 12 ? 13 : 12))
    check "a bundle of Debian $ov (this one's manifest relabelled) is refused with nothing changed" \
      bundle_of_other_release_refused "$N" /root/bundle.tar "$ov" "$here" "$here"
  fi
  install_args="--pkg /root/bundle.tar"
fi

echo "-- pigsty install $install_args"
t0=$(date +%s.%N)
check "pigsty install $install_args completes" timeout 1800 "$LAB" ssh "$N" "pigsty install $install_args > /root/install.log 2>&1"
t1=$(date +%s.%N)
echo "$t0 $t1" >"${SINGLETON_TIMES:-/dev/null}"
info "install took $(python3 -c "print(round($t1 - $t0, 1))")s"
on tail -n 30 /root/install.log | sed 's/^/     | /'
check "install printed connection URLs" on "grep -q 'postgres://dbuser_dba@$IP:5433' /root/install.log"
check "the inventory is mode 0600" on "test \"\$(stat -c %a $INV)\" = 600"
if [[ -n $install_args ]]; then
  check "the bundle's repository is the node's only apt source (file:)" on "grep -q 'file:/www/pigsty' /etc/apt/sources.list.d/pigsty-local.list || exit 1; ls /etc/apt/sources.list.d/ | grep -vx pigsty-local.list | grep -q . && exit 1; test -e /etc/apt/backup/debian.sources"
fi
pw=$(secret pg_admin_password)
check "pg_admin_password was generated (24 chars)" test "${#pw}" -eq 24
on "umask 077; echo '*:*:*:dbuser_dba:$pw' > /root/.pgpass"
check "no secret in the install log" on "test -s /root/install.log && ! grep -qF '$pw' /root/install.log"

case $SUITE_DISTRO in # what the release's own archive offers (#16)
  trixie) want_pg=17 want_patroni=4 ;;
  *) want_pg=15 want_patroni=3 ;;
esac
check_eq "the node runs Debian $SUITE_DISTRO" "$SUITE_DISTRO" on "sed -n 's/^VERSION_CODENAME=//p' /etc/os-release"
check_eq "PostgreSQL $want_pg, the newest major the archive offers" "$want_pg" psql_as 5432 postgres "select current_setting('server_version_num')::int / 10000"
check_eq "Patroni $want_patroni runs it" "$want_patroni" on "curl -sf http://$IP:8008/patroni | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"patroni\"][\"version\"].split(\".\")[0])'"
everything_answers "after install"
check "alertmanager answers" on "curl -sf http://$IP:9059/-/healthy"
check "pushgateway answers" on "curl -sf http://$IP:9091/-/healthy"
check "blackbox exporter answers" on "curl -sf http://$IP:9115/metrics -o /dev/null"
check "the nginx home page links prometheus, alertmanager, pushgateway, blackbox" home_links
check "the home page over HTTPS, its certificate verified against the CA" on "curl -sf --cacert /etc/pki/ca.crt https://$IP/ -o /dev/null"
check "the CA certificate downloads from the home page and is the CA's" on "curl -sf --cacert /etc/pki/ca.crt https://$IP/ca.crt | cmp - /etc/pki/ca.crt"
check "pgbackrest info shows a full backup" retry 5 3 backup_listed
check "wal archiving works (pg_switch_wal, then pgbackrest check)" archive_works
check "no documented Pigsty default password in the inventory or any rendered config" \
  on "test -s $INV && test -d /etc/patroni && ! grep -rlE 'DBUser\\.(DBA|Monitor|Replicator)|Patroni\\.API|password: *pigsty\\b|admin:pigsty\\b|:pigsty@' $INV /etc/patroni /etc/pgbouncer /etc/haproxy /etc/pgbackrest /etc/prometheus /etc/etcd /etc/default /pg/conf 2>/dev/null"

echo "-- a second install changes nothing and restarts nothing"
start_times >"$WORK/before"
second_run_changes() { on "pigsty install --json" 2>"$WORK/second.err" | recap_changed; }
check_eq "second pigsty install reports 0 changed" 0 second_run_changes
start_times >"$WORK/after"
check "no unit's start time moved, postmaster not restarted" diff "$WORK/before" "$WORK/after"
check "pigsty plan --check exits 0" on "pigsty plan --check"

echo "-- a changed parameter: only the affected service reloads"
# the meta database's pgbouncer pool size (Pigsty's `pool_size` in pg_databases)
on "sed -i 's/{ name: meta ,comment: \"pigsty meta database\" ,schemas: \[ pigsty \] }/{ name: meta ,comment: \"pigsty meta database\" ,schemas: [ pigsty ] ,pool_size: 32 }/' $INV"
check "the inventory now sets pool_size 32 for meta" on "grep -q 'pool_size: 32' $INV"
check "pigsty plan shows the pgbouncer change" on "pigsty plan 2>/dev/null | grep -q /etc/pgbouncer/database.txt"
check_eq "pigsty plan --check exits 3 on drift" 3 on "pigsty plan --check >/dev/null 2>&1; echo \$?"
start_times >"$WORK/before"
check "pigsty deploy applies it" on "pigsty deploy > /root/deploy.log 2>&1"
check "pgbouncer was reloaded, not restarted" on "grep -q 'reload pgbouncer' /root/deploy.log"
start_times >"$WORK/after"
check "no unit's start time moved, postmaster not restarted" diff "$WORK/before" "$WORK/after"
pool_size() { # pgbouncer's admin console as dbuser_monitor (a stats user) with its generated password
  on "PGPASSWORD=\$(sed -n 's/^    pg_monitor_password: *//p' $INV) psql -X -A -t -F'|' -h $IP -p 6432 -U dbuser_monitor -d pgbouncer -c 'show databases'" | awk -F'|' '$1 == "meta" {print $6}'
}
check_eq "pgbouncer serves meta with pool_size 32" 32 pool_size
check "a third run changes nothing" on "pigsty plan --check"

if [[ $SUITE_DISTRO != bookworm ]]; then # bookworm's PITR is the backup suite's
  echo "-- point-in-time recovery on $SUITE_DISTRO (pgBackRest $(on "pgbackrest version" | awk '{print $2}'))"
  check "batch A" psql_as 5433 meta "drop table if exists pitr_s; create table pitr_s(id int, batch text); insert into pitr_s select g, 'A' from generate_series(1, 100) g"
  sleep 2
  TS=$(psql_as 5433 meta "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
  sleep 2
  check "batch B, and the WAL archived (pgbackrest check)" archive_works_after_b
  check "pigsty pgsql pitr pg-meta --time T --yes" timeout 1800 "$LAB" ssh "$N" "pigsty pgsql pitr pg-meta --time '$TS' --yes > /root/pitr.log 2>&1"
  on tail -n 6 /root/pitr.log | sed 's/^/     | /'
  check_eq "batch A only after the restore" "100|A" retry 20 2 psql_as 5433 meta "select count(*) || '|' || string_agg(distinct batch, ',') from pitr_s"
  check "a deploy after the restore changes nothing" on "pigsty plan --check"
fi

echo "-- crash: kill the node and boot it again"
check "lab$N: kill" lab kill "$N"
check "lab$N: start" lab start "$N"
everything_answers "after the crash"

summary
