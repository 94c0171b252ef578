#pragma once
// The load engine: worker threads, connection placement, progress, stop, merged results.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "options.h"
#include "stats.h"
#include "target.h"

namespace echo_probe {

/// Results of one tcp or udp run, merged over every worker thread.
struct LoadResult {
  Stats total;
  std::vector<Stats> per_address;      // same order as the addresses run against
  std::vector<std::string> addresses;  // "127.0.0.1:7007", "[::1]:7007"
  std::vector<int> connections_per_address;
  double duration_s = 0;
  int threads = 0;
  bool interrupted = false;  // stopped early by SIGINT / SIGTERM
};

/// Live totals, once per second, for the progress line.
struct ProgressSample {
  double elapsed_s = 0;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t errors = 0;
};
using ProgressFn = std::function<void(const ProgressSample&)>;

/// Runs `options` (tcp or udp) against `addresses`: connection i goes to worker thread
/// i % threads and address i % addresses.size(). Blocks until every connection finished
/// (count reached, --duration over and the last echoes in, or SIGINT/SIGTERM: no new
/// messages, in-flight ones get --timeout to return). Calls `on_progress` on the calling
/// thread about once per second. Throws std::runtime_error when epoll/threads fail.
LoadResult run_load(const Options& options, const std::vector<Address>& addresses,
                    const ProgressFn& on_progress);

}  // namespace echo_probe
