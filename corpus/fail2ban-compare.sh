#!/bin/sh
# Prints a Markdown table: failures per file by `shouwang-agent log` and
# matches by fail2ban-regex on the same file (stock filters: sshd in mode
# aggressive for sshd logs; vsftpd, proftpd and pam-generic for the
# others), each with its failures per source.
#   sh corpus/fail2ban-compare.sh target/release/shouwang-agent
set -eu
agent=$(realpath "${1:-target/debug/shouwang-agent}")
cd "$(dirname "$0")/logs"
per_source_ours() {
  python3 -c '
import sys, json, collections
c = collections.Counter()
for l in sys.stdin:
    e = json.loads(l)
    if e["outcome"] == "failure":
        c[e.get("source_addr") or e.get("source_host") or "-"] += 1
print(sum(c.values()), " ".join(f"{k}={v}" for k, v in sorted(c.items())) or "-")'
}
per_source_f2b() {
  python3 -c '
import sys, collections, ast
c = collections.Counter()
for l in sys.stdin:
    l = l.strip().rstrip(",")
    if not l.startswith("[\x27"): continue
    c[l.split("\x27")[1]] += 1
print(sum(c.values()), " ".join(f"{k}={v}" for k, v in sorted(c.items())) or "-")'
}
echo "| file | fail2ban filter | ours | fail2ban | ours per source | fail2ban per source |"
echo "|---|---|---:|---:|---|---|"
for f in generated/*.log handwritten/*.log; do
  case $f in
    *vsftpd*) filt=vsftpd ;;
    *proftpd*) filt=proftpd ;;
    *su.*|*sudo.*) filt=pam-generic ;;
    *) filt='sshd[mode=aggressive]' ;;
  esac
  ours=$("$agent" log --now 2026-12-03T18:00:00+08:00 "$f" 2>/dev/null | per_source_ours)
  f2b=$(fail2ban-regex -o row "$f" "$filt" 2>/dev/null | per_source_f2b)
  echo "| $f | \`$filt\` | ${ours%% *} | ${f2b%% *} | ${ours#* } | ${f2b#* } |"
done
