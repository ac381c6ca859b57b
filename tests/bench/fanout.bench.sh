#!/usr/bin/env bash
# Bench "fanout": the controller converging many nodes at once. A fresh lab of
# BENCH_FANOUT_NODES (24) nodes; node 1 installs the singleton, whose local repository
# the others install from; then, from node 1, group `fan` (every other node) is added
# to its inventory and timed:
#   - N-1 parallel `ssh NODE true` round trips (the floor of any fan-out);
#   - deploy -m node on one node from a cold start, then on the remaining N-2 at once
#     (--forks N), then a no-op re-deploy of all N-1 and of the one node;
#   - the controller's peak resident memory (VmHWM of the pigsty process, sampled
#     every 0.2 s; its ssh children are not counted) for the one-node and the N-1
#     no-op runs, and the changed total of each no-op (0 expected).
# Writes target/bench/fanout.json; the lab's and the commands' output go to
# target/bench/fanout.log. Takes the lab down first and at the end. Skip with
# BENCH_SKIP=fanout.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=fanout
N=${BENCH_FANOUT_NODES:-24}
LAB=tests/lab/lab.sh
LOG="$BENCH_DIR/$NAME.log"
: >"$LOG"
error=""
trap '"$LAB" down >>"$LOG" 2>&1 || true' EXIT

on() { "$LAB" ssh 1 "$@" </dev/null 2>>"$LOG"; }
# timed CMD: seconds CMD takes on node 1 (its output to the log); empty when it fails
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  if on "$1" >>"$LOG"; then
    t1=$(date +%s.%N)
    python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$t0" "$t1"
  else
    echo "failed: $1" >>"$LOG"
  fi
}
# peak CMD: run CMD on node 1 with pigsty's VmHWM sampled; prints "SECONDS PEAK_KB CHANGED"
peak() {
  on "t0=\$(date +%s.%N); $1 --json > /root/fan.json 2>>/root/fan.err & pid=\$!; hwm=0
while kill -0 \$pid 2>/dev/null; do
  for p in \$pid \$(pgrep -P \$pid -x pigsty); do
    v=\$(awk '/VmHWM/ {print \$2}' /proc/\$p/status 2>/dev/null); [ -n \"\$v\" ] && [ \"\$v\" -gt \$hwm ] && hwm=\$v
  done; sleep 0.2; done
wait \$pid || exit 1
t1=\$(date +%s.%N)
c=\$(python3 -c 'import json,sys
r=[json.loads(l) for l in open(\"/root/fan.json\") if l.startswith(\"{\")]
r=[x for x in r if x.get(\"event\")==\"recap\"][-1]
print(sum(h[\"changed\"] for h in r[\"hosts\"].values()))')
python3 -c \"print(round(\$t1 - \$t0, 2), \$hwm, \$c)\""
}

ips=() others=() first=""
for ((i = 2; i <= N; i++)); do ips+=("10.10.10.$((9 + i))"); done
first=${ips[0]}
others=("${ips[@]:1}")
lab_up="" ssh_par="" cold_one="" cold_rest="" noop_all="" noop_one="" peak_all="" peak_one="" changed_all="" changed_one=""

t0=$SECONDS
if "$LAB" down >>"$LOG" 2>&1 && "$LAB" up "$N" >>"$LOG" 2>&1; then
  lab_up=$((SECONDS - t0))
  "$LAB" push 1 target/pigsty /usr/local/bin/pigsty >>"$LOG" 2>&1 && on "chmod 755 /usr/local/bin/pigsty"
  if on "pigsty install > /root/install.log 2>&1"; then
    on "python3 - /etc/pigsty/pigsty.yml ${ips[*]} <<'PY'
import sys, yaml
path, hosts = sys.argv[1], sys.argv[2:]
doc = yaml.safe_load(open(path))
doc['all']['children']['fan'] = {'hosts': {h: {} for h in hosts}}
open(path, 'w').write(yaml.safe_dump(doc, sort_keys=False))
PY" >>"$LOG"
    on "for h in ${ips[*]}; do ssh-keygen -R \$h >/dev/null 2>&1 || true; ssh-keyscan \$h 2>/dev/null >> /root/.ssh/known_hosts; done"
    ssh_par=$(timed "for h in ${ips[*]}; do ssh -o BatchMode=yes \$h true & done; wait")
    cold_one=$(timed "pigsty deploy -l $first -m node > /root/fan-cold1.log 2>&1")
    rest=$(IFS=,; echo "${others[*]}")
    cold_rest=$(timed "pigsty deploy -l $rest -m node --forks $N > /root/fan-cold.log 2>&1")
    read -r noop_all peak_all changed_all <<<"$(peak "pigsty deploy -l fan -m node --forks $N" || echo "")"
    read -r noop_one peak_one changed_one <<<"$(peak "pigsty deploy -l $first -m node" || echo "")"
  else
    error="pigsty install on node 1 failed (see $LOG)"
  fi
else
  error="lab up $N failed (see $LOG)"
fi
[[ -n $cold_rest && -n $noop_all ]] || error=${error:-"a fan-out run failed (see $LOG)"}

bench_json "$NAME" "\"nodes\": $N, \"lab_up_seconds\": $(json_num_or_null "$lab_up"), \"ssh_parallel_seconds\": $(json_num_or_null "$ssh_par"), \
\"cold_node_1_seconds\": $(json_num_or_null "$cold_one"), \"cold_node_rest_seconds\": $(json_num_or_null "$cold_rest"), \
\"noop_all_seconds\": $(json_num_or_null "$noop_all"), \"noop_all_changed\": $(json_num_or_null "$changed_all"), \"noop_all_peak_kb\": $(json_num_or_null "$peak_all"), \
\"noop_one_seconds\": $(json_num_or_null "$noop_one"), \"noop_one_changed\": $(json_num_or_null "$changed_one"), \"noop_one_peak_kb\": $(json_num_or_null "$peak_one"), \
\"error\": $(json_str_or_null "$error")"
bench_row fanout nodes "$N"
bench_row fanout lab_up_seconds "$lab_up" s
bench_row fanout "ssh_parallel_$((N - 1))_seconds" "$ssh_par" s
bench_row fanout cold_node_1_seconds "$cold_one" s
bench_row fanout "cold_node_rest_$((N - 2))_seconds" "$cold_rest" s
bench_row fanout "noop_all_$((N - 1))_seconds" "$noop_all" s
bench_row fanout noop_all_changed "$changed_all"
bench_row fanout noop_all_peak_kb "$peak_all" KiB
bench_row fanout noop_one_seconds "$noop_one" s
bench_row fanout noop_one_peak_kb "$peak_one" KiB
[[ -z $error ]] || bench_row fanout error "$error"
exit 0
