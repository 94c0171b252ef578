#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan+UBSan), replays each seed corpus as a
# regression test (-runs=0), then runs a short bounded session per target.
# Usage: fuzz/run.sh [--build-dir DIR] [--seconds-per-target N] [--only TARGET] [--keep-new]
#                    [--seconds-for TARGET N]...
#   --seconds-per-target 0   replay only
#   --seconds-for TARGET N   TARGET's session lasts N s instead (CI gives fuzz_admin_request,
#                            which pays a loopback round trip per input, a longer one)
#   --keep-new               merge inputs that found new coverage back into fuzz/corpus/
# Exit 0 when every replay and session finished without a finding; crash inputs are kept
# in DIR/artifacts/ (add them to fuzz/corpus/<target>/ once fixed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="$here/../build-fuzz"
seconds=20
only=""
keep_new=0
declare -A seconds_for=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --seconds-per-target) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --keep-new) keep_new=1; shift ;;
    --seconds-for) seconds_for["$2"]="$3"; shift 3 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
targets=(fuzz_duration fuzz_config fuzz_payload fuzz_http_frame fuzz_proxy_header fuzz_fault_rules fuzz_admin_request)
[ -n "$only" ] && targets=("$only")

"$here/../scripts/deps.sh" build fuzz
echo ">> building fuzzers in $build_dir"
CC=clang-14 CXX=clang++-14 cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if ! cmake --build "$build_dir" -j 2 --target "${targets[@]}" >"$build_dir/build.log" 2>&1; then
  grep -E "error|Error" "$build_dir/build.log" | head -30 >&2
  echo "FAIL: fuzzers did not build (log: $build_dir/build.log)" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  [ -x "$build_dir/$t" ] || { echo "FAIL $t: not built" >&2; exit 1; }
done

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
mkdir -p "$build_dir/artifacts"
failed=()
for t in "${targets[@]}"; do
  corpus="$here/corpus/${t#fuzz_}"
  dict=()
  [ -f "$here/dict/${t#fuzz_}.dict" ] && dict=("-dict=$here/dict/${t#fuzz_}.dict")
  n=$(find "$corpus" -type f | wc -l)
  echo ">> $t: replaying $n corpus inputs"
  if ! "$build_dir/$t" -runs=0 "${dict[@]}" -artifact_prefix="$build_dir/artifacts/$t-" \
      "$corpus" >"$build_dir/$t.replay.log" 2>&1; then
    echo "FAIL $t: corpus replay (log: $build_dir/$t.replay.log)"; tail -30 "$build_dir/$t.replay.log"
    failed+=("$t:replay"); continue
  fi
  secs="${seconds_for[$t]:-$seconds}"
  [ "$secs" -gt 0 ] || continue
  work="$build_dir/corpus-work/${t#fuzz_}"
  mkdir -p "$work"
  echo ">> $t: fuzzing for ${secs}s"
  if ! "$build_dir/$t" -max_total_time="$secs" -timeout=15 -rss_limit_mb=2048 -max_len=4096 \
      "${dict[@]}" -artifact_prefix="$build_dir/artifacts/$t-" -print_final_stats=1 \
      "$work" "$corpus" >"$build_dir/$t.fuzz.log" 2>&1; then
    echo "FAIL $t: finding (log: $build_dir/$t.fuzz.log)"; grep -E "ERROR|SUMMARY|abort|Test unit written" "$build_dir/$t.fuzz.log" | head -20
    failed+=("$t:fuzz"); continue
  fi
  log="$build_dir/$t.fuzz.log"
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo 0)
  per_sec=$(grep -oE "stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo 0)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0)
  stalls=$(grep -c "did not answer or close" "$log" || true)
  skipped=$(grep -c "^MACHINE: input not delivered" "$log" || true)
  echo "FIGURE fuzz $t runs=$runs exec_per_sec=$per_sec coverage_edges=$cov stalls=$stalls machine_skipped=$skipped seconds=$secs corpus=$n"
  if [ "$keep_new" = 1 ]; then
    "$build_dir/$t" -merge=1 "$corpus" "$work" >/dev/null 2>&1 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures: ${failed[*]}" >&2
  exit 1
fi
echo ">> fuzz: all targets clean"
