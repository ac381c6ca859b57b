#!/usr/bin/env bash
# Bench "singleton": `pigsty install` wall time on a fresh lab node, next to the floor:
# `apt-get install` of the same package set plus starting the same services on an
# identical fresh node, measured in the same run; their ratio; and the wall time of a
# no-op re-run (`pigsty install` on the converged node); and the price of TLS in new
# connections per second through 5432, 6432 and 5433 (see `tls_cost`).
#
# Uses lab nodes 1 and 2 (brings the lab up with 2 nodes, takes it down at the end).
# Writes target/bench/singleton.json. Skip with BENCH_SKIP=singleton.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# BENCH_DISTRO=trixie (singleton-trixie.bench.sh): the nodes on Debian 13, results as
# singleton_trixie
DISTRO=${BENCH_DISTRO:-bookworm}
NAME=singleton
[[ $DISTRO == bookworm ]] || NAME=singleton_$DISTRO
LAB=tests/lab/lab.sh
LOG="$BENCH_DIR/$NAME.log"
: >"$LOG"
error=""
install_s="" floor_s="" noop_s="" ratio="" pkgs=""
declare -A cps=()

lab() { echo "+ $LAB $*" >>"$LOG"; "$LAB" "$@" 2>>"$LOG"; }
finish() { "$LAB" down >>"$LOG" 2>&1 || true; }
trap finish EXIT

run() {
  lab down >/dev/null || return 1
  LAB_DISTRO=$DISTRO lab up 2 >/dev/null || return 1
  lab push 1 target/pigsty /usr/local/bin/pigsty && lab ssh 1 chmod 755 /usr/local/bin/pigsty || return 1

  local t0 t1
  t0=$(bench_now)
  lab ssh 1 "pigsty install --json" >"$BENCH_DIR/$NAME.events" || { error="pigsty install failed (see $LOG)"; return 1; }
  t1=$(bench_now)
  install_s=$(bench_elapsed "$t0" "$t1")

  # the package set and the units pigsty installed and started
  pkgs=$(python3 -c 'import json,sys
names=[]
for l in open(sys.argv[1]):
    if not l.startswith("{"): continue
    e=json.loads(l)
    if e.get("event")=="step" and e.get("kind")=="package" and e.get("status")=="changed":
        for d in e.get("diffs",[]):
            if d.startswith("install "): names+=d.split()[1:]
print(" ".join(dict.fromkeys(names)))' "$BENCH_DIR/$NAME.events")
  local units
  units=$(python3 -c 'import json,sys
u=[]
for l in open(sys.argv[1]):
    if not l.startswith("{"): continue
    e=json.loads(l)
    if e.get("event")=="step" and e.get("kind")=="service" and "start" in e.get("diffs",[]): u.append(e["name"])
print(" ".join(dict.fromkeys(u)))' "$BENCH_DIR/$NAME.events")
  echo "packages: $pkgs" >>"$LOG"
  echo "units: $units" >>"$LOG"

  t0=$(bench_now)
  lab ssh 2 "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $pkgs >/dev/null && systemctl start $units" >>"$LOG" 2>&1 ||
    echo "floor: some units did not start as-is (expected without pigsty's configs)" >>"$LOG"
  t1=$(bench_now)
  floor_s=$(bench_elapsed "$t0" "$t1")

  t0=$(bench_now)
  lab ssh 1 "pigsty install" >>"$LOG" 2>&1 || { error="no-op re-run failed"; return 1; }
  t1=$(bench_now)
  noop_s=$(bench_elapsed "$t0" "$t1")
  ratio=$(awk -v a="$install_s" -v b="$floor_s" 'BEGIN { if (b > 0) printf "%.2f\n", a / b }')
  tls_cost
}

# The price of TLS: new connections per second (pgbench -C, `select 1`, 4 clients,
# 10 s) as dbuser_dba through 5432 (postgres), 6432 (pgbouncer) and 5433 (HAProxy to
# pgbouncer), plain (sslmode=disable) and with TLS (sslmode=require); pgBouncer's TLS
# is turned on for its half (pgbouncer_sslmode: require) and off again after.
conns_per_s() { # port sslmode
  lab ssh 1 "echo 'select 1;' > /tmp/select1.sql && PGPASSWORD=\$(sed -n 's/^    pg_admin_password: *//p' /etc/pigsty/pigsty.yml | head -n1) /usr/lib/postgresql/*/bin/pgbench -n -C -c 4 -j 2 -T 10 -f /tmp/select1.sql 'host=10.10.10.10 port=$1 dbname=meta user=dbuser_dba sslmode=$2'" 2>>"$LOG" |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n1
}
tls_cost() {
  local port
  for port in 5432 6432 5433; do cps[${port}_plain]=$(conns_per_s "$port" disable); done
  cps[5432_tls]=$(conns_per_s 5432 require)
  lab ssh 1 "pigsty deploy -l 10.10.10.10 -m pgsql -e pgbouncer_sslmode=require" >>"$LOG" 2>&1 || { error="deploy with pgbouncer TLS failed"; return 1; }
  for port in 6432 5433; do cps[${port}_tls]=$(conns_per_s "$port" require); done
  lab ssh 1 "pigsty deploy -l 10.10.10.10 -m pgsql" >>"$LOG" 2>&1 || true
}

run || error=${error:-"lab failed (see $LOG)"}

tls_json=""
for k in 5432_plain 5432_tls 6432_plain 6432_tls 5433_plain 5433_tls; do
  tls_json+="\"connections_per_second_$k\": $(json_num_or_null "${cps[$k]:-}"), "
done
bench_json "$NAME" "$tls_json\"install_seconds\": $(json_num_or_null "$install_s"), \"floor_seconds\": $(json_num_or_null "$floor_s"), \"install_over_floor\": $(json_num_or_null "$ratio"), \"noop_rerun_seconds\": $(json_num_or_null "$noop_s"), \"packages\": $(json_str "$pkgs"), \"error\": $(json_str_or_null "$error")"
bench_row "$NAME" install "${install_s:-error}" s
bench_row "$NAME" floor_apt_install_and_start "${floor_s:-error}" s
bench_row "$NAME" install_over_floor "${ratio:-error}" x
bench_row "$NAME" noop_rerun "${noop_s:-error}" s
for k in 5432_plain 5432_tls 6432_plain 6432_tls 5433_plain 5433_tls; do
  bench_row "$NAME" "connections_per_second_$k" "${cps[$k]:-error}" conn/s
done
[[ -z $error ]] || bench_row "$NAME" error "$error"
exit 0
