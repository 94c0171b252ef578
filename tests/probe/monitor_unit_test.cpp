// echo-probe monitor without sockets: its command line, back-off, break classes, the
// Prometheus bucket export of the shared histogram, label escaping and the metric and
// report shapes of a monitor that has probed nothing yet.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "event_loop.h"
#include "histogram.h"
#include "metrics_text.h"
#include "monitor.h"
#include "monitor_options.h"
#include "prober.h"
#include "report_json.h"

namespace echo_probe::monitor {
namespace {

MonitorParseOutcome parse(std::vector<std::string> args) { return parse_monitor_options(args); }

TEST(MonitorOptions, DefaultsAreTheSpecs) {
  const auto r = parse({"tcp://echod.example:7007"});
  ASSERT_TRUE(r.options) << r.text;
  const MonitorOptions& o = *r.options;
  EXPECT_EQ(o.listen_host, "0.0.0.0");
  EXPECT_EQ(o.listen_port, 9707);
  EXPECT_EQ(o.interval, kNanosPerSecond);
  EXPECT_EQ(o.persistent, 2);
  EXPECT_EQ(o.persistent_interval, 100 * kNanosPerMilli);
  EXPECT_EQ(o.size, 64u);
  EXPECT_EQ(o.timeout, 2 * kNanosPerSecond);
  EXPECT_EQ(o.resolve_interval, 5 * kNanosPerSecond);
  EXPECT_EQ(o.max_addresses, 64);
  EXPECT_EQ(o.buckets, default_buckets());
  EXPECT_EQ(o.buckets.size(), 14u);
  EXPECT_EQ(o.duration, 0);
  EXPECT_FALSE(o.fail_on_disruption);
  ASSERT_EQ(o.targets.size(), 1u);
  EXPECT_EQ(o.targets[0].transport, Transport::kTcp);
  EXPECT_EQ(o.targets[0].endpoint.host, "echod.example");
  EXPECT_EQ(o.targets[0].endpoint.port, 7007);
}

TEST(MonitorOptions, ParsesEveryFlagAndSeveralTargets) {
  const auto r = parse({"--listen", "127.0.0.1:0", "--interval", "250ms", "--persistent", "0",
                        "--persistent-interval", "1s", "--size", "512", "--timeout", "500ms",
                        "--resolve-interval", "1m", "--max-addresses", "3", "--buckets",
                        "0.001,0.01", "--duration", "2m", "--report", "/tmp/r.json",
                        "--fail-on-disruption", "tcp://[::1]:7007", "udp://10.0.0.1:7007"});
  ASSERT_TRUE(r.options) << r.text;
  const MonitorOptions& o = *r.options;
  EXPECT_EQ(o.listen_host, "127.0.0.1");
  EXPECT_EQ(o.listen_port, 0);
  EXPECT_EQ(o.persistent, 0);
  EXPECT_EQ(o.size, 512u);
  EXPECT_EQ(o.resolve_interval, 60 * kNanosPerSecond);
  EXPECT_EQ(o.buckets, (std::vector<double>{0.001, 0.01}));
  EXPECT_EQ(o.duration, 120 * kNanosPerSecond);
  EXPECT_EQ(o.report_file, "/tmp/r.json");
  EXPECT_TRUE(o.fail_on_disruption);
  ASSERT_EQ(o.targets.size(), 2u);
  EXPECT_EQ(o.targets[0].endpoint.host, "::1");
  EXPECT_EQ(o.targets[1].transport, Transport::kUdp);
}

TEST(MonitorOptions, TlsTargetsTakeTheTlsSettingsAndProxyAppliesToTcpAndTls) {
  std::string why;
  const auto t = parse_monitor_target("tls://echod.example:7443", &why);
  ASSERT_TRUE(t) << why;
  EXPECT_EQ(t->transport, Transport::kTls);
  const auto r = parse({"--tls-insecure", "--proxy-protocol", "v1", "tls://echod.example:7443",
                        "udp://echod.example:7007"});
  ASSERT_TRUE(r.options) << r.text;
  ASSERT_TRUE(r.options->tls);
  EXPECT_TRUE(r.options->tls->insecure());
  EXPECT_EQ(r.options->proxy, ProxyVersion::kV1);
  const auto plain = parse({"tcp://echod.example:7007"});
  ASSERT_TRUE(plain.options) << plain.text;
  EXPECT_FALSE(plain.options->tls);
}

TEST(MonitorOptions, TlsAndProxySettingsWithoutATargetForThemAreUsageErrors) {
  const auto error = [](const std::vector<std::string>& args) {
    const auto r = parse(args);
    EXPECT_FALSE(r.options);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.text.find('\n'), std::string::npos) << r.text;
    return r.text;
  };
  EXPECT_NE(error({"--tls-ca", "ca.pem", "tcp://h:1"}).find("--tls-ca: needs a tls:// TARGET"),
            std::string::npos);
  EXPECT_NE(error({"--tls-insecure", "udp://h:1"}).find("--tls-insecure: needs a tls:// TARGET"),
            std::string::npos);
  EXPECT_NE(error({"--tls-cert", "c.pem", "tls://h:1"}).find("--tls-cert: needs --tls-key"),
            std::string::npos);
  EXPECT_NE(error({"--tls-ca", "/nonexistent/ca.pem", "tls://h:1"}).find("--tls-ca: cannot read"),
            std::string::npos);
  EXPECT_NE(error({"--proxy-protocol", "v2", "udp://h:1"}).find("--proxy-protocol: needs a tcp://"),
            std::string::npos);
  EXPECT_NE(error({"--proxy-protocol", "v3", "tcp://h:1"}).find("--proxy-protocol: 'v3'"),
            std::string::npos);
}

TEST(MonitorOptions, HelpIsExitZero) {
  const auto r = parse({"--help"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.text.find("--persistent-interval"), std::string::npos);
}

TEST(MonitorBackoff, ImmediateThenDoublingUpToTheCap) {
  const Nanos cap = kNanosPerSecond;
  EXPECT_EQ(backoff_delay(0, cap), 0);
  EXPECT_EQ(backoff_delay(1, cap), 50 * kNanosPerMilli);
  EXPECT_EQ(backoff_delay(2, cap), 100 * kNanosPerMilli);
  EXPECT_EQ(backoff_delay(3, cap), 200 * kNanosPerMilli);
  EXPECT_EQ(backoff_delay(6, cap), cap);
  EXPECT_EQ(backoff_delay(1000, cap), cap);
}

TEST(MonitorBreaks, ErrorClassesMapToBreakClasses) {
  EXPECT_EQ(break_class_of(ErrorClass::kClosed), BreakClass::kClosed);
  EXPECT_EQ(break_class_of(ErrorClass::kReset), BreakClass::kReset);
  EXPECT_EQ(break_class_of(ErrorClass::kTimeout), BreakClass::kTimeout);
  EXPECT_EQ(break_class_of(ErrorClass::kMismatch), BreakClass::kMismatch);
  EXPECT_EQ(break_class_of(ErrorClass::kTls), BreakClass::kReset);  // after a verified echo
  EXPECT_STREQ(break_class_name(BreakClass::kGraceful), "graceful");
}

TEST(MonitorBreaks, RecordsAreBoundedButTotalsKeepCounting) {
  TargetSeries t("tcp://x:1");
  for (std::size_t i = 0; i < TargetSeries::kMaxBreakRecords + 5; ++i) {
    BreakRecord b;
    b.cls = BreakClass::kReset;
    t.add_break(b);
  }
  EXPECT_EQ(t.breaks.size(), TargetSeries::kMaxBreakRecords);
  EXPECT_EQ(t.breaks_not_recorded, 5u);
  EXPECT_EQ(t.break_totals[static_cast<int>(BreakClass::kReset)],
            TargetSeries::kMaxBreakRecords + 5);
}

TEST(HistogramBuckets, CumulativeCountsAtPrometheusBounds) {
  Histogram h;
  for (std::uint64_t ns : {50'000ull, 200'000ull, 900'000ull, 3'000'000ull, 3'000'000'000ull}) {
    h.record(ns);
  }
  const auto c = h.cumulative_counts({100'000, 1'000'000, 2'500'000'000});
  EXPECT_EQ(c, (std::vector<std::uint64_t>{1, 3, 4}));
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.sum(), 3'004'150'000u);
}

TEST(MetricsText, EscapesLabelValues) {
  EXPECT_EQ(escape_label_value(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
}

TEST(MetricsText, AMonitorWithNoAddressYetExportsTargetFamilies) {
  const auto r = parse({"--listen", "127.0.0.1:0", "tcp://echod.example:7007"});
  ASSERT_TRUE(r.options);
  EventLoop loop;
  Monitor m(loop, *r.options);
  const std::string text = render_metrics(m);
  EXPECT_NE(text.find("echo_probe_addresses{target=\"tcp://echod.example:7007\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("echo_probe_reconnect_seconds_bucket{target=\"tcp://echod.example:7007\","
                      "le=\"0.0001\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("echo_probe_build_info{version=\""), std::string::npos);
  EXPECT_NE(text.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_FALSE(m.resolved_once());
  EXPECT_FALSE(m.disrupted());

  const auto report = nlohmann::json::parse(render_report(m));
  EXPECT_EQ(report["targets"][0]["target"], "tcp://echod.example:7007");
  EXPECT_TRUE(report["targets"][0]["breaks"].empty());
  EXPECT_EQ(report["targets"][0]["totals"]["breaks"], 0);
}

}  // namespace
}  // namespace echo_probe::monitor
