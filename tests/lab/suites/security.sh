#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# security: attacks a database superuser could try on node 1's singleton, and what
# pigsty does about them.
# - Links: as postgres, each directory pigsty manages in the cluster directory (`/pg`,
#   the data directory aside) is replaced by a link to a root-only directory; the next
#   `pigsty deploy` refuses it, names it, and the target stays root-only and empty. A
#   link in place of a managed file (`/etc/pgbackrest/pgbackrest.conf`) is replaced,
#   never written through.
# - Every systemd unit pigsty writes that runs as root executes only root-owned files
#   in root-owned directories.
# - TLS: Postgres on 5432 with the certificate the admin node issued (verify-full
#   against the CA), a wrong host name refused; pgBouncer (6432, and 5433 through
#   HAProxy) with `pgbouncer_sslmode: require`, plain connections then refused.
# - nginx_sslmode enforce: HTTP redirected to HTTPS (the local repository aside).
# - Patroni's REST API on the node's address; an authenticated POST from a node
#   outside the allowlist (lab2) is refused, from the admin node accepted. With
#   `patroni_ssl_enabled` it serves https only, and its clients follow: patronictl,
#   HAProxy's checks (L7OK), Prometheus, `pigsty status`; then back to plain HTTP.
# - node_firewall_mode zone: with an intranet that leaves lab3 out, lab3 reaches
#   only the public ports of node 1; lab2 (intranet) reaches everything.
# - etcd: HTTPS only on 2379 and 2380, peers without a certificate of the CA refused;
#   Patroni logs in as its cluster's user, which cannot touch another cluster's keys.
# - The per-cluster lock: while `pigsty pgsql pitr` runs, `pigsty deploy` of the same
#   cluster waits, then refuses naming the holder; the PITR finishes.
# shellcheck disable=SC2034 # read by run.sh
NODES=3
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

IP=10.10.10.10
on() { lab ssh 1 "$@"; }

echo "-- node 1: the singleton meta node"
singleton_on_admin
C=$(on readlink -f /pg)
info "cluster directory: $C"
healthy() { on "pigsty status pg-meta >/dev/null"; }
# earlier suites may leave drift in other modules: only PGSQL is measured here, and the
# plan is printed when it is not empty
settled() { on "pigsty plan -l $IP -m pgsql --check >/root/sec-plan.log 2>&1" || { on "tail -n 30 /root/sec-plan.log" >&2; return 1; }; }

echo "-- links a service user placed are not followed"
step "pg-meta converged first (earlier suites may leave drift)" on "pigsty deploy -l $IP -m pgsql >/root/sec-pre.log 2>&1"
victim_intact() { # dir: still root:root 0700 and empty
  [[ $(on "stat -c '%U:%G %a' $1") == "root:root 700" ]] && [[ -z $(on "ls -A $1") ]]
}
for d in bin conf log tmp spool; do
  step "a root-only directory /srv/victim-$d" on "install -d -m 0700 -o root -g root /srv/victim-$d" || continue
  at_exit on "test -L $C/$d && rm $C/$d && mv $C/$d.orig $C/$d; rmdir /srv/victim-$d"
  step "as postgres: $C/$d replaced by a link to /srv/victim-$d" \
    on "runuser -u postgres -- sh -c 'mv $C/$d $C/$d.orig && ln -s /srv/victim-$d $C/$d'" || continue
  check_refused "deploy refuses the link $C/$d and names it" \
    "\`$C/$d\` is a symbolic link to \`/srv/victim-$d\` in \`$C\`, which user \`postgres\` can change; pigsty does not follow it" \
    on "pigsty deploy -l $IP -m pgsql"
  check "/srv/victim-$d is still root:root 0700 and empty" victim_intact "/srv/victim-$d"
  step "the directory back in place" on "rm $C/$d && mv $C/$d.orig $C/$d"
done
check "after the links are gone: plan --check finds nothing to do" settled

F=/etc/pgbackrest/pgbackrest.conf
step "a root-only file /srv/victim-file" on "echo root-only > /srv/victim-file && chmod 600 /srv/victim-file"
at_exit on "rm -f /srv/victim-file"
step "as postgres: $F replaced by a link to it" on "runuser -u postgres -- ln -sfn /srv/victim-file $F"
check "deploy replaces the link with the file" on "pigsty deploy -l $IP -m pgsql > /root/sec-file.log 2>&1 && grep -q 'is a symbolic link: replaced by the file, not followed' /root/sec-file.log"
check_eq "/srv/victim-file is untouched" "root-only root:root 600" on "echo \$(cat /srv/victim-file) \$(stat -c '%U:%G %a' /srv/victim-file)"
check_eq "$F is a regular file again" "regular file" on "stat -c %F $F"

