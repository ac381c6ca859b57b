#!/usr/bin/env python3
"""writer.py: the client the ha suite watches a cluster with, during switchover, crash
and partition. Runs on lab nodes (python3 + psycopg2, which the PGSQL module installs);
passwords come from ~/.pgpass, never from the command line.

  writer.py write RUN OUT --hosts A,B,C [--port 5433] [--db test] [--user dbuser_dba]
                          [--duration S] [--stop FILE] [--interval S]
      INSERT (RUN, seq) rows one by one through HOST:PORT (the primary service),
      autocommit.
      Every attempt is one JSON line in OUT: {seq, t0, t, server, via} on an ack
      (server = the Postgres host's /etc/hostname, read by the server itself), or
      {seq, t, err, via, failed} on a failure. Connects like libpq given the host list
      (`host=A,B,C`): the hosts in order from the one in use, the first that accepts;
      a connection is kept until it fails. Like a client that retries once: a failed
      write is tried again at once (on a new connection); when the retry fails too the
      write is given up (`failed`: true) and the next one goes.
      Ends after S seconds or when FILE exists.

  Patroni's REST API is asked over https, verified against /etc/pki/ca.crt, when the
  environment says HA_PATRONI_TLS=1 (pg-test with patroni_ssl_enabled).

  writer.py watch OUT --hosts A,B,C [--port 8008] [--duration S] [--stop FILE]
      Polls Patroni's /cluster on the hosts every 0.25 s and writes a JSON line
      {t, leader, state, host, timeline} each time the leader it sees changes.

  writer.py timeline OUT --hosts A,B,C [--proxy pg-test-primary] [--duration S] [--stop FILE]
      Polls every 0.1 s what decides a failover, and writes a JSON line {t, leader,
      primary, up} each time it changes: the leader in Patroni's /cluster (first host
      that answers), the hosts whose Patroni answers 200 on /primary (promoted, holding
      the leader key), and per host the servers its HAProxy has UP in PROXY (from
      HAProxy's Prometheus metrics on :9101).

  writer.py events TIMELINE WRITES --since T --old NAME --old-host HOST
      The failover timeline after T (a crash, a switchover command), in seconds from T:
      last_ack (before T), leader_gone (no leader key seen), new_leader (a leader other
      than NAME), promoted (a new /primary answers 200), haproxy_up (the first HAProxy
      routes PROXY to the new primary), haproxy_all (every polled HAProxy does),
      first_ack (the first write acknowledged by another server than HOST).

  writer.py verify RUN OUT --hosts A,B,C [--port 5433] [--db test] [--user dbuser_dba]
      Reads the rows of RUN back through the primary service and prints a summary
      of OUT: acked writes, the ones missing from the table (lost), the longest gap
      between two acks and when it began, the servers that acked.

  writer.py summary OUT [--since T]
      The same summary without a database (no loss figure).

The table: ha_probe(run text, seq int, ts timestamptz default now(), primary key (run, seq)).
"""
import argparse
import json
import os
import ssl
import sys
import time
import urllib.request

# the server's /etc/hostname, read by the server itself: ha_host() is a security definer
# function the suite creates (pg_read_file needs a superuser; the writer is not one)
HOSTNAME_SQL = "ha_host()"


def connect(a, host):
    import psycopg2

    c = psycopg2.connect(
        host=host, port=a.port, dbname=a.db, user=a.user, connect_timeout=2,
        keepalives=1, keepalives_idle=1, keepalives_interval=1, keepalives_count=2,
        tcp_user_timeout=3000, application_name="ha-writer",
    )
    c.autocommit = True
    return c


def cmd_write(a):
    hosts = a.hosts.split(",")
    end = time.time() + a.duration
    state = {"i": 0, "conn": None}  # the host connections go through, the connection

    def attempt(seq):
        """One try of write SEQ: connect when needed like libpq given the host list
        (the hosts in order from the one in use, the first that accepts), then INSERT.
        The record of the try, with `err` when it failed."""
        if state["conn"] is None:
            errs = []
            for k in range(len(hosts)):
                h = hosts[(state["i"] + k) % len(hosts)]
                try:
                    state["conn"] = connect(a, h)
                    state["i"] = (state["i"] + k) % len(hosts)
                    break
                except Exception as e:  # noqa: BLE001 - any failure: the next host
                    errs.append(f"{h}: " + str(e).strip()[:100])
            else:
                return {"seq": seq, "t": time.time(), "err": "connect: " + "; ".join(errs), "via": a.hosts}
        via = hosts[state["i"]]
        t0 = time.time()
        try:
            cur = state["conn"].cursor()
            cur.execute(f"INSERT INTO ha_probe (run, seq) VALUES (%s, %s) RETURNING {HOSTNAME_SQL}", (a.run, seq))
            server = cur.fetchone()[0]
            return {"seq": seq, "t0": t0, "t": time.time(), "server": server, "via": via}
        except Exception as e:  # noqa: BLE001
            try:
                state["conn"].close()
            except Exception:  # noqa: BLE001
                pass
            state["conn"] = None
            return {"seq": seq, "t": time.time(), "err": str(e).strip()[:160], "via": via}

    seq = 0
    with open(a.out, "a", buffering=1) as out:
        while time.time() < end and not (a.stop and os.path.exists(a.stop)):
            seq += 1
            r = attempt(seq)
            if "err" in r:  # the one retry, at once
                r["failed"] = False
                out.write(json.dumps(r) + "\n")
                r = attempt(seq)
                if "err" in r:
                    r["failed"] = True
            out.write(json.dumps(r) + "\n")
            time.sleep(a.interval)


