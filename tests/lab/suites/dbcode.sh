#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# dbcode: database as code on the singleton pg-meta (node 1): users, a database, HBA
# rules, a service and an extension added to the inventory by hand and applied with
# `pigsty pgsql user|db|hba|svc|ext`, checked as a user would: log in with the user's
# password through pgBouncer (6432) and the primary service (5433), a read-only user
# cannot write, the custom service port answers; `pigsty plan` words a connlimit change,
# a second apply changes nothing; removal makes login fail, a database is not dropped
# without its name typed back; a deny rule blocks its address after a reload that does
# not restart Postgres; bad input names the key and applies nothing.
#
# Runs after `singleton` (or installs the singleton itself when node 1 has none). The
# inventory is kept aside and restored at the end, with the objects this suite made
# removed again. On a singleton the custom service's replica selector falls back to its
# backup (the primary); routing to replicas is unit-tested in src/modules/pgsql/services.rs.
# shellcheck disable=SC2034 # read by run.sh
NODES=1
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

IP=10.10.10.10
INV=/etc/pigsty/pigsty.yml
KEEP=/root/dbcode/pigsty.before-dbcode.yml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-dbcode.XXXXXX")
at_exit rm -rf "$WORK"
on() { lab ssh 1 "$@"; }

# passwords of the users this suite defines: random per run, never published defaults
APP_PW=A$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n')
RO_PW=R$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n')

inv_add() { printf '%s\n' "$2" | on "python3 /root/dbcode/inv.py add $INV $1"; }   # KEY ITEM
inv_sub() { printf '%s\n%s\n' "$1" "$2" | on "python3 /root/dbcode/inv.py sub $INV"; } # OLD NEW
restore() { on "cp $KEEP $INV"; }

psql_dba() { # port db sql: as dbuser_dba, password from ~/.pgpass on node 1
  on "psql -X -q -A -t -v ON_ERROR_STOP=1 'host=$IP port=$1 dbname=$2 user=dbuser_dba connect_timeout=5' -c \"$3\""
}
psql_pw() { # user password port db sql: the user's own password, given on stdin to the node (never in argv there)
  printf '%s' "$2" | on "PGPASSWORD=\$(cat) psql -X -q -A -t -v ON_ERROR_STOP=1 'host=$IP port=$3 dbname=$4 user=$1 connect_timeout=5' -c \"$5\""
}
sha() { on "sha256sum $1 | cut -c1-64"; }
role_exists() { [[ $(psql_dba 5432 postgres "select count(*) from pg_roles where rolname = '$1'") == 1 ]]; }
db_exists() { [[ $(psql_dba 5432 postgres "select count(*) from pg_database where datname = '$1'") == 1 ]]; }
postmaster_started() { psql_dba 5432 postgres "select pg_postmaster_start_time()"; }
# the `~` lines of `pigsty plan` (one per change) and its total line
plan_changes() { on "pigsty plan -l $IP 2>/dev/null" | grep -E '  ~ |change\(s\) pending|no changes'; }

#------------------------------------------------------------------------------
echo "-- node 1: the singleton meta node"
singleton_on_admin
step "push tests/lab/dbcode to node 1" lab push 1 "$LAB_DIR/dbcode" /root/dbcode
# an earlier run that died keeps its copy: start from it
check "keep the inventory aside" on "if test -s $KEEP; then cp -p $KEEP $INV; else cp -p $INV $KEEP; fi"
pw=$(on "sed -n 's/^    pg_admin_password: *//p' $INV | head -n1")
on "umask 077; echo '*:*:*:dbuser_dba:$pw' > /root/.pgpass"
check "start: pigsty plan --check finds nothing to do" on "pigsty plan -l $IP --check >/dev/null 2>&1"
cleanup() { # the objects this suite made go away again, then the inventory it found is back
  local u d
  on "test -s $KEEP" || return 0
  restore || return 1
  for u in dbuser_app dbuser_ro dbuser_bad; do
    if role_exists "$u"; then
      inv_add pg_users "- { name: $u, state: absent }" && on "pigsty pgsql user pg-meta $u >/dev/null 2>&1"
      restore
    fi
  done
  for d in appdb baddb; do
    if db_exists "$d"; then
      inv_add pg_databases "- { name: $d, state: absent }" && on "pigsty pgsql db pg-meta $d --yes >/dev/null 2>&1"
      restore
    fi
  done
  on "pigsty pgsql hba pg-meta >/dev/null 2>&1 && pigsty pgsql svc pg-meta >/dev/null 2>&1" && on "rm -f $KEEP"
}
at_exit cleanup

