#include "series.h"

#include <sys/time.h>

#include <cmath>
#include <cstdio>
#include <ctime>

namespace echo_probe::monitor {

const char* mode_name(Mode m) { return m == Mode::kNew ? "new" : "persistent"; }

const char* break_class_name(BreakClass c) {
  switch (c) {
    case BreakClass::kGraceful:
      return "graceful";
    case BreakClass::kClosed:
      return "closed";
    case BreakClass::kReset:
      return "reset";
    case BreakClass::kTimeout:
      return "timeout";
    case BreakClass::kMismatch:
      return "mismatch";
  }
  return "reset";
}

BreakClass break_class_of(ErrorClass c) {
  switch (c) {
    case ErrorClass::kClosed:
      return BreakClass::kClosed;
    case ErrorClass::kTimeout:
      return BreakClass::kTimeout;
    case ErrorClass::kMismatch:
      return BreakClass::kMismatch;
    default:
      return BreakClass::kReset;
  }
}

int TargetSeries::probed_addresses() const {
  int n = 0;
  for (const auto& [_, a] : addresses) n += a->probed ? 1 : 0;
  return n;
}

int TargetSeries::add_break(BreakRecord record) {
  ++break_totals[static_cast<int>(record.cls)];
  if (breaks.size() >= kMaxBreakRecords) {
    ++breaks_not_recorded;
    return -1;
  }
  breaks.push_back(std::move(record));
  return static_cast<int>(breaks.size() - 1);
}

double unix_now() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

std::string rfc3339(double unix_seconds) {
  const auto whole = static_cast<time_t>(std::floor(unix_seconds));
  const auto ms = static_cast<int>((unix_seconds - static_cast<double>(whole)) * 1000);
  tm utc;
  gmtime_r(&whole, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms);
  return buf;
}

}  // namespace echo_probe::monitor
