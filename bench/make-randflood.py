#!/usr/bin/env python3
"""Writes a capture of N TCP SYNs from random spoofed sources to one victim.

    python3 bench/make-randflood.py /tmp/randflood.pcap 1000000

The worst case for per-source state: no source repeats (unlike
make-capture.py, which repeats the corpus round after round, so its
flood's sources come back). Packets are 2 us apart (500 000/s), to
10.10.10.10:80 from a random address and port; seeded, so every run
writes the same file. Nothing here leaves the machine.
"""
import random, struct, sys

out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
with open(out, "wb") as w:
    w.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    t = 1_700_000_000 * 1_000_000
    for i in range(n):
        src = struct.pack("!I", rng.getrandbits(32))
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0, 64, 6, 0, src, bytes([10, 10, 10, 10]))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        tcp = struct.pack("!HHIIBBHHH", rng.getrandbits(16) | 1024, 80, rng.getrandbits(32), 0, 0x50, 0x02, 64240, 0, 0)
        d = eth + ip + tcp
        t += 2
        w.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(d), len(d)))
        w.write(d)
print(f"{out}: {n} SYNs from random sources")
