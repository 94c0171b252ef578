#pragma once
// A tiny blocking HTTP/1.1 client and /metrics parsing for the admin-port tests. Raw
// sockets on purpose: the tests control every byte, including the hostile ones.
#include <chrono>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernel_drops.h"

namespace echod::test {

struct HttpReply {
  int status = 0;                              // 0: no parsable answer
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  /// A header's value by lower-case name; empty when absent.
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// One request on a fresh connection (Connection: close); waits for the whole answer.
HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& path,
                       const std::string& body = "", const HeaderList& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
inline HttpReply http_get(std::uint16_t port, const std::string& path) {
  return http_request(port, "GET", path);
}
/// One probe the way the kubelet makes it: a fresh connection, one GET with Connection:
/// close, the answer read to EOF; with how it went, so a failure can be told apart (a SYN
/// the kernel dropped shows as a connect that took 1 s or more: the first SYN retransmit).
struct ProbeOutcome {
  enum class Kind {
    kAnswered,            // a parsable answer (any status) then EOF
    kConnectFailed,       // connect() failed at once (error)
    kConnectTimedOut,     // no handshake within the timeout
    kReset,               // ECONNRESET/EPIPE before the whole answer
    kClosedWithoutAnswer, // EOF before a parsable answer
    kTimedOut,            // connected, but no whole answer and EOF within the timeout
  };
  Kind kind = Kind::kTimedOut;
  int error = 0;  // errno of a failed connect, send or recv
  int status = 0;
  double connect_ms = 0;  // connect() call to established
  double total_ms = 0;    // connect() call to EOF (or the failure)
  std::size_t received = 0;
  bool ok() const { return kind == Kind::kAnswered && status == 200; }
  /// A connect that waited for a SYN retransmit (the kernel's first one is after 1 s).
  bool syn_retransmitted() const { return connect_ms >= 900; }
  /// "connect timed out after 5000.0 ms" / "answered 503 in 2.1 ms (connect 0.1 ms)" ...
  std::string describe() const;
};
/// Probes `path`; `timeout` bounds the connect and, separately, the answer.
ProbeOutcome probe_once(std::uint16_t port, const std::string& path,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

/// Whose fault probes that failed (or were too slow) were, as the first words of a failure
/// message. Probes that connected at once but got a wrong, missing or late answer: "ECHOD".
/// Probes that waited for a SYN retransmit: "ECHOD" when the kernel dropped packets at
/// echod's own admin listener (its sk_drops: accept queue full), else "MACHINE: the kernel
/// dropped the SYN ..." (conntrack, another listener: echod never saw the connection). Lists
/// every probe with the listener's and the namespace's counters. Empty when `bad` is.
std::string blame_probes(const std::vector<ProbeOutcome>& bad, const KernelDrops& drops,
                         const ListenerWatch& admin_listener);

/// Splits a raw HTTP answer (status line, headers, body) as read until EOF.
HttpReply parse_reply(const std::string& raw);

/// GET /metrics body; fails the calling test (ADD_FAILURE) unless it answered 200.
std::string scrape(std::uint16_t port);
/// The value of one series, e.g. `echod_received_bytes_total{protocol="tcp"}`; NaN if absent.
double metric(const std::string& exposition, const std::string& series);
/// Family names from the `# TYPE` lines, in order.
std::vector<std::string> family_names(const std::string& exposition);
/// Number of sample lines (not comments).
std::size_t series_count(const std::string& exposition);

/// Slowloris: keeps `connections` admin connections open, each sending `request_start` and
/// then one more header byte every `every`, reconnecting (and calling `on_reconnect`)
/// whenever the server hangs up, until `stop`.
void slowloris(std::uint16_t port, int connections, const std::string& request_start,
               std::chrono::milliseconds every, const std::atomic<bool>& stop,
               const std::function<void()>& on_reconnect);

}  // namespace echod::test
