#pragma once
// `echo-probe monitor` command line (SPEC "echo-probe monitor"): parsed and validated.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock.h"
#include "monitor_target.h"
#include "proxy_header.h"
#include "tls_client.h"

namespace echo_probe::monitor {

/// Every setting of one monitor run, validated (durations > 0 where needed, buckets
/// strictly increasing, targets parsed, TLS files loaded).
struct MonitorOptions {
  std::vector<MonitorTarget> targets;
  std::string listen_host;  // empty = every interface
  std::uint16_t listen_port = 9707;
  Nanos interval = kNanosPerSecond;
  int persistent = 2;
  Nanos persistent_interval = 100 * kNanosPerMilli;
  std::size_t size = 64;
  Nanos timeout = 2 * kNanosPerSecond;
  Nanos resolve_interval = 5 * kNanosPerSecond;
  int max_addresses = 64;
  std::vector<double> buckets;  // seconds, strictly increasing
  Nanos duration = 0;           // 0 = until SIGTERM / SIGINT
  std::string report_file;      // empty = none
  bool fail_on_disruption = false;
  std::shared_ptr<const TlsClientContext> tls;  // for tls:// targets; null when there is none
  ProxyVersion proxy = ProxyVersion::kOff;      // on tcp:// and tls:// connections
};

/// The SPEC's default latency buckets, in seconds.
std::vector<double> default_buckets();

/// Options to run, or text and an exit code (0 for --help on stdout, 2 for a usage
/// error: one line naming the argument).
struct MonitorParseOutcome {
  std::optional<MonitorOptions> options;
  int exit_code = 0;
  std::string text;
};

/// `args` are the words after "monitor".
MonitorParseOutcome parse_monitor_options(const std::vector<std::string>& args);

}  // namespace echo_probe::monitor
