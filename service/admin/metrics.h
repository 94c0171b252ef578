#pragma once
// /metrics: echod's families, built at scrape time from the per-worker counters, and the
// process_* families. prometheus-cpp stays inside metrics.cpp and process_metrics.cpp.
#include <memory>
#include <string>

namespace echod {

class ConfigStore;
class EchoServer;
class Lifecycle;
struct InstanceIdentity;

/// Every echod_* family of SPEC "Metrics", built on each scrape() from the workers'
/// single-writer counters (summed over workers; the duration histogram merged bucket by
/// bucket), the reload status, the lifecycle and the instance identity, plus process_*.
/// Every known label value is present from the first scrape, at 0. Holds references only;
/// any thread may call scrape(), which reads relaxed counters and so never slows a worker.
class MetricsExporter {
 public:
  MetricsExporter(const EchoServer& echo, const ConfigStore& store, const Lifecycle& lifecycle,
                  const InstanceIdentity& identity);
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  /// The Prometheus text exposition (format 0.0.4).
  std::string scrape() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace echod
