#include "event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "socket_ops.h"

namespace echo_probe::monitor {
namespace {

constexpr int kMaxEvents = 128;
// The loop turns at least this often so /livez can tell a stuck loop from an idle one.
constexpr int kMaxWaitMs = 1000;

[[noreturn]] void throw_errno(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

// Tags for the loop's own descriptors in epoll data.ptr (never a handler's address).
char timer_tag;
char wake_tag;

}  // namespace

EventLoop::EventLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw_errno("epoll_create1");
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) throw_errno("timerfd_create");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw_errno("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &timer_tag;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) throw_errno("epoll_ctl");
  ev.data.ptr = &wake_tag;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) throw_errno("epoll_ctl");
  last_turn_ = now_ns();
}

EventLoop::~EventLoop() {
  for (auto& fn : deferred_) fn();
  close(wake_fd_);
  close(timer_fd_);
  close(epoll_fd_);
}

void EventLoop::watch(int fd, std::uint32_t events, IoHandler* h) {
  epoll_add(epoll_fd_, fd, events, h);
}

void EventLoop::rewatch(int fd, std::uint32_t events, IoHandler* h) {
  epoll_modify(epoll_fd_, fd, events, h);
}

void EventLoop::unwatch(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::schedule(TimerHandler* h, Nanos at) {
  cancel(h);
  timers_.emplace(at, h);
  h->timer_at_ = at;
}

void EventLoop::cancel(TimerHandler* h) {
  if (h->timer_at_ < 0) return;
  timers_.erase({h->timer_at_, h});
  h->timer_at_ = -1;
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = write(wake_fd_, &one, sizeof one);
}

void EventLoop::stop() {
  stop_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = write(wake_fd_, &one, sizeof one);
}

void EventLoop::run_timers(Nanos now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    TimerHandler* h = timers_.begin()->second;
    timers_.erase(timers_.begin());
    h->timer_at_ = -1;
    h->on_timer(now);  // may schedule itself (or others) again
  }
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::arm_timer() {
  const Nanos next = timers_.empty() ? 0 : timers_.begin()->first;
  if (next == timer_armed_at_) return;
  arm_timerfd(timer_fd_, next);
  timer_armed_at_ = next;
}

void EventLoop::run() {
  epoll_event events[kMaxEvents];
  while (!stop_.load(std::memory_order_relaxed)) {
    run_timers(now_ns());
    arm_timer();
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, kMaxWaitMs);
    if (n < 0 && errno != EINTR) throw_errno("epoll_wait");
    last_turn_.store(now_ns(), std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &timer_tag) {
        std::uint64_t expirations;
        [[maybe_unused]] auto r = read(timer_fd_, &expirations, sizeof expirations);
        timer_armed_at_ = -1;
      } else if (tag == &wake_tag) {
        std::uint64_t count;
        [[maybe_unused]] auto r = read(wake_fd_, &count, sizeof count);
        run_posted();
      } else {
        static_cast<IoHandler*>(tag)->on_io(events[i].events);
      }
    }
    std::vector<std::function<void()>> deferred;
    deferred.swap(deferred_);
    for (auto& fn : deferred) fn();
  }
}

}  // namespace echo_probe::monitor
