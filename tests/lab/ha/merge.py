#!/usr/bin/env python3
"""merge.py OVERLAY INVENTORY: add the groups of OVERLAY (all.children.*) to INVENTORY.

Runs on node 1 (python3-yaml comes with Patroni there). INVENTORY is node 1's generated
singleton inventory: its text is kept as it is (comments, secrets); the overlay's group
blocks are inserted, as written, before the top-level `  vars:` line. Each
'__GENERATED__' in the overlay becomes a fresh random password. The first merge
keeps the singleton file as INVENTORY with `.singleton` before `.yml`; the result is
written atomically, mode 0600. Idempotent: when every overlay group is already there,
nothing changes (and the passwords stay). The result is parsed back and compared with
the two inputs before it is written.
"""
import os
import re
import secrets
import shutil
import sys

import yaml


def die(msg):
    print(f"merge: error: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 3:
        die("usage: merge.py OVERLAY INVENTORY")
    overlay_path, inv_path = sys.argv[1:]
    inv_text = open(inv_path).read()
    inv = yaml.safe_load(inv_text)
    ov_text = open(overlay_path).read()
    ov = yaml.safe_load(ov_text)
    groups = list(ov["all"]["children"])
    have = inv["all"].get("children") or {}
    present = [g for g in groups if g in have]
    if len(present) == len(groups):
        print(f"merge: {', '.join(groups)} already in {inv_path}; unchanged")
        return
    if present:
        die(f"{inv_path} has {', '.join(present)} but not every group of {overlay_path}; restore the .singleton file first")

    ov_text = re.sub(r"__GENERATED__", lambda _: "p" + secrets.token_hex(12), ov_text)
    lines = ov_text.splitlines(keepends=True)
    try:
        start = lines.index("  children:\n") + 1
    except ValueError:
        die(f"{overlay_path}: no `  children:` line")
    end = start
    while end < len(lines):
        ln = lines[end]
        if ln.strip() and not ln.startswith("    ") and not ln.lstrip().startswith("#"):
            break
        end += 1
    block = lines[start:end]

    inv_lines = inv_text.splitlines(keepends=True)
    try:
        at = inv_lines.index("  vars:\n")
    except ValueError:
        die(f"{inv_path}: no top-level `  vars:` line to insert before")
    merged_text = "".join(inv_lines[:at] + block + (["\n"] if block and block[-1].strip() else []) + inv_lines[at:])

    merged = yaml.safe_load(merged_text)
    want = yaml.safe_load(ov_text)
    for g in groups:
        if merged["all"]["children"].get(g) != want["all"]["children"][g]:
            die(f"group {g} did not survive the merge")
    rest = {k: v for k, v in merged["all"]["children"].items() if k not in groups}
    if rest != have or merged["all"].get("vars") != inv["all"].get("vars"):
        die("the merge changed the singleton part")

    root, ext = os.path.splitext(inv_path)
    backup = f"{root}.singleton{ext}"
    if not os.path.exists(backup):
        shutil.copy2(inv_path, backup)
        os.chmod(backup, 0o600)
    tmp = f"{inv_path}.merge.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(merged_text)
    os.replace(tmp, inv_path)
    print(f"merge: added {', '.join(groups)} to {inv_path} (singleton kept as {backup})")


if __name__ == "__main__":
    main()
