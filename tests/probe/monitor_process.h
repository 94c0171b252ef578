#pragma once
// `echo-probe monitor` as a child process for tests: its HTTP port on 127.0.0.1:0 (the
// port read from its "monitor started" line), /metrics samples and /report by value.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "echod_process.h"

namespace echo_probe::test {

using echod::test::milliseconds;

/// The sum of every sample of metric `name` whose labels include each of `labels`
/// (`key="value"` strings) in exposition `text`; 0 when none match.
double metric_sum(const std::string& text, const std::string& name,
                  const std::vector<std::string>& labels = {});

class MonitorProcess {
 public:
  /// Starts `echo-probe monitor --listen 127.0.0.1:0 args...` and waits for its start line.
  explicit MonitorProcess(const std::vector<std::string>& args);

  std::uint16_t port() const { return port_; }
  echod::test::ChildProcess& process() { return *child_; }
  /// GET `path` on the monitor's port: the body, or "" when it did not answer 200.
  std::string get(const std::string& path) const;
  /// metric_sum() over a fresh /metrics.
  double metric(const std::string& name, const std::vector<std::string>& labels = {}) const;
  nlohmann::json report() const;

 private:
  std::unique_ptr<echod::test::ChildProcess> child_;
  std::uint16_t port_ = 0;
};

}  // namespace echo_probe::test
