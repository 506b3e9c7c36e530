#!/usr/bin/env python3
"""Our auth-log reading side by side with fail2ban-regex, per file.

    python3 corpus/fail2ban-compare.py target/debug/shouwang-agent [--check]

For each file in corpus/logs/{generated,handwritten} it runs

    shouwang-agent log --now T FILE            (attempts: failure events)
    shouwang-agent log --explain --now T FILE  (what each line says)
    fail2ban-regex -o matches FILE FILTER      (FILTER: sshd in mode
        aggressive for sshd logs; vsftpd, proftpd, pam-generic otherwise)

and prints a Markdown table. fail2ban counts matched lines, several per
attempt where a daemon writes several (`Failed password` and the
`Disconnected from authenticating user … [preauth]` that ends the same
connection); we count attempts per session, and `--explain` shows the
lines we read as failure evidence. A line fail2ban matches that we do not
read as failure evidence is listed under the table.

--check exits 1 unless, on every file: every line fail2ban matched is one
we read as failure evidence; we read at least as many failure-evidence
lines as fail2ban matched; and every source fail2ban names is a source of
our attempts (unless we name some attempts of the file by the host name
sshd logged, which fail2ban files under the address it joined by pid).
"""
import ast
import collections
import json
import os
import pathlib
import subprocess
import sys

NOW = "2026-12-03T18:00:00+08:00"


def filter_for(name: str) -> str:
    if "vsftpd" in name:
        return "vsftpd"
    if "proftpd" in name:
        return "proftpd"
    if name.startswith(("su.", "sudo.")):
        return "pam-generic"
    return "sshd[mode=aggressive]"


def ours(agent: str, path: pathlib.Path):
    out = subprocess.run(
        [agent, "log", "--now", NOW, str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    per = collections.Counter()
    for line in out.splitlines():
        e = json.loads(line)
        if e["outcome"] == "failure":
            per[e.get("source_addr") or e.get("source_host") or "-"] += 1
    return per


def explained(agent: str, path: pathlib.Path):
    out = subprocess.run(
        [agent, "log", "--explain", "--now", NOW, str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    evidence = collections.Counter()
    for line in out.splitlines():
        e = json.loads(line)
        if e["evidence"]:
            evidence[e["text"]] += 1
    return evidence


def fail2ban(path: pathlib.Path, filt: str):
    """(failures per source, matched lines as a multiset)."""
    out = subprocess.run(
        ["fail2ban-regex", "-o", "matches", str(path), filt],
        capture_output=True, text=True,
    ).stdout
    per, lines = collections.Counter(), collections.Counter()
    ids = subprocess.run(
        ["fail2ban-regex", "-o", "id", str(path), filt],
        capture_output=True, text=True,
    ).stdout.split()
    rows = [r for r in out.splitlines() if r.startswith("[(")]
    for i, row in enumerate(rows):
        parts = ast.literal_eval(row)
        # The matched line is the last; earlier ones are the lines of the
        # same pid fail2ban joined to it.
        _, stamp, rest = parts[-1]
        lines[stamp + rest] += 1
        per[ids[i] if i < len(ids) else "?"] += 1
    return per, lines


def fmt(c: collections.Counter) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(c.items())) or "-"


def main() -> int:
    agent = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/shouwang-agent")
    check = "--check" in sys.argv
    root = pathlib.Path(__file__).resolve().parent / "logs"
    files = sorted((root / "generated").glob("*.log")) + sorted((root / "handwritten").glob("*.log"))
    print("| file | fail2ban filter | fail2ban failures (lines) | of them we read as failure evidence "
          "| our failure-evidence lines | our attempts | our attempts per source | fail2ban per source |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    problems, unread = [], []
    for f in files:
        rel = f.relative_to(root)
        filt = filter_for(f.name)
        f2b_per, f2b_lines = fail2ban(f, filt)
        ev = explained(agent, f)
        per = ours(agent, f)
        covered = sum(min(n, ev[text]) for text, n in f2b_lines.items())
        for text, n in f2b_lines.items():
            if ev[text] < n:
                unread.append(f"{rel}: {text}")
        total = sum(f2b_per.values())
        print(f"| {rel} | `{filt}` | {total} | {covered} | {sum(ev.values())} | {sum(per.values())} "
              f"| {fmt(per)} | {fmt(f2b_per)} |")
        if covered < total:
            problems.append(f"{rel}: {total - covered} line(s) fail2ban matched are not failure evidence to us")
        if sum(ev.values()) < total:
            problems.append(f"{rel}: {sum(ev.values())} failure-evidence lines < fail2ban's {total}")
        for src in f2b_per:
            # fail2ban files a resolved name's lines under the address
            # (it joins the lines of a pid): compare on the file's total
            # when we name the source by host.
            if src not in per and any(not k[0].isdigit() and ":" not in k for k in per):
                continue
            if per[src] == 0:
                problems.append(f"{rel}: fail2ban names {src}, we do not")
    if unread:
        print()
        print("Lines fail2ban matched that we do not read as failure evidence:")
        for u in unread:
            print(f"- {u}")
    for p in problems:
        print(f"fail2ban-compare: {p}", file=sys.stderr)
    return 1 if check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
