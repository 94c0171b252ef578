#pragma once
// Structured logs: one JSON object per line on stdout ({"ts","level","msg",fields...}) or a
// plain-text line. No per-message lines on the echo path; per-connection lines at debug only.
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>

#include "config.h"

namespace echod {

/// A field value: text, integer, unsigned, floating point or boolean.
using LogValue = std::variant<std::string, std::int64_t, std::uint64_t, double, bool>;
struct LogField {
  std::string_view key;
  LogValue value;
};

/// Thread-safe line logger. Each line is written with one write(2), so lines from different
/// threads never interleave. The level may change at runtime (set_level) from any thread.
class Logger {
 public:
  Logger(LogFormat format, LogLevel level, int fd = 1) : format_(format), fd_(fd) {
    set_level(level);
  }

  void set_level(LogLevel level) { level_.store(static_cast<int>(level), std::memory_order_relaxed); }
  bool enabled(LogLevel level) const {
    return static_cast<int>(level) >= level_.load(std::memory_order_relaxed);
  }

  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  void debug(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    if (enabled(LogLevel::kDebug)) log(LogLevel::kDebug, msg, fields);
  }
  void info(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::kInfo, msg, fields);
  }
  void warn(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::kWarn, msg, fields);
  }
  void error(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::kError, msg, fields);
  }

  /// The line log() would write (without the newline); exposed for tests.
  std::string format_line(LogLevel level, std::string_view msg,
                          std::initializer_list<LogField> fields) const;

 private:
  LogFormat format_;
  int fd_;
  std::atomic<int> level_{0};
  std::mutex write_mutex_;
};

}  // namespace echod
