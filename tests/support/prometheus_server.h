#pragma once
// A real Prometheus server (the Debian package) for end-to-end tests: started on a free
// loopback port with its own config and TSDB directory, scraping one target every second,
// queried through its HTTP API, stopped by PID and cleaned up when the object goes.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "echod_process.h"

namespace echod::test {

constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";

/// A loopback port nobody listens on right now (the kernel picks it).
std::uint16_t free_port();

class PrometheusServer {
 public:
  /// Scrapes 127.0.0.1:`target_port` (/metrics) as job `job` every second.
  PrometheusServer(const std::string& job, std::uint16_t target_port);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string output() const { return process_->output(); }
  /// GET /-/ready answers 200.
  bool ready() const;
  /// Result of an instant query (`data.result`), or null when the API failed.
  nlohmann::json query(const std::string& promql) const;
  /// The single value of an instant vector query; NaN when there is none.
  double value(const std::string& promql) const;

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace echod::test