#------------------------------------------------------------------------------
echo "-- bad input is an error naming the key, and nothing is applied"
hba_before=$(sha /pg/conf/pg_hba.conf)
inv_add pg_users "- { name: dbuser_bad, password: x$RO_PW, superuserr: true }"
check "unknown role attribute: pigsty pgsql user fails naming pg_users[0].superuserr" \
  on "! pigsty pgsql user pg-meta dbuser_bad 2>/tmp/bad.err && grep -q 'pg_users\[0\].superuserr' /tmp/bad.err"
check_fails "... and role dbuser_bad was not created" role_exists dbuser_bad
check "... and the password is in no error message" on "test -s /tmp/bad.err && ! grep -qF 'x$RO_PW' /tmp/bad.err"
restore
inv_add pg_databases "- { name: baddb, owner: dbuser_nobody }"
check "database owner no user defines: pigsty pgsql db fails naming pg_databases[0].owner" \
  on "! pigsty pgsql db pg-meta baddb 2>/tmp/bad.err && grep -q 'pg_databases\[0\].owner' /tmp/bad.err"
check_fails "... and database baddb was not created" db_exists baddb
restore
inv_add pg_hba_rules "- { user: all, db: all, addr: intranett, auth: pwd, title: typo }"
check "hba address alias that does not exist: pigsty pgsql hba fails naming pg_hba_rules[0].addr" \
  on "! pigsty pgsql hba pg-meta 2>/tmp/bad.err && grep -q 'pg_hba_rules\[0\].addr' /tmp/bad.err && grep -q intranett /tmp/bad.err"
check "... pigsty plan refuses it too" on "! pigsty plan >/dev/null 2>&1"
check_eq "... and pg_hba.conf is unchanged" "$hba_before" sha /pg/conf/pg_hba.conf
restore

#------------------------------------------------------------------------------
echo "-- a user, a read-only user, a database, an hba rule and a service, applied"
inv_add pg_users "- { name: dbuser_app, password: $APP_PW, pgbouncer: true, roles: [ dbrole_readwrite ], connlimit: 10, comment: app user }"
inv_add pg_users "- { name: dbuser_ro, password: $RO_PW, pgbouncer: true, roles: [ dbrole_readonly ], comment: read-only user }"
inv_add pg_databases "- { name: appdb, owner: dbuser_app, comment: app database, schemas: [ app ], parameters: { work_mem: 8MB } }"
inv_add pg_hba_rules "- { user: dbuser_app, db: appdb, addr: 10.0.0.0/8, auth: pwd, title: app from the intranet, order: 700 }"
# shellcheck disable=SC2016 # backticks are JMESPath literals
inv_add pg_services '- { name: ro, port: 5440, dest: pgbouncer, check: /read-only, selector: "[? pg_role == `replica` ]", backup: "[? pg_role == `primary` ]", maxconn: 100 }'
check "pigsty plan words the hba rule" on "pigsty plan -l $IP 2>/dev/null | grep -qF 'hba: + host appdb dbuser_app 10.0.0.0/8 scram-sha-256'"
check "pigsty plan names the new role" on "pigsty plan -l $IP 2>/dev/null | grep -qF 'create role dbuser_app'"
check "pigsty pgsql user pg-meta dbuser_app" on "pigsty pgsql user pg-meta dbuser_app > /root/dbcode/user.log 2>&1"
check "pigsty pgsql user pg-meta dbuser_ro" on "pigsty pgsql user pg-meta dbuser_ro >> /root/dbcode/user.log 2>&1"
check "no password in the command's output" on "test -f /root/dbcode/user.log && ! grep -qF -e '$APP_PW' -e '$RO_PW' /root/dbcode/user.log"
check "pigsty pgsql db pg-meta appdb" on "pigsty pgsql db pg-meta appdb > /root/dbcode/db.log 2>&1"
check "pigsty pgsql hba pg-meta" on "pigsty pgsql hba pg-meta > /root/dbcode/hba.log 2>&1"
check "pigsty pgsql svc pg-meta" on "pigsty pgsql svc pg-meta > /root/dbcode/svc.log 2>&1"
check "no password in postgres' log" on "test -d /pg/log/postgres && ! grep -rqF -e '$APP_PW' -e '$RO_PW' /pg/log/postgres"

