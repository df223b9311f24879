#!/usr/bin/env python3
"""Summarise a gremlins log for tools/mutation.sh.

Reads the per-mutant lines gremlins prints ("LIVED CONDITIONALS_BOUNDARY at
limiter.go:26:13"), which are there even when a run was interrupted, and
prints the counts, the kill rate and the survivors with their source lines.
A survivor that tools/mutation-equivalent.txt lists is marked with the
reason it was judged equivalent. With --floor above 0, exits 1 when the
kill rate is below it.
"""

import argparse
import re
import sys
from collections import Counter

LINE = re.compile(r"^\s*(KILLED|LIVED|TIMED OUT|NOT COVERED|NOT VIABLE|SKIPPED|RUNNABLE) (\w+) at (.+?):(\d+):(\d+)\s*$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Every operator gremlins mutates, longest first, to find where the mutated
# token ends: the log gives only where it starts.
TOKENS = sorted(
    "<<= >>= &^= += -= *= /= %= &= |= ^= << >> &^ && || ++ -- == != <= >= < > + - * / % & | ^ ! break continue".split(),
    key=len,
    reverse=True,
)


FUNC = re.compile(r"^func (?:\([^)]*\) )?(\w+)")


def where(path, line, col):
    """The enclosing function's name, and the source line, trimmed, with
    the token at col in [[ ]]: a line such as "if err != nil {" is told
    apart by its function."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        src = lines[line - 1]
    except (OSError, IndexError):
        return "?", "?"
    fn = next((m[1] for l in reversed(lines[:line]) if (m := FUNC.match(l))), "-")
    b = src.encode()
    i = col - 1  # gremlins' columns count bytes from 1
    n = next((len(t) for t in TOKENS if b.startswith(t.encode(), i)), 1)
    out = (b[:i] + b"[[" + b[i : i + n] + b"]]" + b[i + n :]).decode()
    return fn, out.strip()


def load_equivalent(path):
    """FILE: FUNC: TYPE: marked source line  -- reason, one a line; #
    comments."""
    eq = {}
    try:
        with open(path, encoding="utf-8") as f:
            for n, raw in enumerate(f, 1):
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
                m = re.match(r"^(\S+): (\S+): (\w+): (.+?)  -- (.+)$", raw.rstrip("\n"))
                if not m:
                    sys.exit(f"{path}:{n}: not FILE: FUNC: TYPE: CODE  -- REASON")
                eq[(m[1], m[2], m[3], m[4].strip())] = m[5]
    except FileNotFoundError:
        pass
    return eq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--floor", type=float, default=0)
    ap.add_argument("--equivalent", default="")
    ap.add_argument("log")
    a = ap.parse_args()

    eq = load_equivalent(a.equivalent) if a.equivalent else {}
    count = Counter()
    lived, per_file = [], {}
    with open(a.log, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(ANSI.sub("", raw))
            if not m:
                continue
            status, kind, path, line, col = m[1], m[2], m[3], int(m[4]), int(m[5])
            count[status] += 1
            per_file.setdefault(path, Counter())[status] += 1
            if status == "LIVED":
                lived.append((path, line, col, kind))

    killed, alive = count["KILLED"], count["LIVED"]
    print()
    print("per file (killed/lived/timed out/not covered):")
    for path in sorted(per_file):
        c = per_file[path]
        print(f"  {path:14} {c['KILLED']:4} {c['LIVED']:4} {c['TIMED OUT']:4} {c['NOT COVERED']:4}")
    seen = set()
    if lived:
        print("survivors:")
        for path, line, col, kind in sorted(lived):
            fn, code = where(path, line, col)
            key = (path, fn, kind, code)
            why = eq.get(key)
            if why:
                seen.add(key)
            note = f"\n      equivalent: {why}" if why else ""
            print(f"  {path}:{line}:{col} {fn}: {kind}: {code}{note}")
    judged = len(seen)
    print(
        f"killed {killed}, lived {alive} ({judged} judged equivalent), "
        f"timed out {count['TIMED OUT']}, not viable {count['NOT VIABLE']}, "
        f"not covered {count['NOT COVERED']}"
    )
    if killed + alive == 0:
        print("no mutant was tested")
        return 1 if a.floor > 0 else 0
    rate = 100 * killed / (killed + alive)
    print(f"kill rate: {killed}/{killed + alive} = {rate:.1f}%" + (f" (floor {a.floor:g}%)" if a.floor > 0 else ""))
    stale = [k for k in eq if k not in seen and k[0] in per_file]
    for path, fn, kind, code in stale:
        print(f"note: listed as equivalent but did not survive this run: {path}: {fn}: {kind}: {code}")
    if a.floor > 0 and rate < a.floor:
        print(f"FAIL: kill rate {rate:.1f}% is below the floor of {a.floor:g}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
