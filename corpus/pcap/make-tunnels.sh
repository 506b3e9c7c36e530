#!/bin/sh
# Regenerates the tunnel captures in this folder with the real tools, inside
# a pair of network namespaces this script creates (and removes). Root only.
# Traffic never leaves the namespaces. Every run is bounded in time.
#   ptunnel-ng   ICMP tunnel (proxy in "bw-srv", client in "bw-cli") carrying an HTTP download
#   ping         ordinary ping, ping -s 1000 -p ff, ping -f -c 2000 (must stay quiet)
#   iodine       DNS tunnel (iodined in bw-srv, iodine in bw-cli) carrying a few pings
#   dns2tcp      DNS tunnel over TXT carrying an HTTP download
# Usage: corpus/pcap/make-tunnels.sh [OUT_DIR]   (default: this script's folder)
set -eu
OUT=${1:-$(dirname "$0")}
OUT=$(cd "$OUT" && pwd)
A=bw-cli B=bw-srv
CA=10.77.0.1 SB=10.77.0.2
TMP=$(mktemp -d)
cleanup() {
	for p in $(cat "$TMP"/pids 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	ip netns del $A 2>/dev/null || true
	ip netns del $B 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
ip netns del $A 2>/dev/null || true
ip netns del $B 2>/dev/null || true
ip netns add $A
ip netns add $B
ip link add bw0 netns $A type veth peer name bw1 netns $B
ip -n $A addr add $CA/24 dev bw0
ip -n $B addr add $SB/24 dev bw1
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set bw0 up
ip -n $B link set bw1 up
bg() { "$@" >>"$TMP/log" 2>&1 & echo $! >>"$TMP/pids"; }
capture() { # capture NAME SECONDS-MAX: starts tshark in the client namespace
	rm -f "$OUT/$1"
	: >"$TMP/cap.log"
	ip netns exec $A timeout "$2" tshark -q -i bw0 -w "$TMP/$1" >"$TMP/cap.log" 2>&1 &
	echo $! >"$TMP/cap"
	# Wait (at most 30 s) until tshark says it is capturing.
	for _ in $(seq 300); do
		grep -q "Capturing on" "$TMP/cap.log" && break
		sleep 0.1
	done
	grep -q "Capturing on" "$TMP/cap.log" || { echo "tshark did not start" >&2; exit 1; }
	sleep 0.5
}
finish() { # finish NAME: stops the capture, keeps it as pcap
	sleep 1
	kill "$(cat "$TMP/cap")" 2>/dev/null || true
	wait "$(cat "$TMP/cap")" 2>/dev/null || true
	tshark -r "$TMP/$1" -F pcap -w "$OUT/$1"
	ls -l "$OUT/$1"
}
# Something to download through the tunnels: 20 KB of random bytes.
mkdir -p "$TMP/www"
head -c 20000 /dev/urandom >"$TMP/www/blob"
web() { bg ip netns exec $B timeout 120 python3 -m http.server 8080 --bind 127.0.0.1 --directory "$TMP/www"; }
stop_all() { for p in $(cat "$TMP/pids"); do kill "$p" 2>/dev/null || true; done; : >"$TMP/pids"; sleep 1; }

# --- ptunnel-ng: proxy in B, client in A; six HTTP GETs 2 s apart through
# the tunnel (a session that lasts past the agent's 5 s echo sample).
web
capture icmp-ptunnel-ng.pcap 60
bg ip netns exec $B timeout 40 ptunnel-ng -v-1
sleep 1
bg ip netns exec $A timeout 30 ptunnel-ng -p$SB -l8000 -r127.0.0.1 -R8080 -v-1
sleep 2
for i in 1 2 3 4 5 6; do
	ip netns exec $A timeout 10 curl -s -o /dev/null -w "ptunnel-ng GET $i: %{size_download} bytes\n" http://127.0.0.1:8000/blob || true
	sleep 2
done
finish icmp-ptunnel-ng.pcap
stop_all

# --- benign pings: ordinary, large with a pattern fill, large with the
# default (counting) fill; then a flood on its own.
capture icmp-ping-benign.pcap 60
ip netns exec $A ping -c 5 -i 0.2 $SB >/dev/null
ip netns exec $A ping -c 5 -i 0.2 -s 1000 -p ff $SB >/dev/null
ip netns exec $A ping -c 5 -i 0.2 -s 1400 $SB >/dev/null
finish icmp-ping-benign.pcap
# ping -f -c 2000 checked by hand gives the same events; 800 keeps the file small.
capture icmp-ping-flood.pcap 60
ip netns exec $A timeout 20 ping -q -f -c 800 $SB >/dev/null
finish icmp-ping-flood.pcap

# --- iodine: iodined in B answers for tun.example; the client in A asks B
# directly (-r: DNS only, no raw UDP) and pings the far end of the tunnel.
capture dns-iodine.pcap 90
bg ip netns exec $B timeout 60 iodined -f -c -P shouwang-test 10.99.0.1 tun.example -l $SB
sleep 2
bg ip netns exec $A timeout 45 iodine -f -r -P shouwang-test $SB tun.example
sleep 8
ip netns exec $A ping -c 5 -i 0.5 10.99.0.1 || true
ip netns exec $A timeout 10 ping -c 3 -s 800 10.99.0.1 || true
finish dns-iodine.pcap
stop_all

# --- dns2tcp: dns2tcpd in B for t2.example, resource "http" = the web
# server; the client in A fetches the blob through it.
web
cat >"$TMP/dns2tcpd.conf" <<CONF
listen = $SB
port = 53
user = root
chroot = $TMP
domain = t2.example
resources = http:127.0.0.1:8080
CONF
capture dns-dns2tcp.pcap 90
bg ip netns exec $B timeout 60 dns2tcpd -F -f "$TMP/dns2tcpd.conf"
sleep 2
bg ip netns exec $A timeout 45 dns2tcpc -z t2.example -r http -l 8001 $SB
sleep 2
ip netns exec $A timeout 30 curl -s -o /dev/null -w 'dns2tcp: %{size_download} bytes\n' http://127.0.0.1:8001/blob || true
finish dns-dns2tcp.pcap
stop_all
