#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# rich: `pigsty configure -c rich && pigsty install` on one fresh node brings up INFRA,
# ETCD, MINIO and PGSQL together, pgBackRest backing up to the MINIO bucket. The Garage
# binary is fetched the way a user's machine fetches it: INFRA downloads the offline
# manifest's `binaries: garage` into the local repository and checks it against the
# published sha256; `PIGSTY_BINARY_URL` (as install.sh's `PIGSTY_DOWNLOAD_URL`) points it
# here at a download server on the node holding the lab's Garage (tests/lab/garage.sh,
# built from its Rust package). No `pigsty repo add` by hand.
#
# Node 5 only: `make test` runs it beside the backup suite (nodes 1-4).
# shellcheck disable=SC2034 # read by run.sh
NODES=5
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

N=5
IP=10.10.10.14
INV=/etc/pigsty/pigsty.yml
DL=http://127.0.0.1:8765
on() { lab ssh "$N" "$@"; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-rich.XXXXXX")
at_exit rm -rf "$WORK"

echo "-- the garage binary (built once, cached outside the repository)"
GARAGE=$("$LAB_DIR/garage.sh" 2>"$WORK/garage.err") || true
check "tests/lab/garage.sh gives a garage binary" test -x "$GARAGE"
[[ -x $GARAGE ]] || tail -n 5 "$WORK/garage.err" | sed 's/^/     | /'

echo "-- lab$N: a fresh node, a download server on it"
step "lab$N: reset to a fresh disk" lab reset "$N"
step "push the binary" lab push "$N" "$REPO_ROOT/target/pigsty" /usr/local/bin/pigsty
step "binary is executable" on chmod 755 /usr/local/bin/pigsty
step "push the garage binary to /root/dl" bash -c "'$LAB' ssh $N mkdir -p /root/dl && '$LAB' push $N '$GARAGE' /root/dl/garage"
# first the wrong checksum: the download must be thrown away
step "a garage.sha256 that is not garage's" on "echo '$(printf '0%.0s' {1..64})  garage' > /root/dl/garage.sha256"
step "python3 -m http.server on $DL" on "cd /root/dl && { nohup setsid python3 -m http.server 8765 --bind 127.0.0.1 >/root/dl.log 2>&1 </dev/null & echo \$! > /root/dl.pid; }"
at_exit on "kill \$(cat /root/dl.pid)"
check "the download server answers" retry 10 0.5 on "curl -sf -o /dev/null $DL/garage.sha256"

echo "-- pigsty configure -c rich"
check "pigsty configure -c rich --ip $IP" on "pigsty configure -c rich --ip $IP > /root/configure.log 2>&1"
check "the inventory puts INFRA, ETCD, MINIO and PGSQL on $IP" on "pigsty validate 2>&1 | tee /root/validate.log | grep -q minio && grep -q '^    pgbackrest_method: minio' $INV"

echo "-- pigsty install, the published checksum wrong: refused at the download"
check_refused "install stops at the download, naming the checksums" "not kept, the repository is as it was" \
  on "PIGSTY_BINARY_URL=$DL pigsty install > /root/install-bad.log 2>&1; rc=\$?; cat /root/install-bad.log; exit \$rc"
check_fails "... and the repository holds no garage" on "test -e /www/pigsty/garage || test -e /www/pigsty/.garage.part"
check_fails "... and MINIO did not start" on "systemctl is-active --quiet garage"

echo "-- pigsty install with the right checksum"
step "garage.sha256 is garage's" on "cd /root/dl && sha256sum garage > garage.sha256"
t0=$SECONDS
check "PIGSTY_BINARY_URL=$DL pigsty install completes" timeout 1800 "$LAB" ssh "$N" "PIGSTY_BINARY_URL=$DL pigsty install > /root/install.log 2>&1 || { tail -n 20 /root/install.log >&2; exit 1; }"
info "install took $((SECONDS - t0))s"
check "the install downloaded garage from the server (INFRA)" on "grep -q 'download $DL/garage' /root/install.log"
check "/www/pigsty/garage is the served binary, its sha256 in SHA256SUMS" \
  on "cmp /www/pigsty/garage /root/dl/garage && cd /www/pigsty && grep ' garage\$' SHA256SUMS | sha256sum -c --quiet"
check "garage runs as a systemd unit" on "systemctl is-active --quiet garage"
pw=$(on "sed -n 's/^    pg_admin_password: *//p' $INV | head -n1")
on "umask 077; echo '*:*:*:dbuser_dba:$pw' > /root/.pgpass"
check_eq "a query through 5433 with the generated password" 1 on "psql -X -A -t -h $IP -p 5433 -U dbuser_dba -d meta -c 'select 1'"
check "pgBackRest's repository is the MINIO bucket (s3 over HTTPS)" on "grep -q '^repo1-type=s3' /etc/pgbackrest/pgbackrest.conf && grep -q '^repo1-s3-endpoint=sss.pigsty' /etc/pgbackrest/pgbackrest.conf"
check "pgbackrest info shows a full backup in it" retry 10 3 on "runuser -u postgres -- pgbackrest --stanza=pg-meta info | grep -q 'full backup'"
check "wal archiving to the bucket works (pg_switch_wal, then pgbackrest check)" \
  on "psql -X -q -h $IP -p 5433 -U dbuser_dba -d meta -c 'select pg_switch_wal()' >/dev/null && runuser -u postgres -- pgbackrest --stanza=pg-meta check"
check "pigsty status pg-meta" on "pigsty status pg-meta"

echo "-- a second install changes nothing (the download is in the repository)"
second_run_changes() { on "PIGSTY_BINARY_URL=$DL pigsty install --json" 2>"$WORK/second.err" | recap_changed; }
check_eq "second pigsty install reports 0 changed" 0 second_run_changes

summary
