#!/usr/bin/env bash
# Issue 15: "no cache line is written by two workers per message: no shared atomic or lock on
# the echo path", shown on the built binary rather than by reading the source.
#
# What runs per echoed message is the loop turn (Worker::run -> EventLoop::wait/dispatch) and
# the connection's plain path (on_events -> read_and_echo / flush). In the machine code
# of those functions this checks:
#   1. no lock-prefixed instruction and no xchg with memory (the x86 read-modify-writes that
#      a shared atomic counter, a mutex or a spinlock compile to) and no fence;
#   2. every direct call goes to another function of the set, to a libc leaf that takes no
#      lock (the syscall wrappers), or to a function listed below with the reason it is not
#      per message. Indirect calls are the watcher's and the context's virtual methods.
# The per-worker counters need no check of their own: each worker is the only writer of its
# WorkerStats (alignas(64), a plain load/add/store); the reads at scrape time are rare.
# Self-check: the detector must find the one shared atomic per connection, the
# active-connection count in Worker::release, or it proves nothing.
set -euo pipefail

binary=${ECHOD_BINARY:?ECHOD_BINARY names the echod to inspect}
dis=$(mktemp)
trap 'rm -f "$dis"' EXIT
objdump -d -C --no-show-raw-insn "$binary" >"$dis"

per_message=(
  'echod::Worker::run()'
  'echod::Worker::run_deferred()'
  'echod::EventLoop::wait(int)'
  'echod::EventLoop::dispatch(int)'
  'echod::Connection::on_events(unsigned int)'
  'echod::Connection::read_and_echo(bool)'
  'echod::Connection::read_allowance() const'
  'echod::Connection::flush()'
)
# Leaves that take no lock: system call wrappers, errno, vDSO clock, eventfd read, memcpy,
# and the unwinder (reached only when an exception unwinds, which ends the process).
leaves='^(syscall|epoll_wait|__errno_location|getsockopt|read|std::chrono::_V2::steady_clock::now\(\)|memcpy|_Unwind_Resume)@plt$'
# Callees that are not per message, and why.
declare -A not_per_message=(
  ['echod::Connection::close(echod::CloseReason)']='once per connection (its shared atomic is the active count)'
  ['echod::EventLoop::run_posted()']='only after another thread posted a task (config change, shutdown)'
  ['echod::EventLoop::add(int, unsigned int, echod::Watcher*)']='only when accepting resumes after EMFILE'
  ['open@plt']='only when accepting resumes after EMFILE (the reserve descriptor)'
  ['echod::Worker::refresh_settings()']='only when the config version moved'
  ['echod::Worker::sweep()']='once per sweep interval (idle and lifetime limits)'
  ['echod::Worker::expire_preambles()']='only with --proxy-protocol on, per header wait'
  ['echod::Worker::wait_timeout_ms() const [clone .part.0]']='per turn, arithmetic on this worker only'
  ['void echod::TimerHeap::run_due<echod::Worker::run_timers()::{lambda(echod::TimerHeap::Timer const&)#1}>(long, echod::Worker::run_timers()::{lambda(echod::TimerHeap::Timer const&)#1}&&)']='faulted connections only'
  ['echod::Connection::fault_step()']='faulted connections only'
  ['operator new[](unsigned long)@plt']='the pending tail, once per backpressure pause'
  ['operator delete[](void*)@plt']='the pending tail, once per backpressure pause'
)

body() {  # the instructions of function $1 (exact demangled name) and its .cold clone
  awk -v a="<$1>:" -v b="<$1 [clone .cold]>:" \
    '$0 ~ /^[0-9a-f]+ </ { p = (index($0, a) || index($0, b)) ; next } p && NF' "$dis"
}

in_set() {
  local f
  for f in "${per_message[@]}"; do [[ "$1" == "$f" ]] && return 0; done
  return 1
}

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for f in "${per_message[@]}"; do
  code=$(body "$f")
  if [[ -z "$code" ]]; then
    # Inlined into its caller: then its code is checked as part of the caller.
    echo "note: $f has no body of its own (inlined)"
    continue
  fi
  n=$(wc -l <<<"$code")
  before=$failures
  if grep -nE $'\t(lock |xchg[a-z]* .*\\(|mfence|sfence)' <<<"$code"; then
    fail "$f has a locked read-modify-write or a fence"
  fi
  while IFS= read -r callee; do
    [[ -z "$callee" ]] && continue
    if in_set "$callee" || [[ "$callee" =~ $leaves ]] || [[ "$callee" == "$f [clone .cold]" ]]; then
      continue
    fi
    if [[ -n "${not_per_message[$callee]+x}" ]]; then continue; fi
    fail "$f calls $callee, which is neither per-message-clean nor listed"
  done < <(grep -oE $'\t(call|jmp) +[0-9a-f]+ <[^>+]+>$' <<<"$code" | sed -E 's/^.*<(.*)>$/\1/' | sort -u)
  ((failures == before)) && echo "ok: $f ($n instructions): no locked instruction, callees accounted for"
done

# Self-check: the detector sees the one shared atomic per connection.
release=$(body 'echod::Worker::release(echod::Connection&, echod::CloseReason)')
if ! grep -qE $'\tlock ' <<<"$release"; then
  fail "self-check: no lock prefix found in Worker::release (active_connections.fetch_sub): the detector is blind"
else
  echo "ok: self-check: Worker::release has its per-connection lock-prefixed update"
fi

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "the per-message path writes no shared cache line through an atomic or a lock"
