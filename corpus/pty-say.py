#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and answers its password prompts.

    pty-say.py PASSWORD[,PASSWORD...] -- COMMAND ARGS...

Each time the command prints something whose last line holds "assword" and ends in ":" (su, sudo, ssh)
the next password of the list is typed; after the list runs out the
terminal is closed. The whole run is bounded to 60 s. Used by
corpus/make-logs.sh to make su, sudo and ssh fail the way a person at a
keyboard does (they refuse passwords from a pipe).
"""
import os
import pty
import select
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    answers = sys.argv[1].split(",")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[3], sys.argv[3:])
    deadline = time.monotonic() + 60
    seen = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1.0)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        last = seen.rstrip().rsplit(b"\n", 1)[-1]
        if b"assword" in last and last.endswith(b":"):
            seen = b""
            if not answers:
                break
            os.write(fd, answers.pop(0).encode() + b"\n")
    try:
        os.close(fd)
    except OSError:
        pass
    for _ in range(50):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
