#!/usr/bin/env python3
"""Evaluate every panel query of the Grafana dashboards against a live Prometheus.

    dashboards.py PROMETHEUS_URL DASHBOARD_DIR|DASHBOARD.json...

For each dashboard (*.json in DASHBOARD_DIR), each panel (rows' nested panels
included) and each target expression: template variables are resolved (query
variables `label_values(...)` against Prometheus, first value among the series
sampled in the last minute, so a target removed a moment ago is not picked; Grafana's
`$__rate_interval`/`$__interval` -> 1m, `$__range` -> 1h), the expression runs as an
instant query, and the panel is reported `ok` (every target returned data), `EMPTY`
(some target returned nothing) or `ERROR` (a query failed). A panel whose metric no
exporter provides is EMPTY: that is the point of the check.

A dashboard whose query variable has no value fails, except `pigsty-redis` when no
redis server (sentinels aside) is scraped: it is then reported "not applicable".

Exit status: 0 when every panel is ok, 1 otherwise, 2 on bad usage or when
Prometheus cannot be reached. Python 3 standard library only.
"""
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 15
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}
# Dashboards checked only where they apply: uid -> a selector that must have fresh
# series (sentinels export no redis_memory_used_bytes: a lab with only sentinels left
# has no redis server to show).
OPTIONAL = {"pigsty-redis": 'redis_memory_used_bytes{job="redis"}'}


class PromError(Exception):
    pass


class Prom:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def get(self, path, params):
        url = f"{self.base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            # Prometheus answers 400/422 with a JSON error for a bad expression.
            try:
                msg = json.loads(e.read()).get("error", str(e))
            except Exception:
                msg = str(e)
            raise PromError(f"HTTP {e.code}: {msg}") from None
        except (urllib.error.URLError, OSError) as e:
            raise PromError(f"cannot reach {self.base}: {getattr(e, 'reason', e)}") from None
        try:
            d = json.loads(body)
        except ValueError:
            raise PromError(f"{path}: answer is not JSON") from None
        if d.get("status") != "success":
            raise PromError(d.get("error", "query failed"))
        return d["data"]

    def query(self, expr):
        return self.get("/api/v1/query", {"query": expr})

    def fresh(self, selector):
        """The series of `selector` with a sample in the last minute."""
        return self.query(f"present_over_time({selector}[1m])")["result"]

    def label_values(self, label, match=None):
        if match:
            # Only series sampled in the last minute: a target removed a moment ago still
            # answers instant queries for 5 minutes (lookback) but has no rate() any more.
            return sorted({s["metric"][label] for s in self.fresh(match) if label in s["metric"]})
        return sorted(self.get(f"/api/v1/label/{urllib.parse.quote(label)}/values", {}))


VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(text, values):
    def rep(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        return m.group(0)

    return VAR_RE.sub(rep, text)


LABEL_VALUES_RE = re.compile(r"^\s*label_values\s*\((.*)\)\s*$", re.S)


def variable_query(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query", "")
    return q or v.get("definition", "")


def resolve_variable(prom, v, values):
    """First value of a `query` variable, or None when it has none."""
    q = substitute(variable_query(v), values)
    m = LABEL_VALUES_RE.match(q)
    if not m:
        raise PromError(f"variable `{v.get('name')}`: only label_values(...) is supported, got `{q}`")
    args = m.group(1).strip()
    # label_values(label) or label_values(selector, label): the label is after the last comma
    # outside braces.
    depth, split = 0, -1
    for i, ch in enumerate(args):
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch == "," and depth == 0:
            split = i
    if split < 0:
        vals = prom.label_values(args)
    else:
        vals = prom.label_values(args[split + 1 :].strip(), args[:split].strip())
    if v.get("regex"):
        rx = re.compile(v["regex"])
        vals = [x for x in vals if rx.search(x)]
    return vals[0] if vals else None


def panels_of(items):
    for p in items or []:
        if p.get("type") == "row":
            yield from panels_of(p.get("panels"))
        else:
            yield p


def check_dashboard(prom, path, counts):
    name = os.path.basename(path)
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{name}: ERROR cannot read: {e}")
        counts["error_files"] += 1
        return
    uid = d.get("uid") or os.path.splitext(name)[0]
    title = d.get("title", uid)
    print(f"== {uid} ({title})")

    if uid in OPTIONAL:
        sel = OPTIONAL[uid]
        try:
            up = prom.fresh(sel)
        except PromError as e:
            print(f"   ERROR cannot tell whether `{sel}` has series: {e}")
            up = None
        if up == []:
            n = sum(1 for p in panels_of(d.get("panels")))
            print(f"   not applicable: no series for `{sel}` in Prometheus ({n} panels skipped)")
            counts["skipped"] += n
            return

    values = dict(BUILTINS)
    for v in (d.get("templating") or {}).get("list", []):
        vname = v.get("name")
        vtype = v.get("type")
        if vtype == "query":
            try:
                val = resolve_variable(prom, v, values)
            except PromError as e:
                print(f"   ERROR variable ${vname}: {e}")
                val = None
            if val is None:
                n = sum(1 for p in panels_of(d.get("panels")))
                print(f"   ERROR variable ${vname} has no value ({variable_query(v)}): {n} panels cannot be checked")
                counts["panels"] += n
                counts["error"] += n
                return
            values[vname] = val
        elif vtype in ("constant", "custom", "textbox", "interval"):
            cur = (v.get("current") or {}).get("value") or v.get("query", "")
            if isinstance(cur, list):
                cur = cur[0] if cur else ""
            if vtype == "custom" and not (v.get("current") or {}).get("value"):
                cur = str(cur).split(",")[0].strip()
            values[vname] = str(cur)
        elif vtype == "datasource":
            continue
    shown = ", ".join(f"{k}={v}" for k, v in values.items() if not k.startswith("__"))
    if shown:
        print(f"   variables: {shown}")

    for p in panels_of(d.get("panels")):
        ptitle = p.get("title", "(untitled)")
        targets = [t for t in p.get("targets") or [] if not t.get("hide")]
        counts["panels"] += 1
        if not targets:
            print(f"   EMPTY  {ptitle}: no query")
            counts["empty"] += 1
            continue
        status, notes = "ok", []
        for t in targets:
            expr = t.get("expr", "")
            ref = t.get("refId", "?")
            if not expr.strip():
                status = "EMPTY" if status == "ok" else status
                notes.append(f"{ref}: empty expression")
                continue
            q = substitute(expr, values)
            try:
                res = prom.query(q)
            except PromError as e:
                status = "ERROR"
                notes.append(f"{ref}: {e} [{q}]")
                continue
            result = res.get("result")
            n = len(result) if isinstance(result, list) else (1 if result else 0)
            if n == 0:
                if status == "ok":
                    status = "EMPTY"
                notes.append(f"{ref}: no data [{q}]")
            else:
                notes.append(f"{ref}: {n} series")
        counts[status.lower()] += 1
        print(f"   {status:<6} {ptitle}: {'; '.join(notes)}")


def main(argv):
    if len(argv) < 3:
        print("usage: dashboards.py PROMETHEUS_URL DASHBOARD_DIR|DASHBOARD.json...", file=sys.stderr)
        return 2
    prom = Prom(argv[1])
    files = []
    for a in argv[2:]:
        files += sorted(glob.glob(os.path.join(a, "*.json"))) if os.path.isdir(a) else [a]
    if not files:
        print(f"no *.json dashboards in {' '.join(argv[2:])}", file=sys.stderr)
        return 2
    try:
        prom.query("vector(1)")
    except PromError as e:
        print(f"Prometheus at {argv[1]} does not answer: {e}", file=sys.stderr)
        return 2
    counts = {"panels": 0, "ok": 0, "empty": 0, "error": 0, "skipped": 0, "error_files": 0}
    for f in files:
        check_dashboard(prom, f, counts)
    extra = f", {counts['skipped']} not applicable" if counts["skipped"] else ""
    bad = counts["empty"] + counts["error"] + counts["error_files"]
    print(
        f"{counts['panels']} panels, {counts['ok']} ok"
        + (f", {counts['empty']} EMPTY" if counts["empty"] else "")
        + (f", {counts['error']} ERROR" if counts["error"] else "")
        + (f", {counts['error_files']} unreadable dashboards" if counts["error_files"] else "")
        + extra
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
