#!/usr/bin/env bash
# Runs one fuzz target (or all) for SECONDS each with libFuzzer via cargo
# fuzz, on the stable toolchain (RUSTC_BOOTSTRAP=1 enables the sanitizer
# flags cargo fuzz passes).
#
#   fuzz/run.sh [TARGET|all] [SECONDS]     e.g. fuzz/run.sh all 600
#
# The corpus grows in fuzz/corpus/TARGET (not committed), seeded from
# fuzz/seeds/TARGET, the shipped rules (rules_config) and the first 64 KiB
# of every capture in ../shared/corpus (pcap, when present). Crashes land
# in fuzz/artifacts/TARGET; the script exits non-zero on any.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
what="${1:-all}"
secs="${2:-60}"
targets=(packet pcap ingest rules_config html)
[[ "$what" == all ]] || targets=("$what")
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz missing (cargo install cargo-fuzz --locked)" >&2; exit 2; }
cargo fuzz build -O
status=0
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  cp -n seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  extra=()
  case "$t" in
    rules_config)
      extra+=("$here/../rules/network" "$here/../rules/host");;
    pcap)
      shared="${SHOUWANG_CORPUS:-$here/../../shared/corpus}"
      if [[ -d "$shared" ]]; then
        tmp="$(mktemp -d)"
        find "$shared" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | head -50 | while read -r f; do
          head -c 65536 "$f" > "$tmp/$(basename "$f")"
        done
        extra+=("$tmp")
      fi;;
  esac
  echo "== fuzz $t for ${secs}s"
  log="artifacts/$t/last-run.log"
  if cargo fuzz run -O "$t" "$corpus" "${extra[@]}" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -oE 'cov: [0-9]+' || true)
    echo "   ok: ${execs:-?} executions (${rate:-?}/s), ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
  else
    status=1
    echo "   FAILED: see $here/$log"
    tail -40 "$log"
  fi
done
exit $status
