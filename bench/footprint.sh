#!/usr/bin/env bash
# Agent idle footprint next to prometheus-node-exporter, measured in one run.
#
#   bench/footprint.sh [SECONDS]      (default 300)
#
# Starts a release collector on 127.0.0.1:19740, a release agent sampling
# every 10 s (the default), and node_exporter on 127.0.0.1:19100 scraped
# every 10 s with curl (node_exporter does its work when scraped, so an
# unscraped one would be idle for free). Every 10 s it reads VmRSS of both,
# and CPU time (utime+stime from /proc/PID/stat) at start and end.
# Needs: cargo build --release; apt-get install prometheus-node-exporter curl.
set -euo pipefail
secs=${1:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release
ne=$(command -v prometheus-node-exporter || command -v node_exporter || true)
[ -n "$ne" ] || { echo "install prometheus-node-exporter first" >&2; exit 1; }
[ -x "$bin/shouwang-agent" ] || { echo "run cargo build --release first" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

printf 'listen = "127.0.0.1:19740"\ndata-dir = "%s/data"\n' "$work" > "$work/collector.toml"
"$bin/shouwang-collector" --config "$work/collector.toml" agents add bench > "$work/token" 2>/dev/null
"$bin/shouwang-collector" --config "$work/collector.toml" serve 2> "$work/collector.log" &
pids+=($!)
cat > "$work/agent.toml" <<CFG
name = "bench"
collector = "http://127.0.0.1:19740"
token-file = "$work/token"
state-dir = "$work/state"
CFG
sleep 1
"$bin/shouwang-agent" --config "$work/agent.toml" 2> "$work/agent.log" &
agent=$!; pids+=($agent)
"$ne" --web.listen-address=127.0.0.1:19100 2> "$work/ne.log" &
ne_pid=$!; pids+=($ne_pid)
sleep 2

hz=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
a0=$(cpu $agent); n0=$(cpu $ne_pid); t0=$(date +%s.%N)
a_sum=0; n_sum=0; a_max=0; n_max=0; k=0
end=$(( $(date +%s) + secs ))
while [ "$(date +%s)" -lt "$end" ]; do
  curl -s -o /dev/null http://127.0.0.1:19100/metrics
  a=$(rss $agent); n=$(rss $ne_pid)
  a_sum=$((a_sum + a)); n_sum=$((n_sum + n)); k=$((k + 1))
  [ "$a" -gt "$a_max" ] && a_max=$a
  [ "$n" -gt "$n_max" ] && n_max=$n
  sleep 10
done
a1=$(cpu $agent); n1=$(cpu $ne_pid); t1=$(date +%s.%N)
curl -s http://127.0.0.1:19740/v1/agents | grep -q '"name":"bench"' || { echo "agent never reported" >&2; exit 1; }
awk -v a0=$a0 -v a1=$a1 -v n0=$n0 -v n1=$n1 -v t0=$t0 -v t1=$t1 -v hz=$hz \
    -v as=$a_sum -v ns=$n_sum -v k=$k -v am=$a_max -v nm=$n_max -v ver="$("$ne" --version 2>&1 | head -1)" 'BEGIN {
  el = t1 - t0
  ac = 100 * (a1 - a0) / hz / el; nc = 100 * (n1 - n0) / hz / el
  printf "window %.0f s, %d RSS samples; node_exporter: %s\n", el, k, ver
  printf "%-22s %12s %12s %10s\n", "process", "RSS avg KiB", "RSS max KiB", "CPU %"
  printf "%-22s %12d %12d %10.3f\n", "shouwang-agent", as / k, am, ac
  printf "%-22s %12d %12d %10.3f\n", "node_exporter", ns / k, nm, nc
  printf "ratio agent/node_exporter: RSS %.2f, CPU %.2f\n", (as / k) / (ns / k), (nc > 0 ? ac / nc : 0)
}'
