#!/usr/bin/env python3
"""overlay.py INVENTORY [--drop GROUP]... [OVERLAY]: edit node 1's inventory for the redis suite.

Removes the named top-level groups (`all.children.GROUP` blocks, as written) and the
groups of OVERLAY, then inserts OVERLAY's groups before the top-level `  vars:` line.
The rest of the text (comments, secrets, other clusters such as pg-test) is kept as
it is. Each `__PW_<NAME>__` in OVERLAY becomes a random password, the same one for
the same NAME, and stays the same on a re-run (read back from the inventory when the
group is already there with it). The result is parsed back and checked: every other
group and `all.vars` unchanged. Written atomically, mode 0600.
"""
import os
import re
import secrets
import sys

import yaml


def die(msg):
    print(f"overlay: error: {msg}", file=sys.stderr)
    sys.exit(1)


def drop_groups(lines, names):
    out, skip = [], False
    for ln in lines:
        m = re.match(r"^    ([A-Za-z0-9_.-]+):", ln)
        if m and not ln.startswith("     "):
            skip = m.group(1) in names
        elif ln.strip() and not ln.startswith("    ") and not ln.lstrip().startswith("#"):
            skip = False
        if not skip:
            out.append(ln)
    return out


def main():
    args = sys.argv[1:]
    if not args:
        die("usage: overlay.py INVENTORY [--drop GROUP]... [OVERLAY]")
    inv_path, rest = args[0], args[1:]
    drops, overlay = [], None
    while rest:
        a = rest.pop(0)
        if a == "--drop":
            drops.append(rest.pop(0))
        else:
            overlay = a
    text = open(inv_path).read()
    inv = yaml.safe_load(text)
    block = []
    groups = []
    if overlay:
        ov_text = open(overlay).read()
        groups = list(yaml.safe_load(ov_text)["all"]["children"])
        old = {}
        for name in set(re.findall(r"__PW_([A-Z0-9]+)__", ov_text)):
            # keep a password across re-runs: find it where the overlay put it last time
            m = re.search(r"# pw " + name + r": (p[0-9a-f]{24})", text)
            old[name] = m.group(1) if m else "p" + secrets.token_hex(12)
        ov_text = re.sub(r"__PW_([A-Z0-9]+)__", lambda m: old[m.group(1)], ov_text)
        lines = ov_text.splitlines(keepends=True)
        start = lines.index("  children:\n") + 1
        end = start
        while end < len(lines):
            ln = lines[end]
            if ln.strip() and not ln.startswith("    ") and not ln.lstrip().startswith("#"):
                break
            end += 1
        block = lines[start:end]
        block += [f"    # pw {k}: {v}\n" for k, v in sorted(old.items())]
    names = set(drops) | set(groups)
    inv_lines = drop_groups(text.splitlines(keepends=True), names)
    try:
        at = inv_lines.index("  vars:\n")
    except ValueError:
        die(f"{inv_path}: no top-level `  vars:` line")
    # password notes: only the overlay's (re-added with its block)
    inv_lines = [ln for ln in inv_lines if not re.match(r"^    # pw [A-Z0-9]+: ", ln)]
    at = inv_lines.index("  vars:\n")
    merged_text = "".join(inv_lines[:at] + block + inv_lines[at:])
    merged = yaml.safe_load(merged_text)
    have = {k: v for k, v in (inv["all"].get("children") or {}).items() if k not in names}
    got = {k: v for k, v in (merged["all"].get("children") or {}).items() if k not in groups}
    if have != got or merged["all"].get("vars") != inv["all"].get("vars"):
        die("the edit changed other groups or all.vars")
    for g in groups:
        if g not in merged["all"]["children"]:
            die(f"group {g} did not survive the merge")
    tmp = f"{inv_path}.overlay.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(merged_text)
    os.replace(tmp, inv_path)
    print(f"overlay: {inv_path}: dropped {sorted(names - set(groups)) or '-'}, set {groups or '-'}")


if __name__ == "__main__":
    main()
