#!/usr/bin/env bash
# The cost of `echo-probe monitor` (issue 11): one monitor with the default settings
# (--persistent 2, --persistent-interval 100ms, --interval 1s) probing 64 addresses,
# 127.0.0.2 ... 127.0.0.65, all served by one echod. Everything runs in a private network
# namespace (unshare --net) that has only its own loopback, so echod can listen on
# 0.0.0.0 and no packet can leave the machine.
#
# Reports CPU % of one core (utime + stime from /proc/PID/stat over the measured window,
# after a warm-up) and RSS, plus RSS samples across the run for memory flatness. The
# monitor is also scraped once per SCRAPE_EVERY seconds, as Prometheus would.
#
#   bench/monitor_cost.sh [BIN_DIR]   env: DURATION (s, default 60), WARMUP (s, default 10),
#                                          SCRAPE_EVERY (s, default 15), ADDRESSES (64)
# Prints one JSON object on stdout (also written to bench/results/monitor_cost.json).
set -euo pipefail
BIN_DIR="${1:-build/bin}"
DURATION="${DURATION:-60}"
WARMUP="${WARMUP:-10}"
SCRAPE_EVERY="${SCRAPE_EVERY:-15}"
ADDRESSES="${ADDRESSES:-64}"
[ -x "$BIN_DIR/echod" ] && [ -x "$BIN_DIR/echo-probe" ] || {
  echo "monitor_cost.sh: build echod and echo-probe first ($BIN_DIR)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "monitor_cost.sh: needs root (unshare --net)" >&2; exit 2; }

if [ "${MONITOR_COST_INSIDE:-}" != 1 ]; then
  exec unshare --net env MONITOR_COST_INSIDE=1 bash "$0" "$@"
fi

# --- inside the private network namespace ------------------------------------------------
ip link set lo up
TMP="$(mktemp -d "${TMPDIR:-/tmp}/monitor-cost.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

"$BIN_DIR/echod" --listen 0.0.0.0:7007 --admin-listen 127.0.0.1:8080 --workers 1 \
  --log-format text >"$TMP/echod.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8080/readyz 2>/dev/null && break
  sleep 0.1
done

targets=()
for i in $(seq 2 $((ADDRESSES + 1))); do targets+=("tcp://127.0.0.$i:7007"); done
"$BIN_DIR/echo-probe" monitor --listen 127.0.0.1:9707 "${targets[@]}" >"$TMP/monitor.log" 2>&1 &
mon=$!; pids+=("$mon")
for _ in $(seq 100); do
  curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:9707/readyz 2>/dev/null && break
  sleep 0.1
done

ticks="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$mon/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$mon/status"; }

sleep "$WARMUP"  # connections up, histograms touched: measure the steady state
rss_samples=("$(rss_kib)")
t0="$(date +%s.%N)"; c0="$(cpu_ticks)"
next_scrape=0
for ((s = 1; s <= DURATION; s++)); do
  sleep 1
  if ((s >= next_scrape)); then
    curl -fsS -o "$TMP/metrics.txt" --max-time 5 http://127.0.0.1:9707/metrics
    next_scrape=$((s + SCRAPE_EVERY))
  fi
  ((s % 10 == 0)) && rss_samples+=("$(rss_kib)")
done
t1="$(date +%s.%N)"; c1="$(cpu_ticks)"
rss_samples+=("$(rss_kib)")
hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$mon/status")"
threads="$(awk '/^Threads:/ { print $2 }' "/proc/$mon/status")"
curl -fsS -o "$TMP/metrics.txt" --max-time 5 http://127.0.0.1:9707/metrics

python3 - "$t0" "$t1" "$c0" "$c1" "$ticks" "$hwm" "$threads" "$TMP/metrics.txt" "$ADDRESSES" \
  "${rss_samples[@]}" <<'PY' | tee bench/results/monitor_cost.json
import json, re, sys
t0, t1, c0, c1, ticks = map(float, sys.argv[1:6])
hwm_kib, threads = int(sys.argv[6]), int(sys.argv[7])
metrics = open(sys.argv[8]).read()
addresses = int(sys.argv[9])
rss = [int(x) for x in sys.argv[10:]]
def total(name, pattern=""):
    s = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and pattern in line:
            s += float(line.rsplit(" ", 1)[1])
    return s
out = {
    "addresses": addresses,
    "probed": total("echo_probe_addresses"),
    "window_s": round(t1 - t0, 2),
    "cpu_percent_of_one_core": round(100.0 * (c1 - c0) / ticks / (t1 - t0), 3),
    "rss_mib": round(rss[-1] / 1024, 2),
    "rss_hwm_mib": round(hwm_kib / 1024, 2),
    "rss_samples_mib": [round(r / 1024, 2) for r in rss],
    "rss_growth_mib": round((rss[-1] - rss[0]) / 1024, 2),
    "threads": threads,
    "messages": total("echo_probe_messages_total"),
    "verified": total("echo_probe_verified_total"),
    "errors": total("echo_probe_errors_total"),
    "persistent_connections": total("echo_probe_persistent_connections"),
}
print(json.dumps(out))
PY
