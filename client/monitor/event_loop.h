#pragma once
// The monitor's one event loop: epoll for sockets, an ordered timer set, a cross-thread queue.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "clock.h"

namespace echo_probe::monitor {

/// Something with a file descriptor in the loop (epoll data.ptr points at it).
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void on_io(std::uint32_t events) = 0;
};

/// Something that asks the loop to call it back at a time.
class TimerHandler {
 public:
  virtual ~TimerHandler() = default;
  virtual void on_timer(Nanos now) = 0;

  // EventLoop bookkeeping: the time this handler is queued for, -1 when none.
  Nanos timer_at_ = -1;
};

/// epoll + timerfd + eventfd, run on one thread. Every method except post() and
/// stop() must be called on the loop thread. A handler must cancel its timer and unwatch
/// its fd before it is destroyed; objects destroyed from inside a callback should go
/// through defer_delete() so that events already fetched in this turn stay valid.
class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void watch(int fd, std::uint32_t events, IoHandler* h);
  void rewatch(int fd, std::uint32_t events, IoHandler* h);
  void unwatch(int fd);

  /// Calls h->on_timer() at `at` (monotonic ns); replaces any time h already had.
  void schedule(TimerHandler* h, Nanos at);
  void cancel(TimerHandler* h);

  /// Runs `fn` on the loop thread soon; any thread.
  void post(std::function<void()> fn);
  /// Makes run() return after the current turn; any thread.
  void stop();
  /// Turns until stop().
  void run();

  /// Runs `fn` after this turn's events are handled (e.g. to destroy a handler that may
  /// still have events in the batch).
  void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

  /// When the loop last turned (monotonic ns); any thread (for /livez).
  Nanos last_turn() const { return last_turn_.load(std::memory_order_relaxed); }

 private:
  void run_timers(Nanos now);
  void run_posted();
  void arm_timer();

  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;
  Nanos timer_armed_at_ = -1;
  std::set<std::pair<Nanos, TimerHandler*>> timers_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::function<void()>> deferred_;
  std::atomic<bool> stop_{false};
  std::atomic<Nanos> last_turn_{0};
};

}  // namespace echo_probe::monitor
