#!/usr/bin/env python3
"""writer.py: the client the ha suite watches a cluster with, during switchover, crash
and partition. Runs on lab nodes (python3 + psycopg2, which the PGSQL module installs);
passwords come from ~/.pgpass, never from the command line.

  writer.py write RUN OUT --hosts A,B,C [--port 5433] [--db test] [--user dbuser_dba]
                          [--duration S] [--stop FILE] [--interval S]
      INSERT (RUN, seq) rows one by one through HOST:PORT (the primary service),
      autocommit, one connection kept until it fails, then the next host of the list.
      Every attempt is one JSON line in OUT: {seq, t0, t, server, via} on an ack
      (server = the Postgres host's /etc/hostname, read by the server itself), or
      {seq, t, err, via} on a failure. Ends after S seconds or when FILE exists.

  writer.py watch OUT --hosts A,B,C [--port 8008] [--duration S] [--stop FILE]
      Polls Patroni's /cluster on the hosts every 0.25 s and writes a JSON line
      {t, leader, state, host, timeline} each time the leader it sees changes.

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
import sys
import time
import urllib.request

HOSTNAME_SQL = "replace(pg_read_file('/etc/hostname'), chr(10), '')"


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
    i, seq, conn = 0, 0, None
    with open(a.out, "a", buffering=1) as out:
        while time.time() < end and not (a.stop and os.path.exists(a.stop)):
            via = hosts[i % len(hosts)]
            if conn is None:
                try:
                    conn = connect(a, via)
                except Exception as e:  # noqa: BLE001 - any failure: next host
                    out.write(json.dumps({"t": time.time(), "err": "connect: " + str(e).strip()[:160], "via": via}) + "\n")
                    i += 1
                    time.sleep(0.1)
                    continue
            seq += 1
            t0 = time.time()
            try:
                cur = conn.cursor()
                cur.execute(f"INSERT INTO ha_probe (run, seq) VALUES (%s, %s) RETURNING {HOSTNAME_SQL}", (a.run, seq))
                server = cur.fetchone()[0]
                out.write(json.dumps({"seq": seq, "t0": t0, "t": time.time(), "server": server, "via": via}) + "\n")
            except Exception as e:  # noqa: BLE001
                out.write(json.dumps({"seq": seq, "t": time.time(), "err": str(e).strip()[:160], "via": via}) + "\n")
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None
                i += 1
            time.sleep(a.interval)


def cmd_watch(a):
    hosts = a.hosts.split(",")
    end = time.time() + a.duration
    last = None
    with open(a.out, "a", buffering=1) as out:
        while time.time() < end and not (a.stop and os.path.exists(a.stop)):
            seen = None
            for h in hosts:
                try:
                    with urllib.request.urlopen(f"http://{h}:{a.port}/cluster", timeout=1) as r:
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
    s = sub.add_parser("summary")
    s.add_argument("out")
    s.add_argument("--since", type=float)
    a = p.parse_args()
    if a.cmd == "write":
        cmd_write(a)
    elif a.cmd == "watch":
        cmd_watch(a)
    elif a.cmd == "verify":
        cmd_verify(a)
    else:
        print(json.dumps(summarize(load(a.out), a.since)))


if __name__ == "__main__":
    main()
