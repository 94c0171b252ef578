#!/usr/bin/env bash
# Scrape cost (issue 3, item 7): echo throughput with a /metrics scrape every 100 ms versus
# without, on one echod, in alternating rounds (A B, B A, ...) so drift on a shared machine
# cancels. Also measures echod's own CPU time per scrape with back-to-back scrapes.
#
# Usage: bench/scrape_cost.sh [BIN_DIR]      (default build/bin; needs echod and echo-probe)
# Env:   ROUNDS=5 DURATION=5s CONNECTIONS=50 SIZE=64 INTERVAL=0.1 WORKERS=0 SCRAPES=2000
# Output: one line per run on stderr, a summary and one JSON object on stdout.
# Not a test: timed figures on a noisy machine; report the median ratio of several rounds.
set -euo pipefail

BIN_DIR=${1:-build/bin}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}
SIZE=${SIZE:-64}
INTERVAL=${INTERVAL:-0.1}
WORKERS=${WORKERS:-0}
SCRAPES=${SCRAPES:-2000}

for bin in echod echo-probe; do
  [ -x "$BIN_DIR/$bin" ] || { echo "scrape_cost.sh: $BIN_DIR/$bin not built" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "scrape_cost.sh: needs python3" >&2; exit 2; }

work=$(mktemp -d /tmp/echod-scrape-cost-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

"$BIN_DIR/echod" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --workers "$WORKERS" \
  >"$work/echod.log" 2>&1 &
echod_pid=$!
pids+=("$echod_pid")
for _ in $(seq 100); do
  grep -q 'echod started' "$work/echod.log" 2>/dev/null && break
  sleep 0.05
done
port_of() { grep -o "\"$1\":\"[^\"]*\"" "$work/echod.log" | head -1 | grep -o '[0-9]*"$' | tr -d '"'; }
echo_port=$(port_of echo_address || true)
admin_port=$(port_of admin_address || true)
if [ -z "$echo_port" ] || [ -z "$admin_port" ]; then
  echo "scrape_cost.sh: echod did not report its ports:" >&2
  cat "$work/echod.log" >&2
  exit 1
fi

# The scraper: one keep-alive connection, GET /metrics every INTERVAL seconds (like Prometheus);
# prints how many scrapes it made when stopped. Python so no process is spawned per scrape.
cat >"$work/scraper.py" <<'EOF'
import http.client, signal, sys, time
port, interval = int(sys.argv[1]), float(sys.argv[2])
count = [0, 0]
def stop(*_):
    print(count[0], count[1], flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
conn = None
while True:
    t0 = time.monotonic()
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read()
        if r.status == 200:
            count[0] += 1
            count[1] += len(body)
    except Exception:
        conn = None
    time.sleep(max(0.0, interval - (time.monotonic() - t0)))
EOF

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Runs echo-probe once; prints msgs/s and echod's CPU microseconds per echoed message (CPU
# time is per process, so it is steadier than throughput when the machine is shared).
probe() {
  local c0 c1
  c0=$(cpu_ticks "$echod_pid")
  "$BIN_DIR/echo-probe" tcp -c "$CONNECTIONS" -s "$SIZE" -d "$DURATION" --json -q \
    "127.0.0.1:$echo_port" >"$work/probe.json"
  c1=$(cpu_ticks "$echod_pid")
  python3 -c 'import json,sys,os
d = json.load(open(sys.argv[1])); assert d["errors"] == 0, d
us = (float(sys.argv[3]) - float(sys.argv[2])) / os.sysconf("SC_CLK_TCK") * 1e6
print(d["msgs_per_sec"], round(us / max(1, d["received"]), 4))' "$work/probe.json" "$c0" "$c1"
}

run_plain() { probe; }
run_scraped() {
  python3 "$work/scraper.py" "$admin_port" "$INTERVAL" >"$work/scraper.out" &
  local sp=$!
  pids+=("$sp")
  local rate
  rate=$(probe)
  kill -TERM "$sp"
  wait "$sp" 2>/dev/null || true
  echo "$rate $(cat "$work/scraper.out")"  # msgs/s, cpu us/msg, scrapes, bytes
}

probe >/dev/null  # warm-up: connections, page faults, CPU frequency
plain=()
scraped=()
plain_cpu=()
scraped_cpu=()
scrape_counts=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then
    read -r a ac <<<"$(run_plain)"; read -r b bc n _ <<<"$(run_scraped)"
  else
    read -r b bc n _ <<<"$(run_scraped)"; read -r a ac <<<"$(run_plain)"
  fi
  plain+=("$a"); scraped+=("$b"); plain_cpu+=("$ac"); scraped_cpu+=("$bc"); scrape_counts+=("$n")
  echo "round $r: without scrapes ${a} msg/s (${ac} us CPU/msg), with ${n} scrapes ${b} msg/s (${bc} us CPU/msg)" >&2
done

# echod CPU per scrape: SCRAPES back-to-back scrapes on one connection, no echo load.
cat >"$work/burst.py" <<'EOF'
import http.client, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
size = 0
t0 = time.monotonic()
for _ in range(n):
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    size = len(r.read())
print(size, (time.monotonic() - t0) / n * 1e6)
EOF
t0=$(cpu_ticks "$echod_pid")
read -r body_bytes wall_us < <(python3 "$work/burst.py" "$admin_port" "$SCRAPES")
t1=$(cpu_ticks "$echod_pid")
clk=$(getconf CLK_TCK)

python3 - "$clk" "$SCRAPES" "$t0" "$t1" "$body_bytes" "$wall_us" "$INTERVAL" "$CONNECTIONS" \
  "$SIZE" "$DURATION" "${plain[*]}" "${scraped[*]}" "${scrape_counts[*]}" "${plain_cpu[*]}" \
  "${scraped_cpu[*]}" <<'EOF'
import json, statistics, sys
clk, scrapes, t0, t1 = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
body, wall_us, interval = int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
conns, size, duration = int(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
plain = [float(x) for x in sys.argv[11].split()]
scraped = [float(x) for x in sys.argv[12].split()]
counts = [int(x) for x in sys.argv[13].split()]
plain_cpu = [float(x) for x in sys.argv[14].split()]
scraped_cpu = [float(x) for x in sys.argv[15].split()]
ratios = [s / p for s, p in zip(scraped, plain)]
cpu_ratios = [s / p for s, p in zip(scraped_cpu, plain_cpu)]
cpu_us = (t1 - t0) / clk / scrapes * 1e6
result = {
    "benchmark": "scrape_cost",
    "connections": conns, "message_bytes": size, "duration": duration,
    "scrape_interval_s": interval, "rounds": len(plain),
    "msgs_per_sec_without_scrapes": plain, "msgs_per_sec_with_scrapes": scraped,
    "scrapes_per_round": counts,
    "echod_cpu_us_per_msg_without": plain_cpu, "echod_cpu_us_per_msg_with": scraped_cpu,
    "median_cpu_per_msg_ratio_with_over_without": statistics.median(cpu_ratios),
    "median_without": statistics.median(plain), "median_with": statistics.median(scraped),
    "median_ratio_with_over_without": statistics.median(ratios),
    "throughput_cost_percent": round((1 - statistics.median(ratios)) * 100, 2),
    "metrics_body_bytes": body,
    "echod_cpu_us_per_scrape": round(cpu_us, 1),
    "scrape_wall_us": round(wall_us, 1),
    "cpu_share_of_one_core_at_interval_percent": round(cpu_us / (interval * 1e6) * 100, 3),
}
# If echod is CPU-bound, scrapes can take at most their CPU time from the echo path: the
# scrape CPU per second over echod's CPU per second under this load bounds the cost.
echod_cpu_per_s = statistics.median(plain_cpu) * statistics.median(plain)  # us per second
result["cpu_bound_cost_upper_bound_percent"] = round(cpu_us / interval / echod_cpu_per_s * 100, 3)
print(f"median throughput without scrapes: {result['median_without']:.0f} msg/s")
print(f"median throughput with a scrape every {interval * 1000:.0f} ms: "
      f"{result['median_with']:.0f} msg/s")
print(f"median ratio (with/without, per round): {result['median_ratio_with_over_without']:.4f}"
      f"  -> cost {result['throughput_cost_percent']}%  (rounds: "
      + ", ".join(f"{r:.3f}" for r in ratios) + ")")
print(f"echod CPU per echoed message, median ratio with/without: "
      f"{result['median_cpu_per_msg_ratio_with_over_without']:.4f} (rounds: "
      + ", ".join(f"{r:.3f}" for r in cpu_ratios) + ")")
print(f"one scrape: {body} bytes, {cpu_us:.0f} us of echod CPU (clock-tick resolution over "
      f"{scrapes} scrapes), {wall_us:.0f} us wall; at this interval "
      f"{result['cpu_share_of_one_core_at_interval_percent']}% of one core")
print(f"echod used {echod_cpu_per_s / 1e6:.2f} CPU-s/s under this load; the scrapes' CPU "
      f"bounds the throughput cost at {result['cpu_bound_cost_upper_bound_percent']}%")
print(json.dumps(result))
EOF
