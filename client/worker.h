#pragma once
// One load-engine thread: an epoll loop that drives its share of the sessions.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <queue>
#include <vector>

#include "clock.h"
#include "load_plan.h"
#include "session.h"
#include "stats.h"

namespace echo_probe {

/// Live counters a worker publishes every tick for the progress line (relaxed atomics,
/// written by the worker only, a few times per second: nothing per message).
struct alignas(64) Progress {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> errors{0};
};

/// Owns an epoll instance, a timerfd for open-loop send times, its sessions, one Stats per
/// target address and the I/O buffers its sessions share. Built on the engine thread, then
/// run() on its own thread until every session finished; stats() is read after the join.
/// Session-facing methods may only be called from the worker's own thread.
class Worker {
 public:
  Worker(const LoadPlan& plan, std::size_t address_count, const std::atomic<bool>& stop);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void add(std::unique_ptr<Session> session) { sessions_.push_back(std::move(session)); }
  void run();

  const LoadPlan& plan() const { return plan_; }
  Stats& stats(std::size_t address) { return stats_[address]; }
  const std::vector<Stats>& all_stats() const { return stats_; }
  const Progress& progress() const { return progress_; }

  // For sessions.
  /// Whether a message may still start. Closed loop: until the end time. Open loop: every
  /// message scheduled before the end time, even one sent late (lateness is latency, and
  /// the count stays rate x duration). Never after SIGINT/SIGTERM.
  bool may_start(Nanos now, Nanos intended) const {
    if (stop_seen_) return false;
    return plan_.open_loop() ? intended < plan_.end : now < plan_.end;
  }
  void watch(int fd, std::uint32_t events, Session* s);
  void rewatch(int fd, std::uint32_t events, Session* s);
  /// Calls s->on_due() at (or soon after) `due`; a time already passed means "after the
  /// current batch of events" (used to avoid recursion after a failure).
  void schedule(Session* s, Nanos due);
  void session_finished() { --active_; }
  char* io_buffer() { return io_buffer_.data(); }
  char* scratch() { return scratch_.data(); }
  static constexpr std::size_t kBufferSize = 64 * 1024;

 private:
  struct Due {
    Nanos at;
    Session* session;
    bool operator>(const Due& o) const { return at > o.at; }
  };
  void run_due(Nanos now);
  void arm_timer();
  void tick(Nanos now);

  const LoadPlan plan_;
  const std::atomic<bool>& stop_;
  bool stop_seen_ = false;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  Nanos timer_armed_at_ = 0;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::size_t active_ = 0;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  std::vector<Stats> stats_;
  std::vector<char> io_buffer_;
  std::vector<char> scratch_;
  Progress progress_;
};

}  // namespace echo_probe
