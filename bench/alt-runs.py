#!/usr/bin/env python3
"""Alternated runs of several agent builds on one capture, for noisy machines.

    python3 bench/alt-runs.py ROUNDS CAPTURE BUILD [BUILD ...]

Each round runs `BUILD pcap CAPTURE --emit none` once per build, in order,
and in reverse order every other round, so that slow spells of a shared
host fall on every build alike. Prints per build the median and minimum
wall time and the median over rounds of its ratio to the first build's
time in the same round (the figure BENCHMARKS.md quotes as "ratio").
"""

import statistics
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or not sys.argv[1].isdigit():
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rounds, capture, builds = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    times: dict[str, list[float]] = {b: [] for b in builds}
    for i in range(rounds):
        for b in builds if i % 2 == 0 else builds[::-1]:
            start = time.perf_counter()
            done = subprocess.run(
                [b, "pcap", capture, "--emit", "none"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            took = time.perf_counter() - start
            if done.returncode != 0:
                sys.stderr.write(done.stderr.decode(errors="replace"))
                print(f"{b}: exit {done.returncode}", file=sys.stderr)
                return 1
            times[b].append(took)
        print(f"round {i + 1}/{rounds}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    base = times[builds[0]]
    for b in builds:
        ratio = statistics.median(x / y for x, y in zip(times[b], base))
        print(
            f"{b}: median {statistics.median(times[b]) * 1000:.0f} ms, "
            f"min {min(times[b]) * 1000:.0f} ms, ratio {ratio:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
