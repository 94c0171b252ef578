#pragma once
// echod's Prometheus families, built at scrape time from the per-worker counters.
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace echod {

class ConfigStore;
class EchoServer;
class Lifecycle;

/// Every echod_* family of SPEC "Metrics", built on each Collect() from the workers'
/// single-writer counters (summed over workers; the duration histogram merged bucket by
/// bucket), the reload status and the lifecycle. Every known label value is present from the
/// first scrape, at 0. Holds references only; any thread may call Collect(), which reads
/// relaxed counters and so never slows a worker down.
class EchodCollector final : public prometheus::Collectable {
 public:
  EchodCollector(const EchoServer& echo, const ConfigStore& store, const Lifecycle& lifecycle);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const EchoServer& echo_;
  const ConfigStore& store_;
  const Lifecycle& lifecycle_;
};

}  // namespace echod
