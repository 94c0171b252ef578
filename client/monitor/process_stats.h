#pragma once
// The standard process_* metrics of this process, read from /proc at scrape time.
#include <string>

namespace echo_probe::monitor {

/// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
/// process_open_fds, process_max_fds, process_start_time_seconds, process_threads as
/// exposition text (HELP, TYPE, value), with the Prometheus client libraries' meanings.
std::string render_process_metrics();

}  // namespace echo_probe::monitor
