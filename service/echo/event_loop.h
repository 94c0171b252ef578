#pragma once
// One epoll instance per worker thread, plus an eventfd so other threads can post work.
#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace echod {

/// Something registered with an EventLoop; epoll_event.data.ptr points at it.
class Watcher {
 public:
  virtual void on_events(std::uint32_t events) = 0;

 protected:
  ~Watcher() = default;
};

/// epoll + eventfd wake-up. add/modify/remove/poll run on the loop's own thread only;
/// post() may be called from any thread and runs the task on the loop thread at its next turn.
class EventLoop final : private Watcher {
 public:
  static constexpr int kMaxEventsPerTurn = 256;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool add(int fd, std::uint32_t events, Watcher* watcher);
  bool modify(int fd, std::uint32_t events, Watcher* watcher);
  void remove(int fd);

  /// Waits up to `timeout_ms` for events; returns how many are ready for dispatch().
  int wait(int timeout_ms);
  /// Calls every ready watcher, then runs posted tasks. Posted tasks run after the batch so
  /// that a task closing connections never frees a watcher that a later event points at.
  void dispatch(int ready);

  /// Queues `task` for the loop thread and wakes it. Any thread.
  void post(std::function<void()> task);

 private:
  void on_events(std::uint32_t events) override;  // the eventfd
  void run_posted();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  bool woken_ = false;
  epoll_event events_[kMaxEventsPerTurn];
};

}  // namespace echod
