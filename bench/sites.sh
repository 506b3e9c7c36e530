#!/usr/bin/env bash
# CPU per site check: shouwang-agent against prometheus-blackbox-exporter,
# both probing the same PAGES pages of a local HTTPS server once a minute
# for MINUTES minutes, one after the other in one session.
#
#   bench/sites.sh [PAGES=1000] [MINUTES=3]
#
# Needs release builds (cargo build --release) and the Debian package
# prometheus-blackbox-exporter. Everything stays on 127.0.0.1; every loop
# stops after MINUTES. CPU is utime+stime of the prober process from
# /proc/PID/stat, counted from the end of the first minute (connections
# and page baselines warm) to the end.
set -euo pipefail
PAGES=${1:-1000}
MINUTES=${2:-3}
cd "$(dirname "$0")/.."
R=$PWD/target/release
W=/tmp/site-bench
rm -rf "$W"
mkdir -p "$W"
HZ=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$R/site-bench-server" "$W" "$PAGES" 1 >"$W/server.log" 2>&1 &
SRV=$!
trap 'kill $SRV ${COL:-} ${AG:-} ${BB:-} ${DRV:-} 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$W/addr" ] && break; sleep 0.1; done
ADDR=$(cat "$W/addr")
PORT=${ADDR##*:}
echo "server: $(cat "$W/server.log")"

# --- shouwang-agent -------------------------------------------------------
cat >"$W/collector.toml" <<TOML
listen = "127.0.0.1:0"
data-dir = "$W/data"
[store]
event-kinds = ["heartbeat"]
TOML
TOKEN=$("$R/shouwang-collector" --config "$W/collector.toml" agents add bench)
"$R/shouwang-collector" --config "$W/collector.toml" serve >"$W/collector.log" 2>&1 &
COL=$!
for _ in $(seq 100); do grep -q 'listening on' "$W/collector.log" && break; sleep 0.1; done
CURL=$(grep -o 'listening on http://[0-9.:]*' "$W/collector.log" | head -1 | sed 's/listening on //')
{
  echo "name = \"bench\""
  echo "collector = \"$CURL\""
  echo "token = \"$TOKEN\""
  echo "state-dir = \"$W/agent-state\""
  echo "[host]"
  echo "enabled = false"
  echo "auth-log = \"off\""
  for i in $(seq 0 $((PAGES - 1))); do
    echo "[[integrity.sites]]"
    echo "url = \"https://portal.gov.test:$PORT/p/$i.html\""
    echo "connect-to = \"$ADDR\""
    echo "ca-file = \"$W/ca.pem\""
    echo "allowed-domains = [\"portal.gov.test\", \"gov.cn\"]"
  done
} >"$W/agent.toml"
RUST_LOG=warn "$R/shouwang-agent" --config "$W/agent.toml" >"$W/agent.log" 2>&1 &
AG=$!
sleep 60
A0=$(cpu $AG)
REQ0=$(curl -s "$CURL/metrics" | awk '/^shouwang_ingest_events_total\{kind="site_check"\}/ {print $2}')
sleep $(( (MINUTES - 1) * 60 ))
A1=$(cpu $AG)
REQ1=$(curl -s "$CURL/metrics" | awk '/^shouwang_ingest_events_total\{kind="site_check"\}/ {print $2}')
RSS_A=$(awk '/VmHWM/ {print $2}' /proc/$AG/status)
kill $AG; wait $AG 2>/dev/null || true
AG=
CHECKS_A=$(( ${REQ1%.*} - ${REQ0%.*} ))
echo "shouwang-agent: $CHECKS_A checks, $(( A1 - A0 )) ticks CPU, peak RSS $RSS_A KiB"

# --- prometheus-blackbox-exporter -----------------------------------------
cat >"$W/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 15s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: $W/ca.pem
        server_name: portal.gov.test
YML
prometheus-blackbox-exporter --config.file="$W/blackbox.yml" --web.listen-address=127.0.0.1:19115 >"$W/blackbox.log" 2>&1 &
BB=$!
sleep 1
# The driver plays Prometheus: every page once a minute, spread evenly.
python3 - "$PAGES" "$MINUTES" "$PORT" >"$W/driver.log" 2>&1 <<'PY' &
import sys, time, urllib.request, concurrent.futures as cf
pages, minutes, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
gap = 60.0 / pages
def probe(i):
    url = (f"http://127.0.0.1:19115/probe?module=http_2xx&target="
           f"https://127.0.0.1:{port}/p/{i}.html")
    with urllib.request.urlopen(url, timeout=20) as r:
        body = r.read().decode()
    return "probe_success 1" in body
ok = n = 0
start = time.time()
with cf.ThreadPoolExecutor(64) as ex:
    futs = []
    for k in range(pages * minutes):
        due = start + k * gap
        d = due - time.time()
        if d > 0:
            time.sleep(d)
        futs.append(ex.submit(probe, k % pages))
    for f in futs:
        n += 1
        ok += 1 if f.result() else 0
print(f"{n} probes, {ok} succeeded")
PY
DRV=$!
sleep 60
B0=$(cpu $BB)
sleep $(( (MINUTES - 1) * 60 ))
B1=$(cpu $BB)
RSS_B=$(awk '/VmHWM/ {print $2}' /proc/$BB/status)
wait $DRV || true
DRV=
CHECKS_B=$(( PAGES * (MINUTES - 1) ))
echo "blackbox: $(cat "$W/driver.log"); $CHECKS_B probes in the measured window, $(( B1 - B0 )) ticks CPU, peak RSS $RSS_B KiB"
python3 - <<PY
hz = $HZ
a = ($A1 - $A0) / hz * 1000 / max($CHECKS_A, 1)
b = ($B1 - $B0) / hz * 1000 / max($CHECKS_B, 1)
print(f"CPU per check: shouwang-agent {a:.3f} ms ({$CHECKS_A} checks, each a browser and a crawler fetch, page analysis), "
      f"blackbox-exporter {b:.3f} ms ({$CHECKS_B} probes, one fetch); ratio {a / b:.2f}")
PY