echo "-- units pigsty writes that run as root run only root's files"
root_units_root_files() {
  on "python3 -" <<'PY'
import glob, os, re, sys
bad = []
units = glob.glob('/etc/systemd/system/*.service') + glob.glob('/etc/systemd/system/*.service.d/*.conf')
seen = 0
for f in units:
    text = open(f).read()
    if 'pigsty' not in text:
        continue
    user = re.search(r'^User=(\S+)', text, re.M)
    if user and user.group(1) != 'root':
        continue
    for m in re.finditer(r'^Exec\w*=[-@:+!]*(.*)$', text, re.M):
        for tok in m.group(1).split():
            tok = tok.strip("'\"")
            if not tok.startswith('/') or not os.path.exists(tok):
                continue
            seen += 1
            p = os.path.realpath(tok)
            while True:
                st = os.stat(p)
                if st.st_uid != 0 or st.st_mode & 0o022:
                    bad.append(f'{f}: {tok}: {p} is owned by uid {st.st_uid}, mode {st.st_mode & 0o7777:o}')
                if p == '/':
                    break
                p = os.path.dirname(p)
print(f'{seen} paths checked')
for b in bad:
    print(b)
sys.exit(1 if bad or seen == 0 else 0)
PY
}
check "every path a root-run pigsty unit executes is root's, up to /" root_units_root_files
check_eq "the backup metrics script is not in the dbsu's /pg/bin" "absent" on "test -e /pg/bin/pgbackrest-metrics && echo present || echo absent"

echo "-- TLS from the INFRA CA: Postgres always, pgBouncer with pgbouncer_sslmode"
conninfo() { # port sslmode: psql's \conninfo through that port (password from ~/.pgpass)
  on "psql -X -q -v ON_ERROR_STOP=1 'host=$IP port=$1 dbname=meta user=dbuser_dba sslmode=$2 sslrootcert=/etc/pki/ca.crt' -c '\\conninfo'"
}
encrypted() { conninfo "$@" | grep -q 'SSL connection'; }
check "5432: TLS, the certificate verified against the CA and the address (verify-full)" retry 10 2 encrypted 5432 verify-full
check_refused "5432: a certificate check against another name fails" "does not match host name" \
  on "psql -X 'hostaddr=$IP host=pg-nope port=5432 dbname=meta user=dbuser_dba sslmode=verify-full sslrootcert=/etc/pki/ca.crt' -c 'select 1'"
check "deploy with -e pgbouncer_sslmode=require" on "pigsty deploy -l $IP -m pgsql -e pgbouncer_sslmode=require > /root/sec-pgb.log 2>&1"
for port in 6432 5433; do
  check "$port (pgBouncer): TLS verified (verify-full)" retry 10 2 encrypted "$port" verify-full
done
check_refused "6432: a plain connection is refused while pgBouncer requires TLS" "SSL required" conninfo 6432 disable
check "deploy back to pgbouncer_sslmode: disable" on "pigsty deploy -l $IP -m pgsql > /root/sec-pgb-off.log 2>&1"
check "6432: a plain connection works again" retry 10 2 conninfo 6432 disable

