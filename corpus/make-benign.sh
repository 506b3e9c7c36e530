#!/usr/bin/env bash
# Regenerates corpus/pcap/benign-browsing.pcap: ordinary use of a client on
# a home network, captured on the client's link. Root only; everything runs
# in two network namespaces this script makes (and removes):
#   client  192.168.50.23   headless chromium, ssh, chronyd -Q, getent
#   net     192.168.50.1    the "router": dnsmasq (the resolver), and behind
#                           it fifteen "CDN" addresses serving one shop site
#                           over HTTPS (self-signed; port 80 redirects), an
#                           sshd and an NTP server (chronyd)
# The page pulls CSS, JS, fonts, images, an API call and an analytics beacon
# from 15 host names on 15 addresses: a browser opening ~30 connections to
# 15 hosts within 2 s, which is not a scan. The site is loaded three times
# (fresh profiles), with an ssh session and NTP and DNS use in between.
#
# Tools (Debian): chromium dnsmasq openssh-server chrony tshark python3
# openssl iproute2. Usage: corpus/make-benign.sh [OUT.pcap]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/pcap/benign-browsing.pcap}"
[ "$(id -u)" = 0 ] || { echo "make-benign.sh: needs root (network namespaces)" >&2; exit 1; }
for t in chromium dnsmasq /usr/sbin/sshd chronyd dumpcap python3 openssl ip; do
  command -v "$t" >/dev/null || { echo "make-benign.sh: $t missing" >&2; exit 1; }
done

