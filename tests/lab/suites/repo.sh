#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# repo: the local package repository. `pigsty repo build` on node 1 (the infra node)
# mirrors every package the inventory's modules install, with the dependency closure,
# into /www/pigsty; then nodes 2-4 are reset to fresh disks and cut off the internet
# (`lab isolate`: lab traffic only), and `pigsty deploy -l pg-test` builds the 3-node
# pg-test from that repository alone (`node_repo_modules: local` + `node_repo_remove`:
# their other apt sources move to /etc/apt/backup).
#
# Runs on what the singleton and ha suites leave (node 1's singleton, pg-test merged in
# its inventory), or sets them up itself. Leaves pg-test healthy on nodes 2-4, and the
# nodes isolated until the end of the suite only.
# shellcheck disable=SC2034 # read by run.sh
NODES=4
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

META=10.10.10.10
PG_IPS=(10.10.10.11 10.10.10.12 10.10.10.13)
INV=/etc/pigsty/pigsty.yml
on() { lab ssh 1 "$@"; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-repo.XXXXXX")
at_exit rm -rf "$WORK"
: >"$WORK/results.tsv"
record() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/results.tsv"; }

echo "-- node 1: the singleton meta node, with pg-test in its inventory"
singleton_on_admin
if ! on "grep -q '^    pg-test:' $INV"; then
  step "push tests/lab/ha to node 1" lab push 1 "$LAB_DIR/ha" /root/ha
  check "merge pg-test into node 1's inventory" on "python3 /root/ha/merge.py /root/ha/pg-test.yml $INV"
fi
check "pigsty validate: pg-test is there" on "pigsty validate 2>&1 | grep -q '2 pgsql clusters'"

echo "-- pigsty repo build on node 1"
check "pigsty repo list names the pgsql stack" on "pigsty repo list | grep -E '^  pgsql .*patroni'"
t0=$SECONDS
check "pigsty repo build" timeout 1800 "$LAB" ssh 1 "pigsty repo build > /root/repo-build.log 2>&1"
info "repo build took $((SECONDS - t0))s"
record repo_build_seconds $((SECONDS - t0))
record repo_bytes "$(on "du -sb /www/pigsty | cut -f1")"
record repo_packages "$(on "grep -c '^Package: ' /www/pigsty/Packages")"
on tail -n 3 /root/repo-build.log | sed 's/^/     | /'
check "the index is there (Packages, Packages.gz, Release)" on "test -s /www/pigsty/Packages && test -s /www/pigsty/Packages.gz && test -s /www/pigsty/Release"
check_eq "Release names the release its packages are for" bookworm on "sed -n 's/^Codename: //p' /www/pigsty/Release"
check "the index lists patroni, postgresql-15 and libc6 (the closure)" on "grep -qx 'Package: patroni' /www/pigsty/Packages && grep -qx 'Package: postgresql-15' /www/pigsty/Packages && grep -qx 'Package: libc6' /www/pigsty/Packages"
check "nginx serves it to the other nodes" lab ssh 2 "curl -sf http://$META/pigsty/Packages | grep -q '^Package: '"
check "a second repo build downloads nothing" on "pigsty repo build 2>&1 | grep -q '; 0 to download'"
check "node 1 keeps its own upstream sources (not converged since)" on "test -e /etc/apt/sources.list.d/debian.sources"

forget_old_pg_test() { etcdctl_on_admin "$META" del --prefix /pg/pg-test/ >/dev/null; }
if [[ ${REPO_BENCH:-0} == 1 ]]; then # make bench: the same deploy from the upstream mirror first
  echo "-- bench: pigsty deploy -l pg-test from the upstream mirror, on fresh disks"
  for i in 2 3 4; do step "lab$i: reset to a fresh disk" lab reset "$i"; done
  step "no pg-test keys in etcd (upstream run)" forget_old_pg_test
  t0=$SECONDS
  check "bench: pigsty deploy -l pg-test (upstream)" timeout 2700 "$LAB" ssh 1 "pigsty deploy -l pg-test -e node_repo_modules=node > /root/repo-upstream.log 2>&1"
  record deploy_upstream_seconds $((SECONDS - t0))
fi

echo "-- nodes 2-4: fresh disks with no internet"
for i in 2 3 4; do
  step "lab$i: reset to a fresh disk" lab reset "$i"
  check "lab$i: isolate (no internet, lab traffic only)" lab isolate "$i"
  at_exit lab unisolate "$i"
done
# only once the old members are gone: a running Patroni (the ha suite's pg-test) would
# write its leader and initialize keys back within a loop
step "no pg-test keys in etcd" forget_old_pg_test
mirror=$(lab ssh 2 "sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources | head -n1")
info "the nodes' upstream mirror: $mirror"
check_fails "lab2 cannot reach its upstream mirror" lab ssh 2 "curl -s -m 5 -o /dev/null '$mirror'"
check "lab2 reaches node 1" lab ssh 2 "curl -sf -m 5 -o /dev/null http://$META/pigsty/Release"

echo "-- pigsty deploy -l pg-test from the local repository alone"
t0=$SECONDS
check "pigsty deploy -l pg-test" timeout 2700 "$LAB" ssh 1 "pigsty deploy -l pg-test > /root/repo-deploy.log 2>&1"
info "deploy took $((SECONDS - t0))s"
record deploy_local_repo_seconds $((SECONDS - t0))
on tail -n 6 /root/repo-deploy.log | sed 's/^/     | /'
for i in 2 3 4; do
  check "lab$i: the local repository is its only apt source" lab ssh "$i" \
    "ls /etc/apt/sources.list.d/ | grep -vx pigsty-local.list | grep -q . && exit 1; grep -q '$META' /etc/apt/sources.list.d/pigsty-local.list && test -e /etc/apt/backup/debian.sources"
  check "lab$i: patroni came from node 1" lab ssh "$i" "apt-cache policy patroni | grep -q 'http://$META'"
done
healthy() {
  on "pigsty status pg-test --json 2>/dev/null; true" | python3 -c 'import json,sys
c=json.load(sys.stdin)["clusters"][0]
ms=c.get("members", [])
print([(m.get("name"), m.get("role"), m.get("state")) for m in ms])
leaders=[m for m in ms if m.get("role")=="leader" and m.get("state")=="running"]
reps=[m for m in ms if m.get("role") in ("replica","sync_standby") and m.get("state") in ("running","streaming")]
sys.exit(0 if len(ms)==3 and len(leaders)==1 and len(reps)==2 else 1)'
}
check "pg-test: one leader and two running replicas" retry 30 2 healthy
pw=$(on "sed -n 's/^    pg_admin_password: *//p' $INV | head -n1")
on "umask 077; echo '*:*:*:dbuser_dba:$pw' > /root/.pgpass"
check "a write through 5433 of lab3" on "psql -X -A -t 'host=10.10.10.12 port=5433 dbname=test user=dbuser_dba connect_timeout=3' -c 'create table if not exists repo_probe(x int); insert into repo_probe values (1)'"

echo "-- pigsty logs: the cluster's journals and postgres logs, merged by time"
logs_of_members() { # lines from every member's patroni, postgres log lines, in time order
  on "pigsty logs pg-test --since '-30min'" >"$WORK/logs.txt" || return 1
  python3 - "$WORK/logs.txt" <<'PY'
import sys
lines = [l.split(" ", 4) for l in open(sys.argv[1]) if l[:2] == "20"]
hosts = {l[2] for l in lines if len(l) > 3 and l[3] == "patroni:"}
pg = [l for l in lines if len(l) > 3 and l[3] == "postgres:"]
times = [l[0] + " " + l[1] for l in lines]
print(f"{len(lines)} lines, patroni from {sorted(hosts)}, {len(pg)} postgres lines")
sys.exit(0 if len(hosts) == 3 and pg and times == sorted(times) else 1)
PY
}
check "pigsty logs pg-test: patroni of all 3 members and postgres, in time order" logs_of_members
check "pigsty logs 10.10.10.11 patroni -n 5: five lines" bash -c "[[ \$('$LAB' ssh 1 \"pigsty logs 10.10.10.11 patroni --since '-30min' -n 5\" | wc -l) == 5 ]]"

echo "-- pigsty repo pack, then pigsty install --pkg on a fresh node with no internet"
check "pigsty repo pack on node 1" timeout 900 "$LAB" ssh 1 "pigsty repo pack -o /root/bundle.tar > /root/repo-pack.log 2>&1"
on cat /root/repo-pack.log | sed 's/^/     | /'
check "the bundle and its checksum" on "cd /root && sha256sum -c bundle.tar.sha256"
check "lab4: reset to a fresh disk (still isolated)" lab reset 4
check "lab4: isolate" lab isolate 4
step "copy the bundle to lab4" copy_bundle 1 4 "$WORK"
step "copy the binary to lab4" bash -c "'$LAB' push 4 '$REPO_ROOT/target/pigsty' /usr/local/bin/pigsty && '$LAB' ssh 4 chmod 755 /usr/local/bin/pigsty"
# kept for a later suite on another release (a real bundle it must refuse)
if [[ -n ${LAB_SHARE:-} ]]; then
  mv "$WORK/bundle.tar" "$LAB_SHARE/bundle-$SUITE_DISTRO.tar" && mv "$WORK/bundle.tar.sha256" "$LAB_SHARE/bundle-$SUITE_DISTRO.tar.sha256"
else
  rm -f "$WORK/bundle.tar"
fi
check "a bundle of another OS release (its manifest says Debian 13) is refused with nothing changed" \
  bundle_of_other_release_refused 4 /root/bundle.tar 13 12 12
t0=$SECONDS
check "lab4: pigsty install --pkg (offline)" timeout 1800 "$LAB" ssh 4 "pigsty install --pkg /root/bundle.tar > /root/install.log 2>&1"
info "offline install took $((SECONDS - t0))s"
record offline_install_seconds $((SECONDS - t0))
lab ssh 4 tail -n 4 /root/install.log | sed 's/^/     | /'
check "lab4: the local repository is its only apt source (file:)" lab ssh 4 "grep -q 'file:/www/pigsty' /etc/apt/sources.list.d/pigsty-local.list && test -e /etc/apt/backup/debian.sources"
check "lab4: pigsty status pg-meta is healthy" lab ssh 4 "pigsty status pg-meta"
check "lab4: a query through 5433 with the generated password" lab ssh 4 "PGPASSWORD=\$(sed -n 's/^    pg_admin_password: *//p' $INV | head -n1) psql -X -A -t 'host=10.10.10.13 port=5433 dbname=meta user=dbuser_dba' -c 'select 1' | grep -qx 1"

echo "-- back online"
for i in 2 3 4; do
  check "lab$i: unisolate" lab unisolate "$i"
done

echo "-- repo_upstream: a signed repository with its key in the entry (lab2)"
# a one-package flat repository made here, signed with a key of its own (ed25519), served
# by node 1's nginx; the entry's `key` becomes the file's Signed-By, so apt trusts that
# key alone for it: a wrong key or none fails before anything on the node changes
build_signed_repo() {
  local g=$WORK/gpg-good b=$WORK/gpg-bad r=$WORK/probe pk=$WORK/probe-pkg
  mkdir -p -m 700 "$g" "$b" && mkdir -p "$r" "$pk/DEBIAN" "$pk/usr/share/pigsty-signed-probe" || return 1
  for h in "$g" "$b"; do
    gpg --homedir "$h" --batch --pinentry-mode loopback --passphrase '' --quick-gen-key "pigsty lab probe $(basename "$h") <probe@lab.invalid>" ed25519 sign never 2>/dev/null || return 1
    gpg --homedir "$h" --armor --export >"$h.asc" || return 1
  done
  printf 'Package: pigsty-signed-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: pigsty lab <probe@lab.invalid>\nDescription: a package from the lab'"'"'s signed repository\n' >"$pk/DEBIAN/control"
  echo "from the signed repository" >"$pk/usr/share/pigsty-signed-probe/README"
  dpkg-deb --root-owner-group --build "$pk" "$r/pigsty-signed-probe_1.0_all.deb" >/dev/null || return 1
  (cd "$r" && apt-ftparchive packages . >Packages && apt-ftparchive release . >Release) || return 1
  gpg --homedir "$g" --batch --yes --clearsign -o "$r/InRelease" "$r/Release" 2>/dev/null &&
    gpg --homedir "$g" --batch --yes --armor --detach-sign -o "$r/Release.gpg" "$r/Release" 2>/dev/null || return 1
  lab push 1 "$r" /www/probe && on "chmod -R a+rX /www/probe"
}
probe_vars() { # KEYFILE|none OUT: -e vars for lab2 with the probe entry
  {
    printf 'node_repo_modules: local,probe\nnode_packages: [pigsty-signed-probe]\nrepo_upstream:\n'
    printf '  - { name: pigsty-local, module: local, baseurl: { default: "http://${admin_ip}/pigsty ./" } }\n'
    printf '  - name: probe\n    description: the lab signed repository\n    module: probe\n    releases: [12, 13]\n    arch: [x86_64, aarch64]\n'
    printf '    baseurl: { default: "http://${admin_ip}/probe ./", china: "http://10.10.10.99/nowhere ./" }\n'
    if [[ $1 != none ]]; then printf '    key: |\n'; sed 's/^/      /' "$1"; fi
  } >"$2"
}
check "a signed one-package repository served by node 1 (/www/probe)" build_signed_repo
probe_vars "$WORK/gpg-good.asc" "$WORK/probe-good.yml"
probe_vars "$WORK/gpg-bad.asc" "$WORK/probe-bad.yml"
probe_vars none "$WORK/probe-nokey.yml"
for f in good bad nokey; do step "push probe-$f.yml to node 1" lab push 1 "$WORK/probe-$f.yml" "/root/probe-$f.yml"; done
P=10.10.10.11
apt_state() { lab ssh 2 "cd /etc/apt && find . -type f | sort | xargs md5sum; ls /var/lib/apt/lists; dpkg-query -W -f '\${Package} \${Version}\n' | md5sum"; }
before=$(apt_state)
check_refused "a wrong key: deploy fails with apt's verification error" "NO_PUBKEY" \
  on "pigsty deploy -l $P -m node -e @/root/probe-bad.yml > /root/probe-bad.log 2>&1; rc=\$?; cat /root/probe-bad.log; exit \$rc"
check "... naming the entry and saying nothing changed" on "grep -q 'apt could not use repo_upstream probe (nothing on the node changed)' /root/probe-bad.log"
check_eq "... and lab2's apt sources, lists and packages are as they were" "$before" apt_state
check_refused "no key: apt checks the node's own keys, which do not sign it (never trusted=yes)" "is not signed" \
  on "pigsty deploy -l $P -m node -e @/root/probe-nokey.yml"
check_eq "... and lab2 is still as it was" "$before" apt_state
check "the right key: deploy installs pigsty-signed-probe from it" on "pigsty deploy -l $P -m node -e @/root/probe-good.yml > /root/probe-good.log 2>&1 || { tail -n 20 /root/probe-good.log >&2; exit 1; }"
check "lab2: the package is installed, from the probe repository" lab ssh 2 "dpkg-query -W -f '\${Status}' pigsty-signed-probe | grep -q 'install ok installed' && apt-cache policy pigsty-signed-probe | grep -q 'http://$META/probe'"
check "lab2: pigsty-probe.sources has the key as Signed-By, the local repository stays" lab ssh 2 "grep -q '^Signed-By:' /etc/apt/sources.list.d/pigsty-probe.sources && grep -q '^URIs: http://$META/probe\$' /etc/apt/sources.list.d/pigsty-probe.sources && test -e /etc/apt/sources.list.d/pigsty-local.list && ! grep -rq trusted=yes /etc/apt/sources.list.d/pigsty-probe.sources"
check "a second deploy with it: plan --check finds nothing to change" on "pigsty plan -l $P -m node -e @/root/probe-good.yml --check >/root/probe-plan.log 2>&1 || { grep -vE '^ *ok ' /root/probe-plan.log | tail -n 20 >&2; exit 1; }"
check "the inventory without it: deploy removes pigsty-probe.sources" on "pigsty deploy -l $P -m node >/dev/null 2>&1"
check_fails "lab2: pigsty-probe.sources is gone" lab ssh 2 "test -e /etc/apt/sources.list.d/pigsty-probe.sources"

echo "-- pg_version that no configured source offers (lab2: the local repository only)"
# pg_data pointed at an empty place, so the version is decided by the sources alone
check_refused "plan refuses pg_version 18, naming the version" "\`pg_version: 18\` but no configured apt source offers package \`postgresql-18\`" \
  on "pigsty plan -l $P -m pgsql -e pg_version=18 -e pg_data=/pg/nothing-here > /root/pgv.log 2>&1; rc=\$?; cat /root/pgv.log; exit \$rc"
check "... the sources it tried (the local repository)" on "grep -qE 'sources tried: http://$META(:80)?/pigsty/? ' /root/pgv.log"
check "... and the repo_upstream entry to add (PGDG, module pgsql)" on "grep -qF 'name: pgdg' /root/pgv.log && grep -qF 'node_repo_modules: local,pgsql' /root/pgv.log"
check "... and PostgreSQL 15 there is offered instead" on "grep -qF 'unset \`pg_version\` to use PostgreSQL 15' /root/pgv.log"

if [[ -n ${REPO_RESULTS:-} ]]; then
  python3 - "$WORK/results.tsv" >"$REPO_RESULTS" <<'PY'
import json, sys
print(json.dumps({k: float(v) for k, v in (l.rstrip("\n").split("\t") for l in open(sys.argv[1])) if v}))
PY
fi
echo "measured:"
sed 's/^/  /' "$WORK/results.tsv"

summary
