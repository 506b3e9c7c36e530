#!/usr/bin/env python3
"""Builds a capture of >= N packets from the corpus for offline benchmarks.

    python3 bench/make-capture.py ../shared/corpus /tmp/corpus-1m.pcap 1000000

Every Ethernet capture in the corpus is normalised to pcap with editcap, then
the files are concatenated round after round into one microsecond pcap whose
timestamps only grow (each file keeps its internal timing, rounds follow each
other). The Linux-SLL capture is left out: libpcap (softflowd) cannot mix
link types in one file. Nothing here leaves the machine.
"""
import pathlib, struct, subprocess, sys, tempfile

src, out, want = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
files = sorted(p for p in src.rglob("*.pcap*") if "log4shell" not in p.name)
records = []  # per file: list of (rel_us, data, orig_len)
with tempfile.TemporaryDirectory() as tmp:
    for f in files:
        norm = pathlib.Path(tmp) / (f.name + ".pcap")
        subprocess.run(["editcap", "-F", "pcap", str(f), str(norm)], check=True)
        b = norm.read_bytes()
        magic = struct.unpack("<I", b[:4])[0]
        assert magic in (0xA1B2C3D4, 0xA1B23C4D), f
        nano = magic == 0xA1B23C4D
        assert struct.unpack("<I", b[20:24])[0] == 1, f"{f}: not Ethernet"
        off, recs, t0 = 24, [], None
        while off + 16 <= len(b):
            s, frac, incl, orig = struct.unpack("<IIII", b[off:off + 16])
            us = s * 1_000_000 + (frac // 1000 if nano else frac)
            t0 = us if t0 is None else t0
            recs.append((us - t0, b[off + 16:off + 16 + incl], orig))
            off += 16 + incl
        records.append(recs)
per_round = sum(len(r) for r in records)
rounds = -(-want // per_round)
base = 1_700_000_000 * 1_000_000
n = 0
with out.open("wb") as w:
    w.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    t = base
    for _ in range(rounds):
        for recs in records:
            for rel, data, orig in recs:
                ts = t + rel
                w.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), orig))
                w.write(data)
                n += 1
            t += recs[-1][0] + 1000 if recs else 0
print(f"{out}: {n} packets from {len(files)} captures x {rounds} rounds")
