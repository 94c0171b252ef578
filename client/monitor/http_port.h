#pragma once
// The monitor's own HTTP port: /metrics, /livez, /readyz, /report (cpp-httplib).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace echo_probe::monitor {

/// What the HTTP port serves, each called on an HTTP thread: metrics and report fill
/// `text` (false = no answer in time: 503), live and ready say why not in `why`.
struct HttpHandlers {
  std::function<bool(std::string* text)> metrics;
  std::function<bool(std::string* text)> report;
  std::function<bool(std::string* why)> live;
  std::function<bool(std::string* why)> ready;
};

/// cpp-httplib on its own thread with a small bounded pool, short read timeouts and a
/// tiny request size cap: a slow or hostile client cannot grow memory or threads. Verbs
/// as in cpp-httplib: bind() (throws std::runtime_error naming the address), start(),
/// stop().
class HttpPort {
 public:
  explicit HttpPort(HttpHandlers handlers);
  ~HttpPort();
  HttpPort(const HttpPort&) = delete;
  HttpPort& operator=(const HttpPort&) = delete;

  /// Binds host:port (port 0 = ephemeral); returns the port bound.
  std::uint16_t bind(const std::string& host, std::uint16_t port);
  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace echo_probe::monitor
