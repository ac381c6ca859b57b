#!/usr/bin/env bash
# `make bench`: run every tests/bench/*.bench.sh in name order (after `make release`),
# each writing its own target/bench/NAME.json, then print one summary table.
#
# Add a bench by dropping a NAME.bench.sh next to this file; see lib.sh for the contract.
# Benches report numbers, not pass/fail: this script exits non-zero only when a bench
# script itself broke (non-zero exit), after running all the others.
#
# Environment:
#   BENCH_ONLY="a b"  run only these benches (names without .bench.sh)
#   BENCH_SKIP="a b"  skip these benches (e.g. BENCH_SKIP=lab while someone uses the lab)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."

export BENCH_DIR=target/bench
mkdir -p "$BENCH_DIR"
BENCH_SUMMARY=$(mktemp)
export BENCH_SUMMARY
trap 'rm -f "$BENCH_SUMMARY"' EXIT

# listed NAME LIST: NAME is one of the space-separated words of LIST.
listed() {
  [[ " $2 " == *" $1 "* ]]
}

broken=0
shopt -s nullglob
benches=()
while IFS= read -r f; do benches+=("$f"); done < <(printf '%s\n' tests/bench/*.bench.sh | LC_ALL=C sort)
if ((${#benches[@]} == 0)); then
  echo "error: no tests/bench/*.bench.sh found" >&2
  exit 1
fi

for script in "${benches[@]}"; do
  name=$(basename "$script" .bench.sh)
  if [[ -n ${BENCH_ONLY:-} ]] && ! listed "$name" "$BENCH_ONLY"; then
    printf '%s\t%s\t%s\t%s\n' "$name" "-" "skipped (BENCH_ONLY)" "" >>"$BENCH_SUMMARY"
    continue
  fi
  if listed "$name" "${BENCH_SKIP:-}"; then
    printf '%s\t%s\t%s\t%s\n' "$name" "-" "skipped (BENCH_SKIP)" "" >>"$BENCH_SUMMARY"
    continue
  fi
  echo "== bench $name ($script)" >&2
  rc=0
  bash "$script" || rc=$?
  if ((rc != 0)); then
    broken=1
    printf '%s\t%s\t%s\t%s\n' "$name" "-" "bench script failed (exit $rc)" "" >>"$BENCH_SUMMARY"
  fi
done

# Summary table, columns sized to their content.
w1=5 w2=6 w3=5
while IFS=$'\t' read -r b m v _; do
  ((${#b} > w1)) && w1=${#b}
  ((${#m} > w2)) && w2=${#m}
  ((${#v} > w3)) && w3=${#v}
done <"$BENCH_SUMMARY"
echo
printf "%-${w1}s  %-${w2}s  %-${w3}s  %s\n" BENCH METRIC VALUE UNIT
printf "%-${w1}s  %-${w2}s  %-${w3}s  %s\n" "$(printf '%*s' "$w1" '' | tr ' ' -)" \
  "$(printf '%*s' "$w2" '' | tr ' ' -)" "$(printf '%*s' "$w3" '' | tr ' ' -)" "----"
while IFS=$'\t' read -r b m v u; do
  printf "%-${w1}s  %-${w2}s  %-${w3}s  %s\n" "$b" "$m" "$v" "$u"
done <"$BENCH_SUMMARY"

# The two releases side by side: every metric of a bench NAME next to NAME_trixie's
# (singleton, ha), also written to $BENCH_DIR/releases.json.
python3 - "$BENCH_SUMMARY" "$BENCH_DIR/releases.json" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for b, m, v, u in (r + [""] * (4 - len(r)) for r in rows):
    by.setdefault(b, {})[m] = (v, u)
pairs = [(b, b + "_trixie") for b in by if b + "_trixie" in by]
out = {}
lines = []
for b, t in pairs:
    for m in dict.fromkeys(list(by[b]) + list(by[t])):
        v12, u = by[b].get(m, ("-", ""))
        v13, u13 = by[t].get(m, ("-", ""))
        lines.append((b, m, v12, v13, u or u13))
        out.setdefault(b, {})[m] = {"debian12": v12, "debian13": v13, "unit": u or u13}
if lines:
    w = [max(len(str(l[i])) for l in lines + [("BENCH", "METRIC", "DEBIAN 12", "DEBIAN 13", "UNIT")]) for i in range(5)]
    print()
    print("Debian 12 (bookworm) and Debian 13 (trixie) side by side:")
    for l in [("BENCH", "METRIC", "DEBIAN 12", "DEBIAN 13", "UNIT"), tuple("-" * x for x in w)] + lines:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(l)).rstrip())
    json.dump(out, open(sys.argv[2], "w"), indent=1)
PY
echo
echo "results: $BENCH_DIR/*.json"
exit "$broken"
