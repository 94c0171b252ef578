#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>

#include "config.h"

namespace echod {

/// Holds the effective Config and swaps its runtime part while workers run.
/// Any thread may call any method. Workers poll version() once per loop turn (one relaxed
/// load) and copy runtime() only when it moved, so a change costs nothing per message.
class ConfigStore {
 public:
  explicit ConfigStore(Config initial) : config_(std::move(initial)) {}

  Config current() const {
    std::lock_guard lock(mutex_);
    return config_;
  }
  RuntimeSettings runtime() const {
    std::lock_guard lock(mutex_);
    return config_.runtime;
  }
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  /// Outcome of SIGHUP reloads, for echod_config_reloads_total and friends.
  struct ReloadStatus {
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    bool last_successful = true;
    double last_success_unix_seconds = 0;  // start time until the first reload
  };
  /// The config was loaded at start: sets the last-success time without counting a reload.
  void mark_loaded(double unix_seconds) {
    std::lock_guard lock(mutex_);
    reload_.last_success_unix_seconds = unix_seconds;
  }
  void record_reload(bool ok, double unix_seconds) {
    std::lock_guard lock(mutex_);
    if (ok) {
      ++reload_.successes;
      reload_.last_success_unix_seconds = unix_seconds;
    } else {
      ++reload_.failures;
    }
    reload_.last_successful = ok;
  }
  ReloadStatus reload_status() const {
    std::lock_guard lock(mutex_);
    return reload_;
  }

  /// Replaces the runtime settings as one unit; returns the previous ones.
  RuntimeSettings set_runtime(const RuntimeSettings& next) {
    std::lock_guard lock(mutex_);
    RuntimeSettings previous = config_.runtime;
    config_.runtime = next;
    version_.fetch_add(1, std::memory_order_release);
    return previous;
  }

 private:
  mutable std::mutex mutex_;
  Config config_;
  ReloadStatus reload_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace echod