echo "-- auth: ssl for the admin: a plain login from a non-local address is refused, TLS works"
# params.yml's pg_default_hba_rules with the admin's intranet rule asking for ssl and a
# deny after it: a hostssl line does not match a plain connection, which would go on to
# the biz users' rule (the admin is a member of dbrole_readonly). The connections below
# come from the node's own address: not local, not localhost.
on "cat > /root/hba-ssl.yml" <<'EOF'
pg_default_hba_rules:
  - { user: "${dbsu}",          db: all,         addr: local,     auth: ident, title: dbsu local,            order: 100 }
  - { user: "${dbsu}",          db: replication, addr: local,     auth: ident, title: dbsu replication,      order: 150 }
  - { user: "${repl}",          db: replication, addr: localhost, auth: pwd,   title: repl localhost,        order: 200 }
  - { user: "${repl}",          db: replication, addr: intra,     auth: pwd,   title: repl intranet,         order: 250 }
  - { user: "${repl}",          db: postgres,    addr: intra,     auth: pwd,   title: repl postgres db,      order: 300 }
  - { user: "${monitor}",       db: all,         addr: localhost, auth: pwd,   title: monitor localhost,     order: 350 }
  - { user: "${monitor}",       db: all,         addr: infra,     auth: pwd,   title: monitor infra,         order: 400 }
  - { user: "${admin}",         db: all,         addr: intra,     auth: ssl,   title: admin intranet TLS,    order: 450 }
  - { user: "${admin}",         db: all,         addr: world,     auth: ssl,   title: admin anywhere TLS,    order: 500 }
  - { user: "${admin}",         db: all,         addr: world,     auth: deny,  title: admin without TLS,     order: 510 }
  - { user: "+dbrole_readonly", db: all,         addr: localhost, auth: pwd,   title: biz users localhost,   order: 550 }
  - { user: "+dbrole_readonly", db: all,         addr: intra,     auth: pwd,   title: biz users intranet,    order: 600 }
  - { user: "+dbrole_offline",  db: all,         addr: intra,     auth: pwd,   title: offline intranet,      order: 650 }
EOF
check "deploy with the admin's rules at auth: ssl (-e @/root/hba-ssl.yml)" on "pigsty deploy -l $IP -m pgsql -e @/root/hba-ssl.yml > /root/sec-hba.log 2>&1"
check "pg_hba.conf has the admin's intranet rule as hostssl" on "grep -Eq '^hostssl +all +dbuser_dba +10\.0\.0\.0/8' /pg/conf/pg_hba.conf"
plain_admin_refused() { # the plain login fails, for the reason pg_hba gives
  ! conninfo 5432 disable >"$WORK_HBA" 2>&1 && grep -q 'pg_hba.conf rejects connection .*"dbuser_dba".* no encryption' "$WORK_HBA" || { cat "$WORK_HBA"; return 1; }
}
WORK_HBA=$(mktemp "${TMPDIR:-/tmp}/lab-sec-hba.XXXXXX")
at_exit rm -f "$WORK_HBA"
check "5432: the admin's plain login (sslmode=disable) from $IP is refused: no encryption" retry 10 2 plain_admin_refused
check "5432: the admin's TLS login (verify-full) from $IP works" retry 10 2 encrypted 5432 verify-full
check "deploy back to the default rules" on "pigsty deploy -l $IP -m pgsql > /root/sec-hba-back.log 2>&1"
check "5432: the admin's plain login works again (intranet rule: pwd)" retry 10 2 conninfo 5432 disable

echo "-- nginx_sslmode: enforce redirects HTTP to HTTPS, but the local repository"
check "deploy INFRA with -e nginx_sslmode=enforce" on "pigsty deploy -l $IP -m infra -e nginx_sslmode=enforce > /root/sec-nginx.log 2>&1"
check_eq "http://$IP/ redirects to https" "301 https://$IP/" on "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://$IP/"
check_eq "https://$IP/ answers, verified against the CA" 200 on "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/pki/ca.crt https://$IP/"
check_fails "http://$IP/pigsty/ is not redirected (apt on nodes that do not trust the CA yet)" on "curl -s -o /dev/null -w '%{http_code}' http://$IP/pigsty/ | grep -q 301"
check "deploy INFRA back to nginx_sslmode: enable" on "pigsty deploy -l $IP -m infra > /root/sec-nginx-back.log 2>&1"
check_eq "http://$IP/ answers on HTTP again" 200 on "curl -s -o /dev/null -w '%{http_code}' http://$IP/"

echo "-- Patroni's REST API: on the node's address; unsafe calls only from the allowlist"
read -r patroni_user patroni_pw < <(on "python3 -c 'import yaml; a = yaml.safe_load(open(\"/etc/patroni/patroni.yml\"))[\"restapi\"][\"authentication\"]; print(a[\"username\"], a[\"password\"])'")
reload_from() { # node: the HTTP code of an authenticated POST /reload from that node
  lab ssh "$1" "curl -s -o /dev/null -w '%{http_code}' -u '$patroni_user:$patroni_pw' -X POST http://$IP:8008/reload"
}
check_eq "an authenticated POST from the admin node (in the allowlist) is accepted" 202 reload_from 1
check_eq "the same POST from lab2 (not in the allowlist) is refused" 403 reload_from 2
check_eq "reads stay open to all (GET /health from lab2)" 200 lab ssh 2 "curl -s -o /dev/null -w '%{http_code}' http://$IP:8008/health"
check_refused "nothing listens on 127.0.0.1:8008" "Couldn't connect to server" on "curl -sS http://127.0.0.1:8008/health"

