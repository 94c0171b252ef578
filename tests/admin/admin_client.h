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
