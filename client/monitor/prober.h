#pragma once
// What every prober of one address shares, and the interface the monitor drives them by.
#include <cstdint>
#include <string>
#include <vector>

#include "clock.h"
#include "event_loop.h"
#include "monitor_options.h"
#include "series.h"
#include "stream_transport.h"
#include "target.h"

namespace echo_probe::monitor {

/// Loop-thread resources the probers of one monitor share: one read buffer and one
/// verification scratch buffer (a message is at most 64 KiB), the connection-id counter
/// that makes every connection's payload different.
struct ProbeShared {
  explicit ProbeShared(EventLoop& l, const MonitorOptions& o)
      : loop(l), options(o), buffer(kBufferSize), scratch(kBufferSize) {}
  static constexpr std::size_t kBufferSize = 64 * 1024;
  EventLoop& loop;
  const MonitorOptions& options;
  std::vector<char> buffer;
  std::vector<char> scratch;
  std::uint64_t next_connection_id = 1;
};

/// Where a prober reports: the shared resources, its target's and address's series, the
/// address itself and how its target's TCP connections are made (TLS, PROXY header).
struct ProbeContext {
  ProbeShared& shared;
  TargetSeries& target;
  AddressSeries& series;
  Address address;
  const TransportConfig& transport;
};

/// One probing activity on one address (a fresh-connection prober, one persistent
/// connection, one UDP socket). start() once; stop() closes everything and cancels its
/// timer (also called by the destructor of implementations). Loop thread only.
class Prober {
 public:
  virtual ~Prober() = default;
  virtual void start(Nanos now) = 0;
  virtual void stop() = 0;
  /// The address left DNS: finish what is open (a draining pod's connections end in a
  /// break worth recording) but open nothing new. false = nothing open, stop() it now.
  virtual bool retire() = 0;
  /// After retire(): true once it holds nothing open any more.
  virtual bool retired() const = 0;
};

/// Back-off after failed (re)connects: 0 for the first attempt after a connection that
/// worked, then 50 ms doubling up to `cap` (SPEC: "replaced at once, then with back-off up
/// to --interval").
Nanos backoff_delay(int consecutive_failures, Nanos cap);

/// One JSON log line on stdout: {"ts","level","msg", fields...}; `fields` is a JSON object
/// body without braces (may be empty).
void log_json(const char* level, const std::string& msg, const std::string& fields);

}  // namespace echo_probe::monitor