echo "-- patroni_ssl_enabled: Patroni's REST API over https, and every client of it follows"
TLS=(-e patroni_ssl_enabled=true)
check "deploy PGSQL and INFRA with -e patroni_ssl_enabled=true" \
  on "pigsty deploy -l $IP -m pgsql,infra ${TLS[*]} > /root/sec-patroni-tls.log 2>&1 || { tail -n 20 /root/sec-patroni-tls.log >&2; exit 1; }"
code_of() { # curl ARGS on node 1: the HTTP code, printed only when an answer came
  local c
  c=$(on "curl -s -o /dev/null -w '%{http_code}' $*") || return 1
  echo "$c"
}
check_eq "https://$IP:8008/primary answers, verified against the CA" 200 \
  retry 10 1 code_of "--cacert /etc/pki/ca.crt https://$IP:8008/primary"
plain_patroni_refused() { # plain HTTP to 8008: no HTTP answer (code 000), and curl fails
  local out
  out=$(on "curl -sS -m 5 -o /dev/null -w 'code=%{http_code}' http://$IP:8008/health 2>&1; echo \" rc=\$?\"")
  echo "$out"
  [[ $out == *"code=000"* && $out != *" rc=0" ]]
}
check "plain HTTP to 8008 gets no HTTP answer" plain_patroni_refused
step "lab2 (no pigsty node) gets the CA certificate as /root/sec-ca.crt" \
  bash -c "'$LAB' ssh 1 cat /etc/pki/ca.crt | '$LAB' ssh 2 'cat > /root/sec-ca.crt'"
at_exit lab ssh 2 rm -f /root/sec-ca.crt
reload_tls_from() { # node CA: the HTTP code of an authenticated POST /reload over https, verified with CA
  lab ssh "$1" "curl -s -o /dev/null -w '%{http_code}' --cacert $2 -u '$patroni_user:$patroni_pw' -X POST https://$IP:8008/reload"
}
check_eq "an authenticated POST over https from the admin node is accepted" 202 reload_tls_from 1 /etc/pki/ca.crt
check_eq "the same POST from lab2 (not in the allowlist) is refused" 403 reload_tls_from 2 /root/sec-ca.crt
check "patronictl reload (REST calls verified with ctl.cacert) works" \
  on "patronictl -c /etc/patroni/patroni.yml reload pg-meta --force > /root/sec-patronictl.log 2>&1 && grep -q 'Reload request received' /root/sec-patronictl.log"
check "HAProxy checks Patroni over https, verified against the CA" \
  on "grep -q 'server pg-meta-1 $IP:6432 check port 8008 check-ssl verify required ca-file /etc/pki/ca.crt' /etc/haproxy/pg-meta-primary.cfg"
haproxy_check_ok() { # HAProxy's last check of pg-meta-1 in pg-meta-primary passed at layer 7
  on "curl -sf http://$IP:9101/metrics | grep -E '^haproxy_server_check_status\\{proxy=\"pg-meta-primary\",server=\"pg-meta-1\",state=\"L7OK\"\\} 1'"
}
check "HAProxy's https check of pg-meta-1 passes (L7OK)" retry 15 1 haproxy_check_ok
check "5433 (primary service through HAProxy) reaches pg-meta" retry 10 1 conninfo 5433 disable
prom_patroni_up() { # Prometheus scrapes pg-meta-1's Patroni over https and it is up
  on "curl -sf http://$IP:9090/api/v1/targets?state=active" | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"].get("job") == "patroni" and t["labels"].get("ins") == "pg-meta-1"]
print([(x["scrapeUrl"], x["health"], x["lastError"]) for x in t])
sys.exit(0 if len(t) == 1 and t[0]["scrapeUrl"].startswith("https://") and t[0]["health"] == "up" else 1)'
}
check "Prometheus scrapes Patroni over https and the target is up" retry 30 2 prom_patroni_up
check "pigsty status reads the cluster over https" on "pigsty status pg-meta ${TLS[*]} | grep -q 'pg-meta-1.*running'"
check "plan --check: nothing to do with TLS on" on "pigsty plan -l $IP -m pgsql ${TLS[*]} --check > /root/sec-plan-tls.log 2>&1 || { grep -vE '^ *ok ' /root/sec-plan-tls.log | tail -n 20 >&2; exit 1; }"
check "deploy PGSQL and INFRA back to plain HTTP" \
  on "pigsty deploy -l $IP -m pgsql,infra > /root/sec-patroni-plain.log 2>&1 || { tail -n 20 /root/sec-patroni-plain.log >&2; exit 1; }"