def patroni(host, path, timeout, port=8008):
    """Open Patroni's PATH on HOST: https verified against the INFRA CA when
    HA_PATRONI_TLS=1, else plain HTTP."""
    if os.environ.get("HA_PATRONI_TLS") == "1":
        ctx = ssl.create_default_context(cafile="/etc/pki/ca.crt")
        return urllib.request.urlopen(f"https://{host}:{port}{path}", timeout=timeout, context=ctx)
    return urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout)


def cmd_watch(a):
    hosts = a.hosts.split(",")
    end = time.time() + a.duration
    last = None
    with open(a.out, "a", buffering=1) as out:
        while time.time() < end and not (a.stop and os.path.exists(a.stop)):
            seen = None
            for h in hosts:
                try:
                    with patroni(h, "/cluster", 1, a.port) as r:
                        ms = json.load(r).get("members", [])
                    ld = [m for m in ms if m.get("role") in ("leader", "master", "standby_leader")]
                    seen = (ld[0]["name"], ld[0].get("state"), ld[0].get("host"), ld[0].get("timeline")) if ld else (None, None, None, None)
                    break
                except Exception:  # noqa: BLE001 - try the next member
                    continue
            if seen is not None and seen != last:
                out.write(json.dumps({"t": time.time(), "leader": seen[0], "state": seen[1], "host": seen[2], "timeline": seen[3]}) + "\n")
                last = seen
            time.sleep(0.25)


def haproxy_up(host, proxy):
    """The servers HAProxy on HOST has UP in PROXY, from its Prometheus metrics."""
    url = f"http://{host}:9101/metrics?scope=server"
    with urllib.request.urlopen(url, timeout=0.5) as r:
        text = r.read().decode()
    up = []
    for line in text.splitlines():
        if not line.startswith("haproxy_server_status{") or f'proxy="{proxy}"' not in line:
            continue
        labels, _, value = line.rpartition(" ")
        server = labels.split('server="', 1)[1].split('"', 1)[0]
        if 'state="' in labels:  # one series per state (HAProxy 2.4+), 1 for the current one
            if 'state="UP"' in labels and float(value) == 1:
                up.append(server)
        elif float(value) == 1:  # older exporters: the value is the state, 1 = UP
            up.append(server)
    return sorted(up)


def cmd_timeline(a):
    hosts = a.hosts.split(",")
    end = time.time() + a.duration
    last = None
    with open(a.out, "a", buffering=1) as out:
        while time.time() < end and not (a.stop and os.path.exists(a.stop)):
            leader = "?"
            for h in hosts:
                try:
                    with patroni(h, "/cluster", 0.5) as r:
                        ms = json.load(r).get("members", [])
                    ld = [m["name"] for m in ms if m.get("role") in ("leader", "master", "standby_leader")]
                    leader = ld[0] if ld else None
                    break
                except Exception:  # noqa: BLE001 - the next member
                    continue
            primary, up = [], {}
            for h in hosts:
                try:
                    with patroni(h, "/primary", 0.5) as r:
                        if r.status == 200:
                            primary.append(h)
                except Exception:  # noqa: BLE001 - 503 or no answer: not the primary
                    pass
                try:
                    up[h] = haproxy_up(h, a.proxy)
                except Exception:  # noqa: BLE001
                    up[h] = None
            seen = (leader, primary, up)
            if seen != last:
                out.write(json.dumps({"t": time.time(), "leader": leader, "primary": primary, "up": up}) + "\n")
                last = seen
            time.sleep(0.1)