C=swbc$$ N=swbn$$ CIF=swbc$$ NIF=swbn$$
work="$(mktemp -d /tmp/shouwang-benign.XXXXXX)"
pids=()
netns_etc_existed=$([ -d /etc/netns ] && echo 1 || echo 0)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$C" 2>/dev/null || true
  ip netns del "$N" 2>/dev/null || true
  rm -rf "/etc/netns/$C" "$work"
  [ "$netns_etc_existed" = 1 ] || rmdir /etc/netns 2>/dev/null || true
}
trap cleanup EXIT
inc() { ip netns exec "$C" "$@"; }
inn() { ip netns exec "$N" "$@"; }
bg_in() { # NS LOG CMD...: a daemon, bounded by timeout, killed on exit
  local ns=$1 log=$2; shift 2
  ip netns exec "$ns" timeout 300 "$@" >"$work/$log" 2>&1 &
  pids+=($!)
}
wait_for() { # what CMD...: up to 30 s
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "make-benign.sh: $what did not come up" >&2; tail -n 5 "$work"/*.log >&2; exit 1
}

# --- addresses: 15 CDN addresses in three documentation/benchmark ranges
# (none in rules/lists), the NTP and SSH servers beside them.
hosts=(www.shop.lab static1.shopcdn.lab static2.shopcdn.lab img1.imgcdn.lab
  img2.imgcdn.lab img3.imgcdn.lab img4.imgcdn.lab img5.imgcdn.lab
  fonts.fontcdn.lab api.shop.lab cdn.jsdelivr.lab analytics.stats.lab
  ads.adnet.lab video.shopcdn.lab reviews.widget.lab)
addrs=(198.51.100.10 198.51.100.11 198.51.100.12 198.51.100.13 198.51.100.14
  203.0.113.20 203.0.113.21 203.0.113.22 203.0.113.23 203.0.113.24
  198.18.7.30 198.18.7.31 198.18.7.32 198.18.7.33 198.18.7.34)
ntp=203.0.113.123 ssh_host=198.51.100.22

ip netns add "$C"; ip netns add "$N"
ip link add "$CIF" type veth peer name "$NIF"
ip link set "$CIF" netns "$C"; ip link set "$NIF" netns "$N"
ip -n "$C" addr add 192.168.50.23/24 dev "$CIF"
ip -n "$N" addr add 192.168.50.1/24 dev "$NIF"
for ns in "$C" "$N"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set "$CIF" up; ip -n "$N" link set "$NIF" up
ip -n "$C" route add default via 192.168.50.1
for a in "${addrs[@]}" "$ntp" "$ssh_host"; do ip -n "$N" addr add "$a/32" dev lo; done
mkdir -p "/etc/netns/$C"
echo "nameserver 192.168.50.1" >"/etc/netns/$C/resolv.conf"

# --- the site: one page per load, assets on the CDN hosts.
site="$work/site"
mkdir -p "$site"
for h in "${hosts[@]}"; do mkdir -p "$site/$h"; done
python3 - "$site" <<'PY'
import os, random, sys
site = sys.argv[1]
rnd = random.Random(17)
def put(host, path, data):
    p = os.path.join(site, host, path.lstrip("/"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
words = "fresh organic tea cup mug kettle green black oolong jasmine leaf gift box set sale new".split()
def text(n):
    return " ".join(rnd.choice(words) for _ in range(n))
css = "\n".join(f".c{i} {{ margin: {i % 7}px; color: #{rnd.randrange(16**6):06x}; }}" for i in range(120))
put("static1.shopcdn.lab", "/css/main.css", css)
put("static2.shopcdn.lab", "/css/theme.css", css[:2000])
js = "\n".join(f"function f{i}(x) {{ return x * {i} + {rnd.randrange(100)}; }}" for i in range(150))
put("static2.shopcdn.lab", "/js/app.js", js + """
window.addEventListener('load', function () {
  fetch('https://api.shop.lab/v1/cart').then(r => r.json()).then(function (c) {
    document.getElementById('cart').textContent = c.items + ' items';
  });
  navigator.sendBeacon('https://analytics.stats.lab/collect', JSON.stringify({ page: location.pathname }));
});
""")
put("cdn.jsdelivr.lab", "/npm/lib.min.js", js[:4000])
put("reviews.widget.lab", "/widget.js", js[:1500])
put("fonts.fontcdn.lab", "/s/sans.woff2", bytes(rnd.randrange(256) for _ in range(3000)))
put("api.shop.lab", "/v1/cart", '{"items": 2, "total": "17.80"}')
put("api.shop.lab", "/v1/recommend", '{"items": [' + ",".join(str(rnd.randrange(999)) for _ in range(20)) + "]}")
put("analytics.stats.lab", "/collect", "")
put("ads.adnet.lab", "/pixel.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
put("video.shopcdn.lab", "/v/intro-poster.jpg", bytes(rnd.randrange(256) for _ in range(4000)))
for n in range(1, 6):
    for k in range(4):
        put(f"img{n}.imgcdn.lab", f"/p/{n}{k}.jpg", b"\xff\xd8\xff\xe0" + bytes(rnd.randrange(256) for _ in range(1200 + 200 * k)))
for page in ["index.html", "tea.html", "cart.html"]:
    imgs = "".join(f'<img src="https://img{n}.imgcdn.lab/p/{n}{k}.jpg">' for n in range(1, 6) for k in range(4))
    put("www.shop.lab", page, f"""<!doctype html><html><head><title>Tea shop</title>
<link rel="stylesheet" href="https://static1.shopcdn.lab/css/main.css">
<link rel="stylesheet" href="https://static2.shopcdn.lab/css/theme.css">
<link rel="preload" as="font" crossorigin href="https://fonts.fontcdn.lab/s/sans.woff2">
<script src="https://cdn.jsdelivr.lab/npm/lib.min.js"></script>
<script src="https://static2.shopcdn.lab/js/app.js"></script>
<script async src="https://reviews.widget.lab/widget.js"></script>
</head><body><h1>{page}</h1><p id="cart"></p><p>{text(300)}</p>{imgs}
<img src="https://video.shopcdn.lab/v/intro-poster.jpg"><img src="https://ads.adnet.lab/pixel.gif">
<p>{text(200)}</p></body></html>""")
PY
cat >"$work/serve.py" <<'PY'
# HTTPS (HTTP/1.1, keep-alive) for every host name by the Host header,
# and HTTP on port 80 redirecting to it.
import http.server, os, ssl, sys, threading
site, cert, key = sys.argv[1:4]
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def translate_path(self, path):
        host = (self.headers.get("Host") or "").split(":")[0]
        return super().translate_path(path).replace(os.getcwd(), os.path.join(site, host), 1)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "max-age=300")
        super().end_headers()
    def log_message(self, *a): pass
class R(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(301)
        self.send_header("Location", "https://" + (self.headers.get("Host") or "") + self.path)
        self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
os.chdir(site)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(["http/1.1"])
tls = http.server.ThreadingHTTPServer(("0.0.0.0", 443), H)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
plain = http.server.ThreadingHTTPServer(("0.0.0.0", 80), R)
threading.Thread(target=plain.serve_forever, daemon=True).start()
print("serving", flush=True)
tls.serve_forever()
PY
san="$(printf 'DNS:%s,' "${hosts[@]}")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=www.shop.lab" -addext "subjectAltName=${san%,}" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
bg_in "$N" serve.log python3 "$work/serve.py" "$site" "$work/cert.pem" "$work/key.pem"
dns_args=()
for i in "${!hosts[@]}"; do dns_args+=("--address=/${hosts[$i]}/${addrs[$i]}"); done
bg_in "$N" dnsmasq.log dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
  --listen-address=192.168.50.1 --pid-file= --user=root \
  --host-record=ntp.home.lab,"$ntp" --host-record=files.home.lab,"$ssh_host" "${dns_args[@]}"
# sshd with a key for root (the client's ordinary session).
ssh-keygen -q -t ed25519 -N "" -f "$work/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
cat >"$work/sshd_config" <<EOF
ListenAddress $ssh_host
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $work/sshd.pid
EOF
mkdir -p /run/sshd
bg_in "$N" sshd.log /usr/sbin/sshd -D -e -f "$work/sshd_config"
# An NTP server that never touches the clock (-x).
cat >"$work/chrony-server.conf" <<EOF
allow all
local stratum 8
bindaddress $ntp
cmdport 0
pidfile $work/chronyd-server.pid
EOF
bg_in "$N" chronyd.log chronyd -x -d -f "$work/chrony-server.conf"
wait_for "the web server" grep -q serving "$work/serve.log"
wait_for "dnsmasq" inn sh -c "ss -Hlun | grep -q 192.168.50.1:53"
wait_for "sshd" inn sh -c "ss -Hltn | grep -q $ssh_host:22"
wait_for "chronyd" inn sh -c "ss -Hlun | grep -q $ntp:123"

# --- the capture: the client's link, classic pcap.
rm -f "$out"
tmp_pcap="$work/capture.pcap"
ip netns exec "$C" timeout 300 dumpcap -q -i "$CIF" -P -w "$tmp_pcap" >"$work/dumpcap.log" 2>&1 &
cap=$!
wait_for "dumpcap" grep -q "File:" "$work/dumpcap.log"
sleep 1

browse() { # PAGE: one load in a fresh profile (all new connections)
  local prof
  prof="$(mktemp -d "$work/profile.XXXXXX")"
  inc timeout 40 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --ignore-certificate-errors --user-data-dir="$prof" --virtual-time-budget=4000 \
    --dump-dom "$1" >"$work/dom.html" 2>"$work/chromium.log" || true
  grep -q '<h1>' "$work/dom.html" || { echo "make-benign.sh: $1 did not load" >&2; tail -5 "$work/chromium.log" >&2; exit 1; }
}
ssh_cmd() {
  inc ssh -q -i "$work/user_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes root@files.home.lab "$@"
}

inc chronyd -Q -f /dev/null "server ntp.home.lab iburst maxsamples 4" >"$work/ntp.log" 2>&1 || true
browse http://www.shop.lab/
sleep 3
inc getent hosts files.home.lab >/dev/null
ssh_cmd 'uname -a; ls -l /; df -h' >/dev/null
sleep 2
browse https://www.shop.lab/tea.html
sleep 4
ssh_cmd 'cat /etc/os-release; uptime' >/dev/null
sleep 3
browse https://www.shop.lab/cart.html
inc chronyd -Q -f /dev/null "server ntp.home.lab maxsamples 1" >>"$work/ntp.log" 2>&1 || true
sleep 2

kill -INT "$cap"; wait "$cap" || true
mv "$tmp_pcap" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)"
