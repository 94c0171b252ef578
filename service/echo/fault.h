#pragma once
// Fault injection on the echo path (issue 13): one interface, one small header per kind
// (fault_delay.h, fault_bandwidth.h, fault_corrupt.h, fault_cutoff.h), chosen once per
// connection at accept. A connection without a fault holds a null pointer and takes the
// plain path; nothing here runs for it.
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <string>

#include "event_loop.h"
#include "fault_rules.h"
#include "steady_time.h"

namespace echod {

class Connection;

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
// After a close rule's FIN, input is read and dropped this long (closing with unread input
// would turn the FIN into an RST), then the connection closes whatever the peer does.
constexpr std::int64_t kFaultDrainAfterFinNs = 2'000'000'000;

/// The clock release times are counted from. The worker's now_ns is when its loop turn
/// began; bytes read later in the turn (from a timer or a deferred resume) may have been
/// sent after it, and a delay counted from it would come out short.
inline std::int64_t fault_read_time_ns() { return steady_now_ns(); }

/// splitmix64: one per worker, for probabilities and jitter. Not for secrets.
class FaultRng {
 public:
  explicit FaultRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

/// The first rule that applies to a new connection (`kind` tcp) or a datagram (`kind` udp)
/// from `peer` (may be null when no rule names a source), drawing its probability from
/// `rng`; null when none. Drop rules apply to datagrams only; delay and corrupt to both;
/// every other action to connections only.
const FaultRule* choose_fault_rule(const FaultRules& rules, FaultListener kind,
                                   const sockaddr_storage* peer, FaultRng& rng);
/// Whether any rule needs the peer's address (a `source`).
bool fault_rules_need_peer(const FaultRules& rules);

/// What ends a faulted connection early (close, reset, stall), and when.
enum class FaultEnding { kNone, kClose, kReset, kStall };

/// One fault kind acting on one connection's echo stream. Lives in its connection, on the
/// connection's worker thread. Times are steady_clock nanoseconds.
class Fault {
 public:
  explicit Fault(FaultAction kind) : action(kind) {}
  virtual ~Fault() = default;

  /// Bytes just read from the peer (`data` may be changed in place); returns the earliest
  /// time they may be echoed. Order is kept: a later chunk never leaves before an earlier.
  virtual std::int64_t on_read(char* data, std::size_t len, std::int64_t now_ns) {
    (void)data;
    (void)len;
    return now_ns;
  }
  /// How many of `want` due bytes may be sent now; 0 sets `*retry_ns` to when to ask again.
  virtual std::size_t send_budget(std::size_t want, std::int64_t now_ns, std::int64_t* retry_ns) {
    (void)now_ns;
    (void)retry_ns;
    return want;
  }
  virtual void on_sent(std::size_t n) { (void)n; }

  const FaultAction action;
  FaultEnding ending = FaultEnding::kNone;
  std::uint64_t end_after_bytes = std::numeric_limits<std::uint64_t>::max();  // echoed bytes
  std::int64_t end_at_ns = kNever;
};

/// The fault for `rule` on a connection accepted at `now_ns` (null for refuse and drop,
/// which the worker and the UDP path handle without a connection).
std::unique_ptr<Fault> make_fault(const FaultRule& rule, std::int64_t now_ns, FaultRng& rng);

/// Where epoll sends a faulted plain connection's events: straight to its faulted path, so
/// the plain echo (Connection::on_events) never asks whether a fault is set. Unused by TLS
/// connections, whose steps are far longer than that question.
class FaultWatcher final : public Watcher {
 public:
  Connection* connection = nullptr;
  void on_events(std::uint32_t events) override;  // connection_faulted.cpp
};

/// A faulted connection's own state: the fault, and the echo it holds back.
struct FaultedIo {
  struct Chunk {
    std::int64_t release_ns;
    std::string bytes;
    std::size_t off = 0;
  };
  std::unique_ptr<Fault> fault;
  std::deque<Chunk> held;
  std::uint64_t held_bytes = 0;  // at most max-pending-bytes: then reading stops
  std::uint64_t echoed = 0;
  FaultWatcher watcher;                 // what a faulted plain connection is registered as
  std::uint64_t serial = 0;             // the worker's timer key for this connection
  std::int64_t timer_ns = kNever;       // earliest timer armed
  std::int64_t drain_until_ns = kNever;  // after our FIN: discard input until EOF or this
  bool peer_eof = false;
  bool stalled = false;
  bool draining = false;
  bool released = false;  // release_all(): no more pacing

  /// The bytes the next read may take: the connection's own `allowance`, within `cap` held
  /// bytes, and never past the byte count where the fault ends (`read` so far): those bytes
  /// are not echoed.
  std::uint64_t read_room(std::uint64_t allowance, std::uint64_t cap, std::uint64_t read) const;
  /// `len` bytes just read at `data` (the fault may change them in place), held until due.
  void hold(char* data, std::size_t len);
  /// `n` bytes of the head chunk went out.
  void sent(std::size_t n);
  /// How many of the head chunk's `want` due bytes may go now: the fault's pacing (0 sets
  /// `*retry_ns`), or all of them once release_all() was called.
  std::size_t send_budget(std::size_t want, std::int64_t now_ns, std::int64_t* retry_ns);
  /// Graceful shutdown: every held byte is due now and unpaced. A fault tests a client, it
  /// must not make echod lose what a client sent when it stops.
  void release_all();

  /// What a turn's reads leave the connection to do, the same for plain and TLS.
  enum class Next { kWait, kFaultEnds, kPeerDone, kByteLimit };
  /// Once nothing is held: the fault's byte count reached, the peer's end echoed back, or
  /// the connection's own byte limit (`allowance` 0); else (or while bytes are held) wait.
  Next after_reads(std::uint64_t allowance) const;

  /// The time a new timer must be armed for (the drain deadline, the fault's end, or the
  /// head chunk's release), recorded as armed; kNever when the one armed comes first. A
  /// head chunk that is due already waits for the kernel: EPOLLOUT brings it back.
  std::int64_t timer_to_arm(std::int64_t now_ns);
};

}  // namespace echod
