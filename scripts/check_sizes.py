#!/usr/bin/env python3
"""Checks the size limits of src/: no function over 80 lines, no file over 600 lines.

Lines are counted as written (blank lines and comments included), from a function's
`fn` line to its closing brace. Files listed in EXEMPT are data tables (the
classifier's keyword lists), not code. Prints every offender and exits non-zero if
there is one; with --top N prints the N longest functions as well.
"""
import os
import re
import sys

MAX_FN = 80
MAX_FILE = 600
EXEMPT = {"src/classify/functions.rs"}

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def strip(line):
    """The line without string/char literals and // comments (good enough for braces)."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = strip(lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body (trait item)
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                out.append((j - i + 1, m.group(6), i + 1))
                break
    return lines, out


def main():
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 0
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    os.chdir(root)
    bad, all_fns = [], []
    for d, _, files in os.walk("src"):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            lines, fns = functions(path)
            if path not in EXEMPT and len(lines) - 1 > MAX_FILE:
                bad.append(f"{path}: {len(lines) - 1} lines (max {MAX_FILE})")
            for n, name, at in fns:
                all_fns.append((n, f"{path}:{at} {name}"))
                if n > MAX_FN and path not in EXEMPT:
                    bad.append(f"{path}:{at}: fn {name} is {n} lines (max {MAX_FN})")
    for n, what in sorted(all_fns, reverse=True)[:top]:
        print(f"{n:5} {what}")
    for b in bad:
        print(b)
    if bad:
        sys.exit(1)
    print(f"sizes ok: every fn <= {MAX_FN} lines, every file <= {MAX_FILE} lines")


if __name__ == "__main__":
    main()