check_eq "catalog: dbuser_app has connlimit 10" 10 psql_dba 5432 postgres "select rolconnlimit from pg_roles where rolname = 'dbuser_app'"
check_eq "catalog: appdb is owned by dbuser_app, with work_mem 8MB" "dbuser_app|{work_mem=8MB}" \
  psql_dba 5432 postgres "select pg_get_userbyid(d.datdba) || '|' || s.setconfig::text from pg_database d join pg_db_role_setting s on s.setdatabase = d.oid where d.datname = 'appdb'"
check "appdb has schema app" psql_dba 5432 appdb "select 'app'::regnamespace"
check "the admin creates a table in appdb" psql_dba 5432 appdb "create table t_app(id int primary key, v text)"
check_eq "dbuser_app logs in with its password through pgbouncer 6432 and writes" hello \
  retry 10 1 psql_pw dbuser_app "$APP_PW" 6432 appdb "insert into t_app values (1, 'hello') on conflict (id) do update set v = excluded.v; select v from t_app where id = 1"
check_eq "dbuser_app logs in through 5433 (primary service)" hello psql_pw dbuser_app "$APP_PW" 5433 appdb "select v from t_app where id = 1"
check_fails "a wrong password is refused on 6432" psql_pw dbuser_app "not-$APP_PW" 6432 appdb "select 1"
check_eq "dbuser_ro reads through 6432" hello psql_pw dbuser_ro "$RO_PW" 6432 appdb "select v from t_app where id = 1"
check_eq "dbuser_ro reads through 5433" hello psql_pw dbuser_ro "$RO_PW" 5433 appdb "select v from t_app where id = 1"
ro_cannot_write() { ! psql_pw dbuser_ro "$RO_PW" 6432 appdb "insert into t_app values (2, 'no')" 2>"$WORK/ro.err" && grep -q 'permission denied' "$WORK/ro.err"; }
check "dbuser_ro cannot write (permission denied)" ro_cannot_write
# the owner's own objects: Pigsty 2.7+ default privileges FOR ROLE the owner
check "the owner dbuser_app creates a table through pgbouncer 6432" \
  psql_pw dbuser_app "$APP_PW" 6432 appdb "create table t_own(id int primary key, v text); insert into t_own values (1, 'mine')"
check_eq "dbuser_ro reads the owner's table through 6432" mine psql_pw dbuser_ro "$RO_PW" 6432 appdb "select v from t_own where id = 1"
ro_cannot_write_own() { ! psql_pw dbuser_ro "$RO_PW" 6432 appdb "insert into t_own values (2, 'no')" 2>"$WORK/ro2.err" && grep -q 'permission denied for table t_own' "$WORK/ro2.err"; }
check "dbuser_ro cannot write the owner's table (permission denied)" ro_cannot_write_own
check "the service file routes to replicas, the primary as backup" \
  on "grep -q 'server pg-meta-1 $IP:6432 check port 8008 weight 100 backup' /etc/haproxy/pg-meta-ro.cfg"
