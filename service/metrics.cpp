#include "metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config_store.h"
#include "echo_server.h"
#include "lifecycle.h"
#include "version.h"
#include "worker_stats.h"

namespace echod {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::size_t kRejectReasons = static_cast<std::size_t>(RejectReason::kCount);
constexpr std::size_t kCloseReasons = static_cast<std::size_t>(CloseReason::kCount);
constexpr std::size_t kBuckets = DurationHistogram::kBoundsSeconds.size() + 1;  // + the +Inf

/// One consistent-enough copy of every worker's counters added together.
struct Totals {
  std::uint64_t accepted = 0;
  std::array<std::uint64_t, kRejectReasons> rejected{};
  std::array<std::uint64_t, kCloseReasons> closed{};
  std::uint64_t tcp_received = 0;
  std::uint64_t tcp_sent = 0;
  std::uint64_t udp_received = 0;
  std::uint64_t udp_sent = 0;
  std::uint64_t udp_datagrams = 0;
  std::uint64_t udp_dropped_privileged = 0;
  std::uint64_t backpressure_pauses = 0;
  std::array<std::uint64_t, kBuckets> duration_buckets{};  // not cumulative
  double duration_sum_seconds = 0;
};

Totals sum_workers(const EchoServer& echo) {
  Totals t;
  for (std::size_t w = 0; w < echo.worker_count(); ++w) {
    const WorkerStats& s = echo.worker_stats(w);
    t.accepted += s.accepted.get();
    for (std::size_t i = 0; i < kRejectReasons; ++i) t.rejected[i] += s.rejected[i].get();
    for (std::size_t i = 0; i < kCloseReasons; ++i) t.closed[i] += s.closed[i].get();
    t.tcp_received += s.tcp_received_bytes.get();
    t.tcp_sent += s.tcp_sent_bytes.get();
    t.udp_received += s.udp_received_bytes.get();
    t.udp_sent += s.udp_sent_bytes.get();
    t.udp_datagrams += s.udp_datagrams.get();
    t.udp_dropped_privileged += s.udp_dropped_privileged.get();
    t.backpressure_pauses += s.backpressure_pauses.get();
    for (std::size_t i = 0; i < kBuckets; ++i) {
      t.duration_buckets[i] += s.connection_duration.bucket(i);
    }
    t.duration_sum_seconds += s.connection_duration.sum_seconds();
  }
  return t;
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric sample(MetricType type, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

MetricFamily single(std::string name, std::string help, MetricType type, double value) {
  MetricFamily f = family(std::move(name), std::move(help), type);
  f.metric.push_back(sample(type, value));
  return f;
}

/// A counter family with one series per known label value, all present even at 0.
template <std::size_t N>
MetricFamily labelled_counter(std::string name, std::string help, std::string label,
                              const std::array<std::string_view, N>& values,
                              const std::array<std::uint64_t, N>& counts) {
  MetricFamily f = family(std::move(name), std::move(help), MetricType::Counter);
  for (std::size_t i = 0; i < N; ++i) {
    f.metric.push_back(sample(MetricType::Counter, static_cast<double>(counts[i]),
                              {{label, std::string(values[i])}}));
  }
  return f;
}

MetricFamily duration_histogram(const Totals& t) {
  MetricFamily f = family("echod_connection_duration_seconds",
                          "How long TCP connections stayed open, recorded when they closed.",
                          MetricType::Histogram);
  ClientMetric m;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    cumulative += t.duration_buckets[i];
    ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < DurationHistogram::kBoundsSeconds.size()
                        ? DurationHistogram::kBoundsSeconds[i]
                        : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = t.duration_sum_seconds;
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

EchodCollector::EchodCollector(const EchoServer& echo, const ConfigStore& store,
                               const Lifecycle& lifecycle)
    : echo_(echo), store_(store), lifecycle_(lifecycle) {}

std::vector<MetricFamily> EchodCollector::Collect() const {
  const Totals t = sum_workers(echo_);
  const ConfigStore::ReloadStatus reload = store_.reload_status();
  constexpr auto kCounter = MetricType::Counter;
  constexpr auto kGauge = MetricType::Gauge;

  std::vector<MetricFamily> out;
  out.reserve(20);

  MetricFamily build =
      family("echod_build_info", "echod version and source revision; always 1.", kGauge);
  build.metric.push_back(sample(kGauge, 1, {{"version", kVersion}, {"revision", kRevision}}));
  out.push_back(std::move(build));

  out.push_back(single("echod_connections_active", "TCP connections open now.", kGauge,
                       static_cast<double>(echo_.active_connections())));
  out.push_back(single("echod_connections_accepted_total", "TCP connections accepted.", kCounter,
                       static_cast<double>(t.accepted)));
  out.push_back(labelled_counter("echod_connections_rejected_total",
                                 "TCP connections closed at once instead of served, by reason.",
                                 "reason", kRejectReasonNames, t.rejected));
  out.push_back(labelled_counter("echod_connections_closed_total",
                                 "TCP connections closed, by reason.", "reason", kCloseReasonNames,
                                 t.closed));

  constexpr std::array<std::string_view, 2> kProtocols{"tcp", "udp"};
  out.push_back(labelled_counter("echod_received_bytes_total", "Bytes received, by protocol.",
                                 "protocol", kProtocols,
                                 std::array<std::uint64_t, 2>{t.tcp_received, t.udp_received}));
  out.push_back(labelled_counter("echod_sent_bytes_total", "Bytes echoed back, by protocol.",
                                 "protocol", kProtocols,
                                 std::array<std::uint64_t, 2>{t.tcp_sent, t.udp_sent}));
  out.push_back(single("echod_udp_datagrams_total", "UDP datagrams echoed.", kCounter,
                       static_cast<double>(t.udp_datagrams)));
  constexpr std::array<std::string_view, 1> kDropReasons{"privileged_source_port"};
  out.push_back(labelled_counter(
      "echod_udp_dropped_total",
      "UDP datagrams dropped without an answer, by reason (source ports below 1024 could be "
      "another echo service: answering would start a loop).",
      "reason", kDropReasons, std::array<std::uint64_t, 1>{t.udp_dropped_privileged}));
  out.push_back(duration_histogram(t));
  out.push_back(single("echod_backpressure_pauses_total",
                       "Times a connection stopped reading because its peer did not read.",
                       kCounter, static_cast<double>(t.backpressure_pauses)));

  constexpr std::array<std::string_view, 2> kResults{"success", "failure"};
  out.push_back(labelled_counter("echod_config_reloads_total", "SIGHUP config reloads, by result.",
                                 "result", kResults,
                                 std::array<std::uint64_t, 2>{reload.successes, reload.failures}));
  out.push_back(single("echod_config_last_reload_successful",
                       "1 if the last config reload was applied, 0 if it was rejected.", kGauge,
                       reload.last_successful ? 1 : 0));
  out.push_back(single("echod_config_last_reload_success_timestamp_seconds",
                       "Unix time of the last applied config (start time until a reload).", kGauge,
                       reload.last_success_unix_seconds));
  out.push_back(single("echod_shutting_down",
                       "1 once SIGTERM/SIGINT started the graceful shutdown, else 0.", kGauge,
                       lifecycle_.shutting_down() ? 1 : 0));
  return out;
}

}  // namespace echod