check_eq "http://$IP:8008/health answers again" 200 retry 10 1 code_of "http://$IP:8008/health"
check "pg-meta is healthy" retry 30 2 healthy

echo "-- node_firewall_mode: zone, with an intranet that leaves out lab3"
reach() { # node port: can that node open a TCP connection to node 1's port?
  lab ssh "$1" "nc -z -w 3 $IP $2"
}
check "deploy NODE with node_firewall_intranet [10.10.10.10/32, 10.10.10.11/32]" \
  on "pigsty deploy -l $IP -m node -e 'node_firewall_intranet=[\"10.10.10.10/32\",\"10.10.10.11/32\"]' > /root/sec-fw.log 2>&1"
check "lab2 (intranet) reaches node_exporter (9100)" reach 2 9100
check_fails "lab3 (outside) does not reach node_exporter (9100)" reach 3 9100
check_fails "lab3 does not reach Patroni (8008)" reach 3 8008
check "lab3 reaches a public port: postgres (5432)" reach 3 5432
check "lab3 reaches a public port: ssh (22)" reach 3 22
check "deploy NODE back to the default intranet (10/8 ...)" on "pigsty deploy -l $IP -m node > /root/sec-fw-back.log 2>&1"
check "lab3 reaches node_exporter again" retry 5 1 reach 3 9100

echo "-- etcd: TLS on both ports, peers need a certificate of the CA, one user per cluster"
check_fails "plain HTTP to the client port (2379) gets no answer" on "curl -sf -m 5 http://$IP:2379/version"
check "HTTPS to 2379, verified against the CA, answers" on "curl -sf -m 5 --cacert /etc/pki/ca.crt https://$IP:2379/version | grep -q etcdserver"
check_fails "plain HTTP to the peer port (2380) gets no answer" on "curl -sf -m 5 http://$IP:2380/members"
check_fails "HTTPS to 2380 without a client certificate is refused" on "curl -sf -m 5 --cacert /etc/pki/ca.crt https://$IP:2380/members"
check_eq "patroni.yml logs in as the cluster's own etcd user, not root" patroni-pg-meta \
  on "python3 -c 'import yaml; print(yaml.safe_load(open(\"/etc/patroni/patroni.yml\"))[\"etcd3\"][\"username\"])'"
as_pg_meta() { # etcdctl ARGS as patroni-pg-meta with the password from patroni.yml
  on "u=\$(python3 -c 'import yaml; e = yaml.safe_load(open(\"/etc/patroni/patroni.yml\"))[\"etcd3\"]; print(e[\"username\"] + \":\" + e[\"password\"])'); ETCDCTL_API=3 ETCDCTL_USER=\$u etcdctl --cacert=/etc/pki/ca.crt --endpoints=https://$IP:2379 $*"
}
step "as root: a key of another cluster, /pg/pg-other/secret" etcdctl_on_admin "$IP" put /pg/pg-other/secret hidden
at_exit etcdctl_on_admin "$IP" del --prefix /pg/pg-other/
check "patroni-pg-meta reads its own keys (/pg/pg-meta/leader)" as_pg_meta get /pg/pg-meta/leader
check_refused "patroni-pg-meta cannot read another cluster's keys" "permission denied" as_pg_meta get /pg/pg-other/secret
check_refused "patroni-pg-meta cannot write outside its prefix" "permission denied" as_pg_meta put /pg/pg-other/x y
check "the etcd root password is in no file pigsty wrote for Patroni (/etc/patroni, /pg)" \
  on "pw=\$(sed -n 's/^    etcd_root_password: *//p' /etc/pigsty/pigsty.yml | head -n1); test -n \"\$pw\" && { grep -rlF -- \"\$pw\" /etc/patroni /pg/conf /pg/bin /etc/pgbackrest /etc/pgbouncer; test \$? -eq 1; }"

