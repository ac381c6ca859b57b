#!/usr/bin/env python3
"""same_layout.py PROFILE INVENTORY GROUP: the pgsql cluster GROUP of PROFILE (the output
of `pigsty configure -c ha/full`) has the layout INVENTORY deploys: the same members
with the same pg_seq, pg_role and pg_offline_query, the same cluster name, L2 VIP,
users (names and roles), database names and crontab. Prints what differs; exits 1 then.
"""
import sys

import yaml


def layout(path, group):
    g = yaml.safe_load(open(path))["all"]["children"][group]
    hosts = {
        ip: {k: (h or {}).get(k) for k in ("pg_seq", "pg_role", "pg_offline_query")}
        for ip, h in g["hosts"].items()
    }
    v = g.get("vars") or {}
    return {
        "hosts": hosts,
        "pg_cluster": v.get("pg_cluster"),
        "pg_vip_enabled": v.get("pg_vip_enabled"),
        "pg_vip_address": v.get("pg_vip_address"),
        "users": sorted((u["name"], tuple(u.get("roles", []))) for u in v.get("pg_users", [])),
        "databases": sorted(d["name"] for d in v.get("pg_databases", [])),
        "pg_crontab": v.get("pg_crontab"),
    }


def main():
    profile, inventory, group = sys.argv[1:]
    a, b = layout(profile, group), layout(inventory, group)
    diff = [k for k in a if a[k] != b[k]]
    for k in diff:
        print(f"{k}: profile {a[k]!r} but deployed {b[k]!r}")
    sys.exit(1 if diff else 0)


main()
