#include "metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

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
#include "instance_identity.h"
#include "lifecycle.h"
#include "process_metrics.h"
#include "version.h"
#include "worker_stats.h"

namespace echod {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::size_t kRejectReasons = static_cast<std::size_t>(RejectReason::kCount);
constexpr std::size_t kCloseReasons = static_cast<std::size_t>(CloseReason::kCount);
constexpr std::size_t kFaultActions = static_cast<std::size_t>(FaultAction::kCount);
constexpr std::size_t kProxyHeaderResults = static_cast<std::size_t>(ProxyHeaderResult::kCount);

/// One row of ECHOD_WORKER_COUNTERS: where the counter lives and how it is exported.
struct CounterRow {
  LocalCounter WorkerStats::*member;
  std::string_view family;
  std::string_view label;
  std::string_view value;
  std::string_view help;
};
#define ECHOD_COUNTER_ROW(member, family, label, value, help) \
  CounterRow{&WorkerStats::member, family, label, value, help},
constexpr CounterRow kCounterRows[] = {ECHOD_WORKER_COUNTERS(ECHOD_COUNTER_ROW)};
#undef ECHOD_COUNTER_ROW
constexpr std::size_t kCounterCount = std::size(kCounterRows);

/// One consistent-enough copy of every worker's counters added together.
struct Totals {
  std::array<std::uint64_t, kCounterCount> counters{};  // in kCounterRows order
  std::array<std::uint64_t, kRejectReasons> rejected{};
  std::array<std::uint64_t, kCloseReasons> closed{};
  std::array<std::uint64_t, kFaultActions> faults{};
  std::array<std::uint64_t, kProxyHeaderResults> proxy_headers{};
};

Totals sum_workers(const EchoServer& echo) {
  Totals t;
  for (std::size_t w = 0; w < echo.worker_count(); ++w) {
    const WorkerStats& s = echo.worker_stats(w);
    for (std::size_t i = 0; i < kCounterCount; ++i) {
      t.counters[i] += (s.*kCounterRows[i].member).get();
    }
    for (std::size_t i = 0; i < kRejectReasons; ++i) t.rejected[i] += s.rejected[i].get();
    for (std::size_t i = 0; i < kCloseReasons; ++i) t.closed[i] += s.closed[i].get();
    for (std::size_t i = 0; i < kFaultActions; ++i) t.faults[i] += s.faults_injected[i].get();
    for (std::size_t i = 0; i < kProxyHeaderResults; ++i) {
      t.proxy_headers[i] += s.proxy_headers[i].get();
    }
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

/// One histogram family: the `member` histogram of every worker added together.
template <const auto& Bounds>
MetricFamily histogram(const EchoServer& echo, SecondsHistogram<Bounds> WorkerStats::*member,
                       std::string name, std::string help) {
  constexpr std::size_t kBuckets = Bounds.size() + 1;  // + the +Inf
  std::array<std::uint64_t, kBuckets> buckets{};       // not cumulative
  double sum_seconds = 0;
  for (std::size_t w = 0; w < echo.worker_count(); ++w) {
    const auto& h = echo.worker_stats(w).*member;
    for (std::size_t i = 0; i < kBuckets; ++i) buckets[i] += h.bucket(i);
    sum_seconds += h.sum_seconds();
  }
  MetricFamily f = family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric m;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    cumulative += buckets[i];
    ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < Bounds.size() ? Bounds[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = sum_seconds;
  f.metric.push_back(std::move(m));
  return f;
}

/// TLS families the worker counters do not cover: reloads (done by the daemon) and the
/// served certificate's expiry (only while a TLS listener serves one).
void append_tls(const EchoServer& echo, std::vector<MetricFamily>& out) {
  out.push_back(histogram(echo, &WorkerStats::tls_handshake_duration,
                          "echod_tls_handshake_duration_seconds",
                          "Time from TCP accept to a finished TLS handshake."));
  const EchoServer::TlsStatus tls = echo.tls_status();
  constexpr std::array<std::string_view, 2> kResults{"success", "failure"};
  out.push_back(labelled_counter(
      "echod_tls_reloads_total",
      "TLS certificate reloads (SIGHUP, files changed on disk), by result; a failure keeps "
      "the certificate served before.",
      "result", kResults, std::array<std::uint64_t, 2>{tls.reload_successes, tls.reload_failures}));
  if (tls.enabled) {
    out.push_back(single("echod_tls_certificate_expiry_timestamp_seconds",
                         "notAfter of the certificate the TLS listener serves, as Unix time.",
                         MetricType::Gauge, tls.leaf_not_after_unix));
  }
}

/// The families built from ECHOD_WORKER_COUNTERS: adjacent rows of one name are one family.
void append_worker_counters(const Totals& t, std::vector<MetricFamily>& out) {
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    const CounterRow& row = kCounterRows[i];
    if (i == 0 || kCounterRows[i - 1].family != row.family) {
      out.push_back(family(std::string(row.family), std::string(row.help), MetricType::Counter));
    }
    std::vector<ClientMetric::Label> labels;
    if (!row.label.empty()) labels.push_back({std::string(row.label), std::string(row.value)});
    out.back().metric.push_back(
        sample(MetricType::Counter, static_cast<double>(t.counters[i]), std::move(labels)));
  }
}

}  // namespace

struct MetricsExporter::Impl {
  const EchoServer& echo;
  const ConfigStore& store;
  const Lifecycle& lifecycle;
  const InstanceIdentity& identity;
  ProcessCollector process;

  std::vector<MetricFamily> collect() const;
};

MetricsExporter::MetricsExporter(const EchoServer& echo, const ConfigStore& store,
                                 const Lifecycle& lifecycle, const InstanceIdentity& identity)
    : impl_(std::make_unique<Impl>(Impl{echo, store, lifecycle, identity, ProcessCollector()})) {}

MetricsExporter::~MetricsExporter() = default;

std::string MetricsExporter::scrape() const {
  std::vector<MetricFamily> families = impl_->collect();
  std::vector<MetricFamily> process = impl_->process.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return prometheus::TextSerializer().Serialize(families);
}

std::vector<MetricFamily> MetricsExporter::Impl::collect() const {
  const Totals t = sum_workers(echo);
  const ConfigStore::ReloadStatus reload = store.reload_status();
  constexpr auto kGauge = MetricType::Gauge;

  std::vector<MetricFamily> out;
  out.reserve(20);

  MetricFamily build =
      family("echod_build_info", "echod version and source revision; always 1.", kGauge);
  build.metric.push_back(sample(kGauge, 1, {{"version", kVersion}, {"revision", kRevision}}));
  out.push_back(std::move(build));

  MetricFamily instance = family(
      "echod_instance_info",
      "The pod, namespace and node echod runs in (downward API environment); always 1.", kGauge);
  instance.metric.push_back(sample(kGauge, 1,
                                   {{"pod", identity.pod},
                                    {"namespace", identity.pod_namespace},
                                    {"node", identity.node}}));
  out.push_back(std::move(instance));

  out.push_back(single("echod_connections_active", "TCP connections open now.", kGauge,
                       static_cast<double>(echo.active_connections())));
  append_worker_counters(t, out);
  // Per worker, so an operator (and the SO_REUSEPORT spread test) can see how evenly the
  // kernel hands connections to the workers. One series per worker thread: bounded by
  // --workers, which defaults to the CPUs echod may use.
  MetricFamily per_worker = family("echod_worker_connections_accepted_total",
                                   "TCP connections accepted, by worker thread (SO_REUSEPORT "
                                   "spreads new connections by a hash of their addresses).",
                                   MetricType::Counter);
  for (std::size_t w = 0; w < echo.worker_count(); ++w) {
    per_worker.metric.push_back(sample(MetricType::Counter,
                                       static_cast<double>(echo.worker_stats(w).accepted.get()),
                                       {{"worker", std::to_string(w)}}));
  }
  out.push_back(std::move(per_worker));
  out.push_back(labelled_counter("echod_connections_rejected_total",
                                 "TCP connections closed at once instead of served, by reason.",
                                 "reason", kRejectReasonNames, t.rejected));
  out.push_back(labelled_counter("echod_connections_closed_total",
                                 "TCP connections closed, by reason.", "reason", kCloseReasonNames,
                                 t.closed));
  out.push_back(histogram(echo, &WorkerStats::connection_duration,
                          "echod_connection_duration_seconds",
                          "How long TCP connections stayed open, recorded when they closed."));
  append_tls(echo, out);
  out.push_back(labelled_counter(
      "echod_faults_injected_total",
      "Faults injected by fault rules, by action: delay, bandwidth and corrupt per connection "
      "given the rule, refuse per connection, close, reset and stall when they happen, drop "
      "per datagram.",
      "action", kFaultActionNames, t.faults));
  out.push_back(labelled_counter(
      "echod_proxy_protocol_headers_total",
      "PROXY protocol headers read on the echo listeners, by result (invalid, timeout and "
      "untrusted connections were closed); all 0 while --proxy-protocol is off.",
      "result", kProxyHeaderResultNames, t.proxy_headers));
  out.push_back(single("echod_fault_rules",
                       "Fault-injection rules active now (PUT /faults, config key faults); "
                       "0 in production.",
                       kGauge, static_cast<double>(store.runtime().faults.rules.size())));

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
                       lifecycle.shutting_down() ? 1 : 0));
  return out;
}

}  // namespace echod
