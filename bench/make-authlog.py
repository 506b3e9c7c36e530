#!/usr/bin/env python3
"""Writes a synthetic but realistic Debian auth.log for the auth-log benchmark.

    python3 bench/make-authlog.py /tmp/auth-1m.log 1000000

Syslog lines as rsyslog writes them: sshd password guessing from 500
addresses (failed passwords, invalid users, preauth disconnects), accepted
public-key logins with their PAM session lines, sudo and CRON noise.
Deterministic (seeded), so runs compare.
"""
import random
import sys

out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
users = ["root", "admin", "oracle", "test", "ubuntu", "git", "postgres", "user", "ftp", "guest"]
with open(out, "w") as f:
    for i in range(n):
        sec = i // 50
        stamp = "Nov %2d %02d:%02d:%02d" % (1 + sec // 86400 % 28, sec // 3600 % 24, sec // 60 % 60, sec % 60)
        pid = 1000 + rnd.randrange(30000)
        ip = "203.0.%d.%d" % (rnd.randrange(2), rnd.randrange(250))
        port = rnd.randrange(1024, 65535)
        u = rnd.choice(users)
        # (cumulative probability, line) pairs, the mix of a busy sshd host.
        mix = (
            (0.35, lambda: f"sshd[{pid}]: Failed password for {u} from {ip} port {port} ssh2"),
            (0.50, lambda: f"sshd[{pid}]: Failed password for invalid user {u}{rnd.randrange(99)} from {ip} port {port} ssh2"),
            (0.60, lambda: f"sshd[{pid}]: Invalid user {u}{rnd.randrange(99)} from {ip} port {port}"),
            (0.70, lambda: f"sshd[{pid}]: Connection closed by authenticating user {u} {ip} port {port} [preauth]"),
            (0.75, lambda: f"sshd[{pid}]: Disconnected from invalid user {u} {ip} port {port} [preauth]"),
            (0.80, lambda: f"sshd[{pid}]: Accepted publickey for ops from 10.0.0.{rnd.randrange(250)} port {port} ssh2: ED25519 SHA256:3xQz8k2Y1p0aVbQm4mC9g1o2Wv3Hf5JtK7LrN8sTqPU"),
            (0.85, lambda: f"sshd[{pid}]: pam_unix(sshd:session): session opened for user ops(uid=1000) by (uid=0)"),
            (0.90, lambda: f"CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
            (0.95, lambda: f"sudo[{pid}]:      ops : TTY=pts/0 ; PWD=/home/ops ; USER=root ; COMMAND=/usr/bin/systemctl status nginx"),
            (1.01, lambda: f"sshd[{pid}]: Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
        )
        r = rnd.random()
        msg = next(line for p, line in mix if r < p)()
        f.write(f"{stamp} web-01 {msg}\n")