def cmd_events(a):
    tl = [r for r in load(a.timeline)]
    writes = [r for r in load(a.writes) if "server" in r]
    since = a.since
    rel = lambda t: None if t is None else round(t - since, 2)  # noqa: E731
    first = lambda rows, pred: next((r["t"] for r in rows if r["t"] > since and pred(r)), None)  # noqa: E731
    before = [r["t"] for r in writes if r["t"] <= since]
    new = lambda r: r["leader"] not in (None, "?", a.old)  # noqa: E731
    ev = {
        "last_ack": rel(before[-1]) if before else None,
        "leader_gone": rel(first(tl, lambda r: r["leader"] is None)),
        "new_leader": rel(first(tl, new)),
        "promoted": rel(first(tl, lambda r: new(r) and r["primary"])),
        "haproxy_up": rel(first(tl, lambda r: any(v and any(s != a.old for s in v) for v in r["up"].values()))),
        "haproxy_all": rel(first(tl, lambda r: all(v and any(s != a.old for s in v) for v in r["up"].values()))),
        "first_ack": rel(first(writes, lambda r: r["server"] != a.old_host)),
    }
    print(json.dumps(ev))


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def summarize(rows, since=None):
    acks = [r for r in rows if "server" in r and (since is None or r["t"] >= since)]
    errs = [r for r in rows if "err" in r and (since is None or r["t"] >= since)]
    gap, gap_start, gap_end = 0.0, None, None
    for x, y in zip(acks, acks[1:]):
        if y["t"] - x["t"] > gap:
            gap, gap_start, gap_end = y["t"] - x["t"], x["t"], y["t"]
    servers = []
    for r in acks:
        if not servers or servers[-1]["server"] != r["server"]:
            servers.append({"server": r["server"], "first": r["t"], "last": r["t"], "acks": 0})
        servers[-1]["last"] = r["t"]
        servers[-1]["acks"] += 1
    return {
        "acked": len(acks), "errors": len(errs),
        "failed": sum(1 for r in errs if r.get("failed")),
        "first_ack": acks[0]["t"] if acks else None, "last_ack": acks[-1]["t"] if acks else None,
        "max_gap": round(gap, 3), "gap_start": gap_start, "gap_end": gap_end,
        "servers": servers, "first_error": errs[0]["err"] if errs else None,
    }


def cmd_verify(a):
    rows = load(a.out)
    s = summarize(rows)
    acked = {r["seq"] for r in rows if "server" in r}
    last = None
    for h in a.hosts.split(","):
        try:
            c = connect(a, h)
            cur = c.cursor()
            cur.execute("SELECT seq FROM ha_probe WHERE run = %s", (a.run,))
            present = {x[0] for x in cur.fetchall()}
            c.close()
            break
        except Exception as e:  # noqa: BLE001
            last = str(e).strip()
    else:
        print(json.dumps({"error": f"no host answered: {last}"}))
        sys.exit(1)
    s["missing"] = sorted(acked - present)
    s["lost"] = len(s["missing"])
    # rows present that were never acknowledged (the ack was lost, the write was not)
    s["unacked_present"] = len(present - acked)
    print(json.dumps(s))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("run")
    w.add_argument("out")
    v = sub.add_parser("verify")
    v.add_argument("run")
    v.add_argument("out")
    for x in (w, v):
        x.add_argument("--hosts", required=True)
        x.add_argument("--port", type=int, default=5433)
        x.add_argument("--db", default="test")
        x.add_argument("--user", default="dbuser_dba")
    w.add_argument("--duration", type=float, default=300)
    w.add_argument("--stop")
    w.add_argument("--interval", type=float, default=0.05)
    wa = sub.add_parser("watch")
    wa.add_argument("out")
    wa.add_argument("--hosts", required=True)
    wa.add_argument("--port", type=int, default=8008)
    wa.add_argument("--duration", type=float, default=300)
    wa.add_argument("--stop")
    tl = sub.add_parser("timeline")
    tl.add_argument("out")
    tl.add_argument("--hosts", required=True)
    tl.add_argument("--proxy", default="pg-test-primary")
    tl.add_argument("--duration", type=float, default=300)
    tl.add_argument("--stop")
    ev = sub.add_parser("events")
    ev.add_argument("timeline")
    ev.add_argument("writes")
    ev.add_argument("--since", type=float, required=True)
    ev.add_argument("--old", required=True)
    ev.add_argument("--old-host", required=True)
    s = sub.add_parser("summary")
    s.add_argument("out")
    s.add_argument("--since", type=float)
    a = p.parse_args()
    if a.cmd == "write":
        cmd_write(a)
    elif a.cmd == "watch":
        cmd_watch(a)
    elif a.cmd == "timeline":
        cmd_timeline(a)
    elif a.cmd == "events":
        cmd_events(a)
    elif a.cmd == "verify":
        cmd_verify(a)
    else:
        print(json.dumps(summarize(load(a.out), a.since)))


if __name__ == "__main__":
    main()
