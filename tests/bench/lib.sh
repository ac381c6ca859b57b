# shellcheck shell=bash
# Helpers shared by tests/bench/*.bench.sh; sourced, never run. Not a bench itself
# (run.sh only runs files named *.bench.sh).
#
# Contract for a bench script `tests/bench/NAME.bench.sh` (run by run.sh with bash, from
# the repo root):
#   - write its results to "$BENCH_DIR/NAME.json" (bench_json does it atomically);
#   - add rows to the final summary table with `bench_row NAME METRIC VALUE [UNIT]`;
#   - record problems it can describe (missing input, failing tool) in its JSON and in a
#     row, and exit 0: a bench yields numbers, not pass/fail. A non-zero exit means the
#     bench script itself is broken; run.sh reports it and goes on with the next one.
#
# Environment set by run.sh (defaults below let a bench run on its own too):
#   BENCH_DIR      output directory (target/bench)
#   BENCH_SUMMARY  TSV file collecting summary rows (bench, metric, value, unit)

BENCH_DIR=${BENCH_DIR:-target/bench}
BENCH_SUMMARY=${BENCH_SUMMARY:-/dev/null}
mkdir -p "$BENCH_DIR"

# bench_row BENCH METRIC VALUE [UNIT]: one line of the final summary table.
bench_row() {
  local value=${3//$'\t'/ }
  value=${value//$'\n'/ }
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$value" "${4:-}" >>"$BENCH_SUMMARY"
}

# json_str VALUE: VALUE as a JSON string literal.
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  # Any other control character would make the JSON invalid: drop it.
  s=$(printf '%s' "$s" | LC_ALL=C tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# json_str_or_null VALUE: a JSON string, or null when VALUE is empty.
json_str_or_null() {
  if [[ -n $1 ]]; then json_str "$1"; else printf 'null'; fi
}

# json_num_or_null VALUE: VALUE when it is a number, null otherwise.
json_num_or_null() {
  if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# bench_meta NAME: the fields every bench JSON starts with (no braces, trailing comma).
bench_meta() {
  local commit
  commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
  if [[ -n $commit ]] && ! git diff --quiet HEAD 2>/dev/null; then
    commit="$commit-dirty"
  fi
  printf '"bench": %s, "timestamp": %s, "commit": %s, "host": %s,' \
    "$(json_str "$1")" \
    "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" \
    "$(json_str_or_null "$commit")" \
    "$(json_str "$(uname -n)")"
}

# bench_json NAME BODY: write {META, BODY} to $BENCH_DIR/NAME.json atomically.
# BODY is the JSON members after the common ones, without braces.
bench_json() {
  local out="$BENCH_DIR/$1.json"
  printf '{%s %s}\n' "$(bench_meta "$1")" "$2" >"$out.tmp"
  mv -f "$out.tmp" "$out"
  echo "wrote $out" >&2
}

# bench_now: seconds since the epoch, with microseconds.
bench_now() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    printf '%s\n' "${EPOCHREALTIME/,/.}"
  else
    date +%s.%N
  fi
}

# bench_elapsed START END: END - START in seconds, 3 decimals.
bench_elapsed() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'
}

# file_bytes FILE: size in bytes.
file_bytes() {
  wc -c <"$1" | tr -d ' '
}

# human_bytes N: "7.2 MiB".
human_bytes() {
  awk -v n="$1" 'BEGIN {
    split("B KiB MiB GiB", u, " "); i = 1
    while (n >= 1024 && i < 4) { n /= 1024; i++ }
    if (i == 1) printf "%d %s\n", n, u[i]; else printf "%.1f %s\n", n, u[i]
  }'
}

# bench_suite NAME SUITE NODES [VAR=VALUE...]: run tests/lab/suites/SUITE.sh with that
# environment on a fresh NODES-node lab (taken down first, and at exit). Sets LOG
# ($BENCH_DIR/NAME.log, the suite's output), RES ($BENCH_DIR/NAME.results.json: the
# caller passes it to the suite as its <X>_RESULTS variable; `{}` when the suite wrote
# nothing), `checks` (the suite's summary line) and `error` (empty when all went well).
bench_suite() {
  local name=$1 suite=$2 nodes=$3 lab=tests/lab/lab.sh
  shift 3
  LOG="$BENCH_DIR/$name.log" RES="$BENCH_DIR/$name.results.json" error="" checks=""
  : >"$LOG"
  rm -f "$RES"
  trap '"tests/lab/lab.sh" down >>"$LOG" 2>&1 || true' EXIT
  if "$lab" down >>"$LOG" 2>&1 && "$lab" up "$nodes" >>"$LOG" 2>&1; then
    env "$@" bash "tests/lab/suites/$suite.sh" >>"$LOG" 2>&1 || error="some $suite checks failed (see $LOG)"
    checks=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n1 || true)
  else
    error="lab failed (see $LOG)"
  fi
  [[ -s $RES ]] || { error=${error:-"the $suite suite wrote no results (see $LOG)"}; echo '{}' >"$RES"; }
}
