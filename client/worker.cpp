#include "worker.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "socket_ops.h"

namespace echo_probe {
namespace {

constexpr Nanos kTickNs = 20 * kNanosPerMilli;  // timeout and end-of-run resolution
constexpr int kMaxEvents = 256;

[[noreturn]] void throw_errno(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

Worker::Worker(const LoadPlan& plan, std::size_t address_count, const std::atomic<bool>& stop)
    : plan_(plan),
      stop_(stop),
      stats_(address_count),
      io_buffer_(kBufferSize),
      scratch_(kBufferSize) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw_errno("epoll_create1");
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) throw_errno("timerfd_create");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the timer is the only entry without a session
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) throw_errno("epoll_ctl");
}

Worker::~Worker() {
  sessions_.clear();  // sessions close their sockets before the epoll fd goes
  if (timer_fd_ >= 0) close(timer_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Worker::watch(int fd, std::uint32_t events, Session* s) {
  epoll_add(epoll_fd_, fd, events, s);
}

void Worker::rewatch(int fd, std::uint32_t events, Session* s) {
  epoll_modify(epoll_fd_, fd, events, s);
}

void Worker::schedule(Session* s, Nanos due) {
  if (s->queued_at != 0 && s->queued_at <= due) return;  // an earlier wake-up is queued
  s->queued_at = due;
  due_.push(Due{due, s});
}

void Worker::run_due(Nanos now) {
  while (!due_.empty() && due_.top().at <= now) {
    const Due d = due_.top();
    due_.pop();
    if (d.session->queued_at != d.at) continue;  // superseded by an earlier entry
    d.session->queued_at = 0;
    d.session->on_due(now);
  }
}

void Worker::arm_timer() {
  const Nanos next = due_.empty() ? 0 : due_.top().at;
  if (next == timer_armed_at_) return;
  arm_timerfd(timer_fd_, next);
  timer_armed_at_ = next;
}

void Worker::tick(Nanos now) {
  if (!stop_seen_ && stop_.load(std::memory_order_relaxed)) stop_seen_ = true;
  for (auto& s : sessions_) s->on_tick(now);
  std::uint64_t sent = 0, received = 0, errors = 0;
  for (const auto& st : stats_) {
    sent += st.sent;
    received += st.received;
    errors += st.errors.total();
  }
  progress_.sent.store(sent, std::memory_order_relaxed);
  progress_.received.store(received, std::memory_order_relaxed);
  progress_.errors.store(errors, std::memory_order_relaxed);
}

void Worker::run() {
  active_ = sessions_.size();
  // Room for every session's wake-up up front: schedule() never allocates mid-run.
  std::vector<Due> storage;
  storage.reserve(2 * sessions_.size() + 16);
  due_ = decltype(due_)(std::greater<>(), std::move(storage));
  Nanos now = now_ns();
  for (auto& s : sessions_) s->start(now);
  Nanos next_tick = now + kTickNs;
  epoll_event events[kMaxEvents];
  while (active_ > 0) {
    now = now_ns();
    run_due(now);
    if (now >= next_tick) {
      tick(now);
      next_tick = now + kTickNs;
      if (active_ == 0) break;
    }
    arm_timer();
    Nanos wake = next_tick;
    if (plan_.end > now && plan_.end < wake) wake = plan_.end;
    const bool due_now = !due_.empty() && due_.top().at <= now;
    const int timeout_ms =
        due_now ? 0 : static_cast<int>((wake - now + kNanosPerMilli - 1) / kNanosPerMilli);
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) throw_errno("epoll_wait");
    now = now_ns();
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<Session*>(events[i].data.ptr);
      if (s == nullptr) {
        std::uint64_t expirations;
        [[maybe_unused]] auto r = read(timer_fd_, &expirations, sizeof expirations);
        timer_armed_at_ = 0;
        continue;
      }
      s->on_io(events[i].events, now);
    }
  }
  tick(now_ns());  // publish the final counters
}

}  // namespace echo_probe
