#pragma once
#include <atomic>
#include <string>

namespace echod {

/// Where the process is in its life: starting, serving, shutting down. Written by the main
/// thread, read by the admin server for /readyz and echod_shutting_down. Any thread.
class Lifecycle {
 public:
  void mark_listeners_bound() { listeners_bound_.store(true, std::memory_order_release); }
  void begin_shutdown() { shutting_down_.store(true, std::memory_order_release); }

  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  bool ready() const { return listeners_bound_.load(std::memory_order_acquire) && !shutting_down(); }
  /// Why /readyz says 503; empty when ready.
  std::string not_ready_reason() const {
    if (shutting_down()) return "shutting down";
    if (!listeners_bound_.load(std::memory_order_acquire)) return "listeners not bound yet";
    return {};
  }

 private:
  std::atomic<bool> listeners_bound_{false};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace echod
