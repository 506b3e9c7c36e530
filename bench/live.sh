#!/usr/bin/env bash
# Live capture: the highest tcpreplay rate on a veth with <= 0.1% loss,
# shouwang-agent vs tcpdump -w /dev/null, in one run. Root only.
#
#   bash bench/live.sh [PCAP]        (default /tmp/c100k.pcap; see BENCHMARKS.md)
#
# Creates two network namespaces joined by a veth pair; tcpreplay sends the
# capture from one end, the capturer reads the other. Loss = 1 - frames
# captured / packets sent. Rates tried from --topspeed down; every run is
# bounded by the capture's size. Nothing leaves the namespaces.
set -euo pipefail
pcap=${1:-/tmp/c100k.pcap}
root=$(cd "$(dirname "$0")/.." && pwd)
agent=$root/target/release/shouwang-agent
id=$$; A=swba$id; V=swbv$id; ai=ba$id; vi=bv$id
work=$(mktemp -d)
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$V" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$A"; ip netns add "$V"
ip link add "$ai" type veth peer name "$vi"
ip link set "$ai" netns "$A"; ip link set "$vi" netns "$V"
for ns in "$A" "$V"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ip -n "$A" link set "$ai" up; ip -n "$V" link set "$vi" up

wait_for() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "capturer did not start: $(cat "$1")" >&2; return 1; }

# trial TOOL RATEARG -> prints "sent captured pps"
trial() {
  local tool=$1 rate=$2 log=$work/cap.log out=$work/replay.log pid
  : > "$log"
  if [ "$tool" != tcpdump ]; then
    ip netns exec "$V" "$agent" capture "$vi" --emit none --backend "${tool#agent-}" 2> "$log" & pid=$!
    wait_for "$log" "capture opened"
  else
    ip netns exec "$V" tcpdump -i "$vi" -n -B 8192 -w /dev/null 2> "$log" & pid=$!
    wait_for "$log" "listening on"
  fi
  ip netns exec "$A" tcpreplay -i "$ai" $rate "$pcap" > "$out" 2>&1
  sleep 0.5
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  local sent pps captured
  sent=$(awk '/Actual:/ {print $2}' "$out")
  pps=$(grep -o '[0-9.]* pps' "$out" | head -1 | cut -d' ' -f1)
  if [ "$tool" != tcpdump ]; then
    captured=$(grep -o '[0-9]* frames' "$log" | tail -1 | cut -d' ' -f1)
  else
    captured=$(awk '/packets captured/ {print $1}' "$log")
  fi
  echo "$sent $captured $pps"
}

printf "%-18s %-16s %10s %10s %12s %9s\n" tool rate sent captured "achieved pps" "loss %"
for tool in ${TOOLS:-tcpdump agent-tpacket-v3 agent-pnet}; do
  best=""
  for rate in --topspeed --pps=1000000 --pps=500000 --pps=250000 --pps=125000 --pps=64000 --pps=32000 --pps=16000 --pps=8000; do
    read -r sent captured pps < <(trial "$tool" "$rate")
    loss=$(awk -v s="$sent" -v c="$captured" 'BEGIN { l = (s > 0) ? 100 * (s - c) / s : 100; if (l < 0) l = 0; printf "%.3f", l }')
    printf "%-18s %-16s %10s %10s %12s %9s\n" "$tool" "$rate" "$sent" "$captured" "$pps" "$loss"
    if awk -v l="$loss" 'BEGIN { exit !(l <= 0.1) }'; then best="$pps"; break; fi
  done
  echo "$tool: highest rate with <= 0.1% loss: ${best:-none found} pps"
done