check_eq "the custom service port 5440 answers (the primary, as backup on a singleton)" hello \
  retry 15 1 psql_pw dbuser_ro "$RO_PW" 5440 appdb "select v from t_app where id = 1"
check "pigsty plan --check: everything in sync" on "pigsty plan -l $IP --check >/dev/null 2>&1"

#------------------------------------------------------------------------------
echo "-- a changed connlimit: the plan says exactly that, apply, then nothing"
check "connlimit 10 -> 20 in the inventory" inv_sub "connlimit: 10, comment: app user" "connlimit: 20, comment: app user"
plan_changes >"$WORK/plan.txt" 2>&1
sed 's/^/     | /' "$WORK/plan.txt"
check_eq "pigsty plan shows one change" 1 grep -c '  ~ ' "$WORK/plan.txt"
check "... and it is role dbuser_app: connlimit 10 -> 20" grep -qE '  ~ pgsql: pg role dbuser_app: role dbuser_app: connlimit 10 -> 20$' "$WORK/plan.txt"
check "pigsty pgsql user pg-meta dbuser_app applies it" on "pigsty pgsql user pg-meta dbuser_app >/dev/null 2>&1"
check_eq "catalog: connlimit is 20" 20 psql_dba 5432 postgres "select rolconnlimit from pg_roles where rolname = 'dbuser_app'"
second() { on "pigsty pgsql user pg-meta dbuser_app --json" 2>/dev/null | recap_changed; }
check_eq "a second pigsty pgsql user changes nothing" 0 second
for verb in "db pg-meta appdb" "hba pg-meta" "svc pg-meta"; do
  again() { on "pigsty pgsql $verb --json" 2>/dev/null | recap_changed; }
  check_eq "a second pigsty pgsql $verb changes nothing" 0 again
done
check "pigsty plan --check exits 0" on "pigsty plan -l $IP --check >/dev/null 2>&1"

#------------------------------------------------------------------------------
echo "-- a deny rule blocks its address, with a reload, not a restart"
t_pm=$(postmaster_started)
t_patroni=$(on systemctl show -p ActiveEnterTimestampMonotonic --value patroni)
inv_add pg_hba_rules "- { user: dbuser_ro, db: all, addr: $IP/32, auth: deny, title: no read-only user from node 1, order: 50 }"
check "pigsty plan words it" on "pigsty plan -l $IP 2>/dev/null | grep -qF 'hba: + host all dbuser_ro $IP/32 reject'"
check "before: dbuser_ro reaches postgres 5432 from $IP" psql_pw dbuser_ro "$RO_PW" 5432 appdb "select 1"
check "pigsty pgsql hba pg-meta" on "pigsty pgsql hba pg-meta > /root/dbcode/hba2.log 2>&1"
check "it reloaded postgres" on "grep -q 'reload postgres (hba)' /root/dbcode/hba2.log"
denied() { ! psql_pw dbuser_ro "$RO_PW" 5432 appdb "select 1" 2>"$WORK/deny.err" && grep -q 'rejects connection' "$WORK/deny.err"; }
check "after: dbuser_ro from $IP is rejected by pg_hba.conf" denied
check "dbuser_app from the same address still gets in" psql_pw dbuser_app "$APP_PW" 5432 appdb "select 1"
check_eq "postmaster start time unchanged (no restart)" "$t_pm" postmaster_started
check_eq "patroni not restarted" "$t_patroni" on systemctl show -p ActiveEnterTimestampMonotonic --value patroni

