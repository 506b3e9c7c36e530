#!/usr/bin/env python3
"""Generates a web-root-like tree for the baseline benchmark.

make-tree.py DIR [FILES]  (default 100000 files)

Sizes are log-uniform between 64 B and 64 KiB (pages, styles, scripts,
small images), plus one file in 500 between 1 and 4 MiB (documents,
large images): about 1.4 GB for 100 000 files. Deterministic (seed 7).
Files sit 100 to a directory, two levels deep, with web extensions.
"""
import math
import os
import random
import sys

root = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
rng = random.Random(7)
exts = ["html", "html", "html", "css", "js", "png", "jpg", "pdf", "txt", "php"]
chunk = bytes(rng.getrandbits(8) for _ in range(1 << 20))
total = 0
for i in range(count):
    d = os.path.join(root, f"s{i // 10000:02d}", f"d{(i // 100) % 100:02d}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    if i % 500 == 499:
        size = rng.randint(1 << 20, 4 << 20)
    else:
        size = int(math.exp(rng.uniform(math.log(64), math.log(64 * 1024))))
    off = rng.randrange(0, len(chunk))
    data = (chunk[off:] + chunk[:off]) * (size // len(chunk) + 1)
    with open(os.path.join(d, f"f{i}.{exts[i % len(exts)]}"), "wb") as f:
        f.write(data[:size])
    total += size
print(f"{count} files, {total} bytes under {root}")
