#pragma once
// A min-heap of (when, key) timers for one worker's loop thread. Cancelling is lazy: the
// owner looks the key up when a timer fires and ignores keys that are gone.
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

namespace echod {

class TimerHeap {
 public:
  struct Timer {
    std::int64_t when_ns;
    std::uint64_t key;
    bool operator>(const Timer& o) const { return when_ns > o.when_ns; }
  };

  void push(std::int64_t when_ns, std::uint64_t key) { heap_.push({when_ns, key}); }
  bool empty() const { return heap_.empty(); }
  std::int64_t next_ns() const { return heap_.top().when_ns; }
  std::size_t size() const { return heap_.size(); }
  /// Pops every timer due at `now_ns` (in time order) and calls `fire(timer)` for each.
  /// Timers pushed by `fire` for `now_ns` or earlier run at the next call, not this one.
  template <typename Fire>
  void run_due(std::int64_t now_ns, Fire&& fire) {
    std::vector<Timer> due;
    while (!heap_.empty() && heap_.top().when_ns <= now_ns) {
      due.push_back(heap_.top());
      heap_.pop();
    }
    for (const Timer& t : due) fire(t);
  }

 private:
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> heap_;
};

}  // namespace echod