echo "-- plan checks each cluster's etcd user; deploy mends it"
# Patroni cannot write its keys while the permission is gone: pg-meta is paused meanwhile
step "pg-meta in maintenance mode" on "pigsty pgsql pause pg-meta > /root/sec-pause.log 2>&1"
at_exit on "pigsty pgsql resume pg-meta > /dev/null 2>&1"
step "as root: patroni-pg-meta's readwrite on /pg/pg-meta/ revoked" \
  etcdctl_on_admin "$IP" role revoke-permission patroni-pg-meta /pg/pg-meta/ --prefix=true
check_refused "patroni-pg-meta no longer reads its own keys" "permission denied" as_pg_meta get /pg/pg-meta/leader
plan_names_user() { # plan --check exits 3 and names the missing permission
  local out rc
  out=$(on "pigsty plan -l $IP -m pgsql --check 2>&1")
  rc=$?
  grep -E 'etcd_users|change' <<<"$out" | tail -n 5
  [[ $rc == 3 ]] && grep -q 'etcd users patroni-pg-meta: role patroni-pg-meta: readwrite on /pg/pg-meta/' <<<"$out"
}
check "pigsty plan --check exits 3 and names the missing permission" plan_names_user
check_refused "patroni-pg-meta still cannot read its keys (plan made nothing)" "permission denied" as_pg_meta get /pg/pg-meta/leader
check "pigsty deploy -l $IP -m pgsql mends it" on "pigsty deploy -l $IP -m pgsql > /root/sec-etcduser.log 2>&1 || { tail -n 20 /root/sec-etcduser.log >&2; exit 1; }"
check "the deploy said so (etcd_users changed)" on "grep -q 'changed .*action etcd_users: action etcd users patroni-pg-meta' /root/sec-etcduser.log"
check "patroni-pg-meta reads its own keys again" as_pg_meta get /pg/pg-meta/leader
check "pigsty pgsql resume pg-meta" on "pigsty pgsql resume pg-meta > /root/sec-resume.log 2>&1"
check "pg-meta is healthy after the resume" retry 30 2 healthy
check "pigsty plan --check exits 0 again" on "pigsty plan -l $IP -m pgsql --check > /root/sec-plan2.log 2>&1 || { grep -vE '^ *ok ' /root/sec-plan2.log | tail -n 20 >&2; exit 1; }"

echo "-- one command at a time per cluster"
step "pigsty pgsql pitr pg-meta --latest, in the background" on "rm -f /root/sec-pitr.rc; setsid nohup sh -c 'pigsty pgsql pitr pg-meta --latest --yes > /root/sec-pitr.log 2>&1; echo \$? > /root/sec-pitr.rc' </dev/null >/dev/null 2>&1 &"
pitr_holds_lock() { on "grep -q 'pgsql pitr pg-meta' /run/pigsty/locks/pg-meta.lock"; }
check "the PITR holds the lock of pg-meta" retry 50 0.2 pitr_holds_lock
check_refused "deploy of pg-meta meanwhile waits, then refuses naming the holder" \
  "cluster \`pg-meta\` is locked by \`pigsty pgsql pitr pg-meta --latest --yes\` (pid" \
  on "PIGSTY_LOCK_WAIT=2 pigsty deploy -l $IP -m pgsql"
check_refused "a lock wait that is not a number is refused" \
  "PIGSTY_LOCK_WAIT=\`soon\` is not a whole number of seconds" \
  on "PIGSTY_LOCK_WAIT=soon pigsty deploy -l $IP -m pgsql"
pitr_done() { on "test -s /root/sec-pitr.rc"; }
check "the PITR finishes" retry 180 2 pitr_done
check_eq "the PITR succeeded" "0 recovered" on "echo \$(cat /root/sec-pitr.rc) \$(grep -o 'pg-meta: recovered' /root/sec-pitr.log | cut -d' ' -f2)"
on tail -n 3 /root/sec-pitr.log | sed 's/^/     | /'
check "pg-meta is healthy" retry 30 2 healthy
check "the lock is free again: deploy of pg-meta succeeds" on "pigsty deploy -l $IP -m pgsql >/dev/null 2>&1"

summary
