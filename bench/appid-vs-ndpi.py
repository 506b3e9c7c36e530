#!/usr/bin/env python3
"""App-id agreement of shouwang-agent with nDPI's ndpiReader.

    python3 bench/appid-vs-ndpi.py [--agent target/release/shouwang-agent] FILE...

For each capture, runs `ndpiReader -d -q -i FILE -C out.csv` (-d: DPI only,
no guess from the port, which is what we compare against) and
`shouwang-agent pcap FILE --emit jsonl`, matches flows by protocol and the
unordered pair of endpoints, and prints, per protocol, how many flows each
side named and how often they agree where both named one. A flow counts as
"both classify" when neither side says unknown. nDPI names outside our set
count as `other:<name>` (a flow we call X and nDPI calls other:Y is a
disagreement). nDPI's MDNS and LLMNR are DNS messages on other ports, so
they map to dns; HTTP_Proxy / HTTP_Connect are HTTP; IMAPS / POP3S / SMTPS
(what nDPI 4.2 calls a clear-text session that offers STARTTLS) map to the
clear-text protocol. ndpiReader's CSV leaves out the flows it could not
name; those count as "only ours" when we named them.

Exit status 1 when overall agreement is below --min (default 95 %).
"""

import argparse
import collections
import csv
import json
import os
import subprocess
import sys
import tempfile

NDPI_MAP = {
    "SSH": "ssh",
    "HTTP": "http",
    "HTTP_Proxy": "http",
    "HTTP_Connect": "http",
    "TLS": "tls",
    "DNS": "dns",
    "MDNS": "dns",
    "LLMNR": "dns",
    "FTP_CONTROL": "ftp",
    "SMTP": "smtp",
    "POP3": "pop3",
    "IMAP": "imap",
    # nDPI 4.2 names a clear-text IMAP/POP3/SMTP session whose server
    # offers STARTTLS by the TLS variant (seen on Dovecot on port 143).
    "IMAPS": "imap",
    "POP3S": "pop3",
    "SMTPS": "smtp",
    "RDP": "rdp",
    "SMBv1": "smb",
    "SMBv23": "smb",
    "MySQL": "mysql",
    "PostgreSQL": "postgresql",
    "Redis": "redis",
    "Telnet": "telnet",
    "SNMP": "snmp",
    "NTP": "ntp",
    "Unknown": "unknown",
}


def key(proto, a, ap, b, bp):
    ends = sorted([(a, int(ap)), (b, int(bp))])
    return (int(proto), ends[0], ends[1])


def ndpi_flows(path):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ndpi.csv")
        subprocess.run(
            ["ndpiReader", "-d", "-q", "-i", path, "-C", out],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        flows = {}
        if not os.path.exists(out):
            return flows
        with open(out, newline="") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if not header:
                return flows
            header[0] = header[0].lstrip("#")
            col = {n: i for i, n in enumerate(header)}
            for r in rows:
                try:
                    proto = r[col["protocol"]]
                    k = key(proto, r[col["src_ip"]], r[col["src_port"]], r[col["dst_ip"]], r[col["dst_port"]])
                except (KeyError, IndexError, ValueError):
                    continue
                name = r[col["ndpi_proto"]]
                # `master.app` (TLS.Google, DNS.Microsoft, NetBIOS.SMBv23):
                # the first part of ours names it (SMB rides on NetBIOS).
                parts = name.split(".")
                ours = [NDPI_MAP[p] for p in parts if p in NDPI_MAP and NDPI_MAP[p] != "unknown"]
                flows[k] = ours[0] if ours else "other:" + parts[0]
        return flows


def our_flows(agent, path):
    out = subprocess.run(
        [agent, "pcap", path, "--emit", "jsonl"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    flows = {}
    for line in out.splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        body = e.get("flow") or (e if e.get("kind") == "flow" else None)
        if body is None or "src_port" not in body:
            continue
        k = key(body["proto"], body["src"], body["src_port"], body["dst"], body["dst_port"])
        app = body.get("app", "unknown")
        # Active-timeout slices of one flow carry the same app; keep a
        # named one over unknown.
        if flows.get(k, "unknown") == "unknown":
            flows[k] = app
    return flows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default="target/release/shouwang-agent")
    ap.add_argument("--min", type=float, default=95.0)
    ap.add_argument("--show", action="store_true", help="list disagreements")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    # per protocol label (ours or nDPI's): [ndpi named, we named, both, agree]
    table = collections.defaultdict(lambda: [0, 0, 0, 0])
    disagreements = []
    matched = only_ndpi = only_ours = 0
    for path in args.files:
        nd = ndpi_flows(path)
        us = our_flows(args.agent, path)
        for k in set(nd) | set(us):
            if k not in us:
                only_ndpi += 1
                continue
            if k not in nd:
                # ndpiReader's CSV omits the flows it could not name.
                only_ours += 1
            else:
                matched += 1
            n, o = nd.get(k, "unknown"), us[k]
            if n != "unknown":
                table[n][0] += 1
            if o != "unknown":
                table[o][1] += 1
            if n != "unknown" and o != "unknown":
                table[n][2] += 1
                if n != o:
                    table[o][2] += 1
                if n == o:
                    table[n][3] += 1
                else:
                    disagreements.append((os.path.basename(path), k, o, n))

    print(
        f"flows: {matched} in both outputs, {only_ours} only in ours (nDPI: unknown), "
        f"{only_ndpi} only in nDPI's"
    )
    print()
    print("| protocol | nDPI names | we name | both name | agree | agreement |")
    print("|---|---:|---:|---:|---:|---:|")
    for p in sorted(table, key=lambda p: (p.startswith("other:"), p)):
        n, o, b, a = table[p]
        pct = f"{100.0 * a / b:.1f} %" if b else "—"
        print(f"| {p} | {n} | {o} | {b} | {a} | {pct} |")
    # Overall: each flow both name counted once.
    tot_both = sum(v[3] for v in table.values()) + len(disagreements)
    tot_agree = sum(v[3] for v in table.values())
    pct = 100.0 * tot_agree / tot_both if tot_both else 100.0
    print(f"| **all** | | | {tot_both} | {tot_agree} | **{pct:.1f} %** |")
    if args.show or disagreements:
        print()
        for f, k, o, n in disagreements[:50]:
            print(f"disagree {f}: {k} ours={o} ndpi={n}")
    return 0 if pct >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
