#pragma once
// The standard process_* metrics, read from /proc at scrape time.
#include <vector>

namespace prometheus {
struct MetricFamily;
}

namespace echod {

/// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
/// process_open_fds, process_max_fds, process_start_time_seconds and process_threads for this
/// process, with the names and meanings of the Prometheus client libraries. prometheus-cpp
/// has no process collector, so each Collect() reads /proc/self. Stateless; any thread.
class ProcessCollector final {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  double start_time_seconds_;  // fixed for the life of the process: read once
};

}  // namespace echod
