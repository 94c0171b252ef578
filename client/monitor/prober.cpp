#include "prober.h"

#include <cstdio>

namespace echo_probe::monitor {

Nanos backoff_delay(int consecutive_failures, Nanos cap) {
  if (consecutive_failures <= 0) return 0;
  Nanos delay = 50 * kNanosPerMilli;
  for (int i = 1; i < consecutive_failures && delay < cap; ++i) delay *= 2;
  return delay < cap ? delay : cap;
}

void log_json(const char* level, const std::string& msg, const std::string& fields) {
  std::string line = std::string("{\"ts\":\"") + rfc3339(unix_now()) + "\",\"level\":\"" + level +
                     "\",\"msg\":\"" + msg + "\"";
  if (!fields.empty()) line += "," + fields;
  line += "}\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace echo_probe::monitor
