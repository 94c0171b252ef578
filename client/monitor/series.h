#pragma once
// What the monitor measured, per target and per resolved address: the data behind
// /metrics and /report. Written and read on the event-loop thread only.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock.h"
#include "error_class.h"
#include "histogram.h"

namespace echo_probe::monitor {

/// `mode` label: a fresh connection per --interval, or a long-lived one.
enum class Mode : std::uint8_t { kNew, kPersistent };
constexpr int kModeCount = 2;
const char* mode_name(Mode m);

/// How a persistent connection ended (SPEC): graceful = FIN with nothing outstanding.
enum class BreakClass : std::uint8_t { kGraceful, kClosed, kReset, kTimeout, kMismatch };
constexpr int kBreakClassCount = 5;
const char* break_class_name(BreakClass c);
/// The break class of an error class seen on an open persistent connection.
BreakClass break_class_of(ErrorClass c);

/// Counters of one mode on one address.
struct ModeSeries {
  std::uint64_t messages = 0;  // fully sent
  std::uint64_t verified = 0;  // echoed back byte for byte
  std::uint64_t lost = 0;      // sent (at least partly) and never verified: an error or break hit it
  ErrorCounts errors;
  Histogram rtt_ns;
};

/// Everything exported for one resolved address of one target. Kept (frozen) for a while
/// after the address left DNS, then dropped with its labels.
struct AddressSeries {
  explicit AddressSeries(std::string a) : address(std::move(a)) {}
  std::string address;  // "10.0.0.5:7007", "[fd00::5]:7007"
  std::array<ModeSeries, kModeCount> modes;
  Histogram connect_ns;
  Histogram tls_handshake_ns;  // tls:// targets: TCP connected to TLS ready
  std::string last_tls_error;  // the last TLS failure logged (one log line per change)
  int persistent_connections = 0;
  std::array<std::uint64_t, kBreakClassCount> breaks{};
  double last_success_unix = 0;  // wall clock of the last verified echo; 0 = never
  bool probed = true;            // false once it left DNS (frozen)
  Nanos departed_at = 0;

  ModeSeries& mode(Mode m) { return modes[static_cast<int>(m)]; }
  const ModeSeries& mode(Mode m) const { return modes[static_cast<int>(m)]; }
};

/// One break of a persistent connection, for /report.
struct BreakRecord {
  double time_unix = 0;
  std::string address;
  BreakClass cls = BreakClass::kGraceful;
  double connection_age_s = 0;
  std::optional<double> outage_ms;  // break to the next verified echo; unset until then
};

/// Everything exported for one TARGET.
struct TargetSeries {
  static constexpr std::size_t kMaxBreakRecords = 2000;  // bound for a server that flaps

  explicit TargetSeries(std::string t, bool is_tls = false) : target(std::move(t)), tls(is_tls) {}
  std::string target;
  bool tls = false;  // a tls:// target: echo_probe_tls_handshake_seconds is exported
  std::map<std::string, std::unique_ptr<AddressSeries>> addresses;  // probed and frozen
  Histogram reconnect_ns;
  std::uint64_t dns_errors = 0;
  std::vector<BreakRecord> breaks;  // the first kMaxBreakRecords, in order
  std::uint64_t breaks_not_recorded = 0;
  std::array<std::uint64_t, kBreakClassCount> break_totals{};

  int probed_addresses() const;
  /// Records a break; returns its index in `breaks`, or -1 when past the bound.
  int add_break(BreakRecord record);
};

/// Wall clock in seconds since the epoch (labels and report times; latency uses Nanos).
double unix_now();
/// RFC 3339 UTC with milliseconds, e.g. "2026-12-02T03:40:00.123Z".
std::string rfc3339(double unix_seconds);

}  // namespace echo_probe::monitor
