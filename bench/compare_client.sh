#!/usr/bin/env bash
# Compares echo-probe's load engine with bench/minimal_client.c (the smallest honest epoll
# ping-pong client) against the same echod in one run: closed loop, same connections,
# message size and duration, alternating rounds, medians at the end.
#
# Usage: bench/compare_client.sh [BUILD_DIR]          (default: build)
#   env: CONNECTIONS=50 SIZE=64 SECONDS=3 ROUNDS=3 ECHOD_WORKERS=1
# Prints one line per client and round (msgs/s, p50, and client CPU microseconds per
# message, which is the least noisy number on a shared machine), then medians and ratios.
# echo-probe runs twice per round: with --threads 1 (like minimal_client: one thread,
# the fair per-thread comparison) and with its default (one thread per CPU).
set -euo pipefail

build_dir=${1:-build}
bin=$build_dir/bin
connections=${CONNECTIONS:-50}
size=${SIZE:-64}
seconds=${SECONDS_PER_RUN:-${SECONDS:-3}}
rounds=${ROUNDS:-3}
workers=${ECHOD_WORKERS:-1}

for b in echod echo-probe minimal_client; do
  [ -x "$bin/$b" ] || { echo "compare_client.sh: $bin/$b missing (cmake --build $build_dir)" >&2; exit 2; }
done

tmp=$(mktemp -d)
echod_pid=""
cleanup() {
  if [ -n "$echod_pid" ]; then kill "$echod_pid" 2>/dev/null || true; wait "$echod_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin/echod" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --workers "$workers" \
  >"$tmp/echod.log" 2>&1 &
echod_pid=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*"echo_address":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$tmp/echod.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$echod_pid" 2>/dev/null || { cat "$tmp/echod.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "compare_client.sh: echod did not report its port" >&2; exit 1; }

json_field() {  # json_field KEY FILE -> first numeric value of "KEY":
  sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$2" | head -1
}
p50_field() {  # p50 of latency_us
  sed -n 's/.*"latency_us":{[^}]*"p50":\([0-9.]*\).*/\1/p' "$1" | head -1
}
timed() {  # timed OUT_CPU_FILE CMD... : runs CMD, stores its user+sys CPU seconds
  local out=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%U %S" -o "$tmp/time" "$@"
    awk '{print $1 + $2}' "$tmp/time" >"$out"
  else
    "$@"; echo 0 >"$out"
  fi
}
cpu_per_msg() { awk -v c="$(cat "$1")" -v n="$2" 'BEGIN {printf "%.2f", (n > 0 && c > 0) ? c * 1e6 / n : 0}'; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo ">> echod 127.0.0.1:$port (workers=$workers); $connections connections, $size-byte messages, ${seconds}s x $rounds rounds"
printf '%-26s %14s %10s %12s\n' client msgs_per_sec p50_us cpu_us/msg
for f in min p1 pn; do : >"$tmp/$f.rate"; : >"$tmp/$f.p50"; : >"$tmp/$f.cpu"; done
for round in $(seq "$rounds"); do
  timed "$tmp/cpu" "$bin/minimal_client" 127.0.0.1 "$port" "$connections" "$size" "$seconds" >"$tmp/min.out"
  line=$(cat "$tmp/min.out")
  rate=$(echo "$line" | sed -n 's/.*msgs_per_sec=\([0-9.]*\).*/\1/p')
  p50=$(echo "$line" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p')
  cpu=$(cpu_per_msg "$tmp/cpu" "$(echo "$line" | sed -n 's/.*msgs=\([0-9]*\).*/\1/p')")
  echo "$rate" >>"$tmp/min.rate"; echo "$p50" >>"$tmp/min.p50"; echo "$cpu" >>"$tmp/min.cpu"
  printf '%-26s %14s %10s %12s\n' "minimal_client #$round" "$rate" "$p50" "$cpu"
  for threads in 1 default; do
    args=(tcp "127.0.0.1:$port" -c "$connections" -s "$size" -d "${seconds}s" --json)
    tag=pn
    if [ "$threads" = 1 ]; then args+=(-t 1); tag=p1; fi
    timed "$tmp/cpu" "$bin/echo-probe" "${args[@]}" >"$tmp/probe.json" ||
      { cat "$tmp/probe.json" >&2; exit 1; }
    rate=$(json_field msgs_per_sec "$tmp/probe.json")
    p50=$(p50_field "$tmp/probe.json")
    cpu=$(cpu_per_msg "$tmp/cpu" "$(json_field received "$tmp/probe.json")")
    echo "$rate" >>"$tmp/$tag.rate"; echo "$p50" >>"$tmp/$tag.p50"; echo "$cpu" >>"$tmp/$tag.cpu"
    printf '%-26s %14s %10s %12s\n' "echo-probe -t $threads #$round" "$rate" "$p50" "$cpu"
  done
done

for f in min p1 pn; do
  eval "${f}_rate=\$(median <\"\$tmp/$f.rate\"); ${f}_p50=\$(median <\"\$tmp/$f.p50\"); ${f}_cpu=\$(median <\"\$tmp/$f.cpu\")"
done
echo ">> medians"
printf '%-26s %14s %10s %12s\n' minimal_client "$min_rate" "$min_p50" "$min_cpu"
printf '%-26s %14s %10s %12s\n' "echo-probe -t 1" "$p1_rate" "$p1_p50" "$p1_cpu"
printf '%-26s %14s %10s %12s\n' "echo-probe (default -t)" "$pn_rate" "$pn_p50" "$pn_cpu"
awk -v a="$p1_rate" -v b="$min_rate" -v c="$pn_rate" -v d="$p1_cpu" -v e="$min_cpu" \
  'BEGIN {printf ">> echo-probe/minimal_client: throughput -t 1 %.2f, default -t %.2f; CPU per message -t 1 %.2f\n", a/b, c/b, (e > 0) ? d/e : 0}'
