#!/usr/bin/env python3
"""inv.py: edit pg-meta's business objects in node 1's inventory, as a user would by hand.

    inv.py add INVENTORY KEY        insert the YAML list item on stdin (`- { ... }`) as the
                                    first item of pg-meta's `KEY` (the key is created after
                                    `pg_cluster: pg-meta` when missing)
    inv.py sub INVENTORY            replace, inside pg-meta's group, the text on stdin's
                                    first line with its second line (exactly one occurrence)

The file's text stays as it is around the edit (comments, secrets, other clusters); the
result must parse as YAML and keep every other group unchanged. Written in place, so the
file keeps its mode (0600).
"""
import sys

import yaml


def die(msg):
    print(f"inv: error: {msg}", file=sys.stderr)
    sys.exit(1)


def group_span(lines):
    """[start, end) of the `    pg-meta:` group block."""
    try:
        start = lines.index("    pg-meta:\n")
    except ValueError:
        die("no `    pg-meta:` group in the inventory")
    end = start + 1
    while end < len(lines):
        ln = lines[end]
        if ln.strip() and not ln.lstrip().startswith("#") and len(ln) - len(ln.lstrip()) <= 4:
            break
        end += 1
    return start, end


def others(doc):
    ch = dict(doc["all"]["children"])
    ch.pop("pg-meta", None)
    return ch, {k: v for k, v in doc["all"].items() if k != "children"}


def main():
    if len(sys.argv) != 4 and not (len(sys.argv) == 3 and sys.argv[1] == "sub"):
        die(__doc__)
    verb, path = sys.argv[1], sys.argv[2]
    text = open(path).read()
    before = yaml.safe_load(text)
    lines = text.splitlines(keepends=True)
    start, end = group_span(lines)
    block = lines[start:end]
    stdin = sys.stdin.read()
    if verb == "add":
        key = sys.argv[3]
        item = stdin.strip()
        if not item.startswith("- "):
            die("the item on stdin must start with `- `")
        new = f"          {item}\n"
        at = next((i for i, ln in enumerate(block) if ln.rstrip("\n") in (f"        {key}:", f"        {key}: []")), None)
        if at is not None:
            block[at] = f"        {key}:\n"
            block.insert(at + 1, new)
        else:
            at = next((i for i, ln in enumerate(block) if ln.startswith("        pg_cluster:")), None)
            if at is None:
                die("no `pg_cluster:` line in pg-meta's vars")
            block[at + 1 : at + 1] = [f"        {key}:\n", new]
    elif verb == "sub":
        parts = stdin.split("\n")
        if len(parts) < 2 or not parts[0]:
            die("stdin: first line OLD, second line NEW")
        old, repl = parts[0], parts[1]
        joined = "".join(block)
        if joined.count(old) != 1:
            die(f"`{old}` occurs {joined.count(old)} times in pg-meta's group, not once")
        block = joined.replace(old, repl).splitlines(keepends=True)
    else:
        die(f"unknown verb {verb}")
    out = "".join(lines[:start] + block + lines[end:])
    after = yaml.safe_load(out)
    if others(after) != others(before):
        die("the edit changed something outside pg-meta")
    with open(path, "w") as f:  # in place: keeps mode 0600 and owner
        f.write(out)


if __name__ == "__main__":
    main()
