#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called through check/retry
# foundation: the lab itself (systemd, SSH, network, crash, partition) and install.sh,
# checked the way a user would check them. Run through tests/lab/run.sh foundation.
# shellcheck disable=SC2034 # read by run.sh
NODES=2
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

TARGET=x86_64-unknown-linux-musl
HTTP_PORT=${LAB_HTTP_PORT:-18431}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lab-foundation.XXXXXX")
at_exit rm -rf "$WORK"

system_up() { # node: systemd finished booting (running, or degraded with a failed unit)
  local s
  s=$(lab ssh "$1" systemctl is-system-running)
  echo "$s"
  [[ $s == running || $s == degraded ]]
}
host_key_fp() { lab ssh "$1" ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}'; }
lab1_reaches_lab2() { lab ssh 1 ssh -o ConnectTimeout=3 10.10.10.11 hostname; }
lab1_ssh_status_to_lab2() { lab ssh 1 "ssh -o ConnectTimeout=3 10.10.10.11 true; echo \$?"; } # 255: could not connect

echo "-- nodes"
for i in 1 2; do
  check "lab$i: systemd is up (running or degraded)" retry 30 1 system_up "$i"
  check "lab$i: sshd is active" lab ssh "$i" systemctl is-active ssh
  check_eq "lab$i: hostname is lab$i" "lab$i" lab ssh "$i" hostname
done
fp1=$(host_key_fp 1)
fp2=$(host_key_fp 2)
check "lab1 and lab2 have distinct host keys ($fp1 / $fp2)" test -n "$fp1" -a -n "$fp2" -a "$fp1" != "$fp2"
check_eq "lab1 reaches lab2 over ssh" lab2 lab1_reaches_lab2
check_eq "lab2 reaches lab1 by name over ssh" lab1 lab ssh 2 ssh lab1 hostname
check "lab1: apt-get update works" timeout 300 "$LAB" ssh 1 apt-get update -q

echo "-- crash: kill -9 and start again"
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
check "lab2: write a token and sync" lab ssh 2 "echo $token > /root/lab-token && sync"
check "lab2: kill" lab kill 2
check_unreachable "lab2 is unreachable after kill" env LAB_SSH_TIMEOUT=2 "$LAB" ssh 2 true
check "lab2: start" lab start 2
check "lab2: systemd is up after the crash" retry 30 1 system_up 2
check_eq "lab2 kept the token written before the crash" "$token" lab ssh 2 cat /root/lab-token

echo "-- partition: cut and heal"
check_eq "lab1 reaches lab2 before the cut" lab2 lab1_reaches_lab2
check "cut lab2" lab cut 2
check_eq "lab1 cannot reach lab2 while cut (its ssh exits 255)" 255 lab1_ssh_status_to_lab2
check "heal lab2" lab heal 2
check_eq "lab1 reaches lab2 after heal" lab2 retry 10 1 lab1_reaches_lab2

echo "-- install.sh"
ASSETS=$REPO_ROOT/target/release-assets
BIN=pigsty-$TARGET
if [[ ! -f $ASSETS/$BIN || ! -f $ASSETS/$BIN.sha256 || ! -f $ASSETS/install.sh ]]; then
  info "no release assets in $ASSETS: make release"
  (cd "$REPO_ROOT" && make release) >"$WORK/make-release.log" 2>&1 ||
    tail -n 20 "$WORK/make-release.log"
fi
check "release assets exist (binary, .sha256, install.sh)" \
  test -f "$ASSETS/$BIN" -a -f "$ASSETS/$BIN.sha256" -a -f "$ASSETS/install.sh"

# the good assets as released, and a tampered copy whose .sha256 does not match
mkdir -p "$WORK/tampered"
cp "$ASSETS/$BIN" "$ASSETS/install.sh" "$WORK/tampered/" 2>/dev/null
echo "$(printf 'not the binary' | sha256sum | cut -d' ' -f1)  $BIN" >"$WORK/tampered/$BIN.sha256"

serve() { # dir port: python http server on the lab bridge address only
  python3 -m http.server --bind 10.10.10.1 "$2" --directory "$1" >"$WORK/http-$2.log" 2>&1 &
  at_exit kill "$!"
}
serving() { curl -fsS -o /dev/null "http://10.10.10.1:$1/install.sh"; }
serve "$ASSETS" "$HTTP_PORT"
serve "$WORK/tampered" "$((HTTP_PORT + 1))"
GOOD=http://10.10.10.1:$HTTP_PORT
BAD=http://10.10.10.1:$((HTTP_PORT + 1))
check "http server for the release assets is up on $GOOD" retry 50 0.2 serving "$HTTP_PORT"
check "http server for the tampered assets is up on $BAD" retry 50 0.2 serving "$((HTTP_PORT + 1))"

lab ssh 1 rm -f /usr/local/bin/pigsty </dev/null
check "lab1: curl install.sh | sh installs pigsty" \
  lab ssh 1 "curl -fsSL $GOOD/install.sh | PIGSTY_DOWNLOAD_URL=$GOOD sh"
check "lab1: /usr/local/bin/pigsty is an executable file" lab ssh 1 test -x /usr/local/bin/pigsty
want=$("$REPO_ROOT/target/pigsty" --version 2>/dev/null || echo "no target/pigsty on the host")
check_eq "lab1: pigsty --version equals the host's target/pigsty" "$want" lab ssh 1 pigsty --version

lab ssh 1 rm -f /usr/local/bin/pigsty </dev/null
check "lab1: the tampered server does serve the binary" \
  lab ssh 1 "curl -fsS -o /dev/null $BAD/$BIN"
check_fails "lab1: install.sh refuses a binary whose sha256 does not match" \
  lab ssh 1 "curl -fsSL $BAD/install.sh | PIGSTY_DOWNLOAD_URL=$BAD sh"
cp "$_CHECK_OUT" "$WORK/tampered-install.out"
check "lab1: the refusal names the checksum" grep -qiE 'checksum|sha256' "$WORK/tampered-install.out"
check_eq "lab1: nothing was installed (/usr/local/bin empty)" "" lab ssh 1 ls -A /usr/local/bin

summary
