#!/usr/bin/env bash
# sandbox.sh [N]: a lab of N nodes (1 = singleton, 4 = Pigsty's ha-full layout) with the
# freshly built binary on every node, and `pigsty install` run on node 1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$ROOT/tests/lab/lab.sh
N=${1:-1}
[[ $N =~ ^[0-9]+$ && $N -ge 1 ]] || { echo "sandbox: error: N must be a positive number, got \`$N\`" >&2; exit 2; }
[[ -x $ROOT/target/pigsty ]] || { echo "sandbox: error: no target/pigsty; run make build" >&2; exit 1; }

"$LAB" up "$N"
for ((i = 1; i <= N; i++)); do
  "$LAB" push "$i" "$ROOT/target/pigsty" /usr/local/bin/pigsty
  "$LAB" ssh "$i" chmod 755 /usr/local/bin/pigsty
done
echo "sandbox: pigsty $("$ROOT/target/pigsty" --version | cut -d' ' -f2-) is on $N node(s)"

echo "sandbox: running \`pigsty install\` on node 1 (10.10.10.10)"
"$LAB" ssh 1 pigsty install
if ((N > 1)); then
  echo "sandbox: nodes 2..$N are up with the binary; add them to node 1's inventory and run \`pigsty join IP...\` there"
fi
cat <<MSG

connect:
  tests/lab/lab.sh ssh 1                      # a root shell on node 1
  tests/lab/lab.sh ssh 1 cat /etc/pigsty/pigsty.yml   # the inventory with the generated passwords
  psql postgres://dbuser_dba@10.10.10.10:5433/meta    # from the host or any node
  http://10.10.10.10/                         # the home page (from this host)
  tests/lab/lab.sh down                       # remove the lab
MSG