#------------------------------------------------------------------------------
echo "-- an extension listed for the database"
add_postgis() { inv_sub "schemas: [ app ], parameters" "schemas: [ app ], extensions: [ { name: postgis } ], parameters" && inv_add pg_extensions "- postgis"; }
check "appdb lists postgis, pg_extensions too" add_postgis
check "pigsty pgsql ext pg-meta postgis (installs the package)" timeout 1200 "$LAB" ssh 1 "pigsty pgsql ext pg-meta postgis > /root/dbcode/ext.log 2>&1"
on tail -n 5 /root/dbcode/ext.log | sed 's/^/     | /'
check "the package is installed" on "dpkg -s postgresql-15-postgis-3 >/dev/null"
check "postgis exists in appdb" psql_dba 5432 appdb "select postgis_version()"
ext_again() { on "pigsty pgsql ext pg-meta --json" 2>/dev/null | recap_changed; }
check_eq "a second pigsty pgsql ext changes nothing" 0 ext_again

#------------------------------------------------------------------------------
echo "-- removal"
check "dbuser_ro marked state: absent" inv_sub "{ name: dbuser_ro," "{ name: dbuser_ro, state: absent,"
check "pigsty plan says the role is dropped" on "pigsty plan -l $IP 2>/dev/null | grep -qF 'drop role dbuser_ro'"
check "pigsty pgsql user pg-meta dbuser_ro" on "pigsty pgsql user pg-meta dbuser_ro >/dev/null 2>&1"
check_fails "dbuser_ro's login through 6432 fails" psql_pw dbuser_ro "$RO_PW" 6432 appdb "select 1"
check_fails "dbuser_ro's login through 5433 fails" psql_pw dbuser_ro "$RO_PW" 5433 appdb "select 1"
check_fails "the role is gone" role_exists dbuser_ro
check "pgbouncer's userlist no longer has it" on "test -f /etc/pgbouncer/userlist.txt && ! grep -q dbuser_ro /etc/pgbouncer/userlist.txt"
check "appdb marked state: absent" inv_sub "{ name: appdb," "{ name: appdb, state: absent,"
check "pigsty pgsql db without --yes (no answer) is refused" on "! pigsty pgsql db pg-meta appdb </dev/null 2>/tmp/drop.err && grep -q 'nothing was changed' /tmp/drop.err"
check "... a wrong name typed back is refused" on "! echo appdbx | pigsty pgsql db pg-meta appdb 2>/dev/null"
check "... and appdb is still there" db_exists appdb
check "a deploy does not drop it either" on "pigsty deploy -l $IP -m pgsql > /root/dbcode/deploy.log 2>&1 && grep -q 'needs a confirmation' /root/dbcode/deploy.log"
check "... appdb is still there" db_exists appdb
check "the name typed back drops it" on "echo appdb | pigsty pgsql db pg-meta appdb >/dev/null 2>&1"
check_fails "appdb is gone" db_exists appdb
check "pgbouncer no longer lists appdb" on "test -f /etc/pgbouncer/database.txt && ! grep -q '^appdb' /etc/pgbouncer/database.txt"
check "the ro service removed from the inventory" restore
check "pigsty pgsql svc pg-meta removes it" on "pigsty pgsql svc pg-meta >/dev/null 2>&1 && ! test -e /etc/haproxy/pg-meta-ro.cfg"
port_closed() { ! on "bash -c 'exec 3<>/dev/tcp/$IP/5440' 2>/dev/null"; }
check "port 5440 is closed" retry 10 1 port_closed
check "pigsty pgsql hba pg-meta puts the rules back" on "pigsty pgsql hba pg-meta >/dev/null 2>&1 && ! grep -q dbuser_ro /pg/conf/pg_hba.conf"

echo "-- the end: what this suite made is removed, the inventory is back"
check "cleanup (dbuser_app dropped, inventory restored)" cleanup
check_fails "dbuser_app is gone" role_exists dbuser_app
check "pigsty plan --check exits 0" on "pigsty plan -l $IP --check >/dev/null 2>&1"

summary
