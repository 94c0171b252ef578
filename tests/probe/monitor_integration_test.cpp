// `echo-probe monitor` against real parts: a real echod drained by SIGTERM and killed by
// SIGKILL, loopback fakes that stall or flip bytes, and its command line. Every wait is on
// a condition of /metrics or /report, never a bare sleep.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "echod_process.h"
#include "fake_servers.h"
#include "monitor_process.h"
#include "net_helpers.h"
#include "run_command.h"

namespace echo_probe::test {
namespace {

using echod::test::EchodProcess;
using echod::test::wait_until;
using json = nlohmann::json;

constexpr milliseconds kWait{15'000};

std::string tcp_target(std::uint16_t port) { return "tcp://127.0.0.1:" + std::to_string(port); }

// ---- bad input ----------------------------------------------------------------------

struct BadInput {
  std::string name;  // the test's name
  std::vector<std::string> args;
  std::string names;  // what the one-line error must mention
};

class MonitorBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(MonitorBadInput, ExitsTwoWithOneLineNamingTheProblem) {
  std::vector<std::string> args{"monitor", "--listen", "127.0.0.1:0"};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  const auto r = run_probe(args, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().names), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MonitorBadInput,
    ::testing::Values(BadInput{"NoScheme", {"127.0.0.1:7007"}, "SCHEME://HOST:PORT"},
                      BadInput{"UnknownScheme", {"http://127.0.0.1:7007"}, "unknown scheme 'http'"},
                      BadInput{"NoPort", {"tcp://127.0.0.1"}, "tcp://HOST:PORT"},
                      BadInput{"PortOutOfRange", {"tcp://127.0.0.1:99999"}, "tcp://HOST:PORT"},
                      BadInput{"TlsSettingWithoutTlsTarget", {"--tls-ca", "ca.pem", "tcp://127.0.0.1:7007"}, "--tls-ca: needs a tls:// TARGET"},
                      BadInput{"ProxyProtocolV3", {"--proxy-protocol", "v3", "tcp://127.0.0.1:7007"}, "--proxy-protocol"},
                      BadInput{"BucketsNotIncreasing", {"--buckets", "0.1,0.05", "tcp://127.0.0.1:7007"}, "--buckets"},
                      BadInput{"BucketNotANumber", {"--buckets", "0.1,x", "tcp://127.0.0.1:7007"}, "--buckets"},
                      BadInput{"BadDuration", {"--duration", "5x", "tcp://127.0.0.1:7007"}, "--duration"},
                      BadInput{"ZeroInterval", {"--interval", "0s", "tcp://127.0.0.1:7007"}, "--interval"},
                      BadInput{"BadListen", {"--listen", "nope", "tcp://127.0.0.1:7007"}, "--listen"},
                      BadInput{"NoTarget", {}, "TARGET"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

// ---- loopback fakes -----------------------------------------------------------------

TEST(MonitorFakes, StallingServerGivesTimeoutBreaksAndErrors) {
  FakeTcpServer stall(Behavior::kStall);
  MonitorProcess m({"--timeout", "200ms", "--persistent", "1", "--interval", "300ms",
                    tcp_target(stall.port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  EXPECT_TRUE(wait_until([&] { return m.metric("echo_probe_breaks_total", {"class=\"timeout\""}) >= 1; },
                         kWait, milliseconds(50)))
      << m.get("/metrics");
  EXPECT_TRUE(wait_until(
      [&] {
        return m.metric("echo_probe_errors_total", {"mode=\"new\"", "class=\"timeout\""}) >= 1;
      },
      kWait, milliseconds(50)));
  const auto text = m.get("/metrics");
  EXPECT_EQ(metric_sum(text, "echo_probe_verified_total"), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_breaks_total", {"class=\"graceful\""}), 0);
}

TEST(MonitorFakes, ByteFlippingServerGivesMismatchAndTheConnectionIsReplaced) {
  // Flips one bit at stream offset 100: the second 64-byte message of every connection.
  FakeTcpServer flip(Behavior::kCorruptByte, 100);
  MonitorProcess m({"--persistent", "1", "--persistent-interval", "20ms", "--interval", "5s",
                    tcp_target(flip.port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  EXPECT_TRUE(wait_until(
      [&] { return m.metric("echo_probe_breaks_total", {"class=\"mismatch\""}) >= 2; }, kWait,
      milliseconds(50)))
      << m.get("/metrics");
  const auto text = m.get("/metrics");
  // The first message of each connection verified, the corrupted one did not.
  EXPECT_GE(metric_sum(text, "echo_probe_verified_total", {"mode=\"persistent\""}), 2);
  EXPECT_GE(metric_sum(text, "echo_probe_errors_total",
                       {"mode=\"persistent\"", "class=\"mismatch\""}),
            2);
  EXPECT_GE(flip.accepted(), 3u);  // replaced after each mismatch (plus the fresh probe)
}

TEST(MonitorExit, FailOnDisruptionExitsOneAfterAResetAndWritesTheReport) {
  FakeTcpServer reset(Behavior::kReset, 64);  // echo one message, then RST
  const std::string report =
      std::filesystem::temp_directory_path() / ("monitor-report-" + std::to_string(getpid()));
  const auto r = run_probe({"monitor", "--listen", "127.0.0.1:0", "--duration", "1s",
                            "--persistent", "1", "--persistent-interval", "50ms",
                            "--fail-on-disruption", "--report", report, tcp_target(reset.port())},
                           std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  std::ifstream in(report);
  const json j = json::parse(in, nullptr, false);
  std::filesystem::remove(report);
  ASSERT_TRUE(j.is_object());
  const auto& t = j["targets"][0];
  EXPECT_GE(t["totals"]["break_classes"]["reset"].get<int>(), 1) << t.dump();
  EXPECT_EQ(t["breaks"][0]["class"], "reset");
  EXPECT_EQ(t["breaks"][0]["address"], "127.0.0.1:" + std::to_string(reset.port()));
}

TEST(MonitorExit, FailOnDisruptionExitsZeroWhenEveryBreakWasGraceful) {
  // Echoes one whole message, then FIN with nothing outstanding: a drain.
  FakeTcpServer close_after_one(Behavior::kCloseEarly, 64);
  const auto r = run_probe({"monitor", "--listen", "127.0.0.1:0", "--duration", "1s",
                            "--persistent", "1", "--persistent-interval", "200ms",
                            "--fail-on-disruption", tcp_target(close_after_one.port())},
                           std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("\"class\":\"graceful\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\"class\":\"closed\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\"class\":\"reset\""), std::string::npos) << r.out;
}

TEST(MonitorUdp, VerifiesDatagramsAndCountsLossAsTimeouts) {
  FakeUdpServer echo(FakeUdpServer::Mode::kEcho);
  FakeUdpServer drop(FakeUdpServer::Mode::kDrop);
  const std::string good = "udp://127.0.0.1:" + std::to_string(echo.port());
  const std::string lossy = "udp://127.0.0.1:" + std::to_string(drop.port());
  MonitorProcess m({"--persistent", "1", "--persistent-interval", "20ms", "--interval", "100ms",
                    "--timeout", "100ms", good, lossy});
  ASSERT_NE(m.port(), 0) << m.process().output();
  const std::string good_label = "target=\"" + good + "\"";
  const std::string lossy_label = "target=\"" + lossy + "\"";
  EXPECT_TRUE(wait_until(
      [&] {
        const auto t = m.get("/metrics");
        return metric_sum(t, "echo_probe_verified_total", {good_label, "mode=\"persistent\""}) >= 10 &&
               metric_sum(t, "echo_probe_verified_total", {good_label, "mode=\"new\""}) >= 2 &&
               metric_sum(t, "echo_probe_errors_total", {lossy_label, "class=\"timeout\""}) >= 3;
      },
      kWait, milliseconds(20)))
      << m.get("/metrics");
  const auto t = m.get("/metrics");
  EXPECT_EQ(metric_sum(t, "echo_probe_errors_total", {good_label}), 0);
  EXPECT_EQ(metric_sum(t, "echo_probe_verified_total", {lossy_label}), 0);
  EXPECT_EQ(metric_sum(t, "echo_probe_persistent_connections", {good_label}), 1);
}

// ---- a real echod ---------------------------------------------------------------------

TEST(MonitorEchod, SigtermWithShortDrainGivesOnlyGracefulBreaksAndNothingLost) {
  // A message in flight when echod closes is lost (and rightly `closed`). So the three
  // connections (opened together, so sending together) send once a second, and the
  // SIGTERM lands right after a round: the drain (200 ms) ends between two rounds.
  EchodProcess echod({"--drain-timeout", "200ms"});
  MonitorProcess m({"--persistent", "3", "--persistent-interval", "1s", "--interval", "5s",
                    tcp_target(echod.echo_port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  const std::vector<std::string> persistent{"mode=\"persistent\""};
  ASSERT_TRUE(wait_until(
      [&] {
        return m.metric("echo_probe_verified_total", persistent) >= 3 &&
               m.metric("echo_probe_persistent_connections") == 3;
      },
      kWait, milliseconds(10)));
  ASSERT_TRUE(wait_until([&] { return m.metric("echo_probe_verified_total", persistent) >= 6; },
                         kWait, milliseconds(10)));
  echod.signal(SIGTERM);
  ASSERT_EQ(echod.wait_exit(milliseconds(10'000)), 0);
  // Every persistent connection broke, and the reconnects find nobody listening.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto t = m.get("/metrics");
        return metric_sum(t, "echo_probe_breaks_total") >= 3 &&
               metric_sum(t, "echo_probe_errors_total", {"class=\"refused\""}) >= 1;
      },
      kWait, milliseconds(20)));
  m.process().signal(SIGTERM);
  EXPECT_EQ(m.process().wait_exit(milliseconds(10'000)), 0);
  m.process().join_output();
  const auto text = m.process().output();
  std::size_t graceful = 0, other = 0;
  for (const auto& line : m.process().stdout_lines()) {
    if (line.find("persistent connection broke") == std::string::npos) continue;
    (line.find("\"class\":\"graceful\"") != std::string::npos ? graceful : other)++;
  }
  EXPECT_EQ(graceful, 3u) << text;
  EXPECT_EQ(other, 0u) << text;
}

TEST(MonitorEchod, SigkillWithUnreadBytesGivesNonGracefulBreaksThenRefused) {
  EchodProcess echod;
  MonitorProcess m({"--persistent", "2", "--persistent-interval", "20ms", "--interval", "200ms",
                    tcp_target(echod.echo_port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  ASSERT_TRUE(wait_until(
      [&] { return m.metric("echo_probe_verified_total", {"mode=\"persistent\""}) >= 10; },
      kWait, milliseconds(20)));
  // Frozen, echod reads nothing: the next messages sit unread in its sockets.
  echod.signal(SIGSTOP);
  ASSERT_TRUE(wait_until(
      [&] {
        const auto t = m.get("/metrics");
        return metric_sum(t, "echo_probe_messages_total", {"mode=\"persistent\""}) >=
               metric_sum(t, "echo_probe_verified_total", {"mode=\"persistent\""}) + 2;
      },
      kWait, milliseconds(10)));
  echod.signal(SIGKILL);
  ASSERT_TRUE(echod.wait_exit(milliseconds(10'000)).has_value());
  ASSERT_TRUE(wait_until(
      [&] {
        const auto t = m.get("/metrics");
        const double breaks = metric_sum(t, "echo_probe_breaks_total");
        const double graceful = metric_sum(t, "echo_probe_breaks_total", {"class=\"graceful\""});
        return breaks >= 2 && breaks > graceful &&
               metric_sum(t, "echo_probe_errors_total",
                          {"mode=\"persistent\"", "class=\"refused\""}) >= 1;
      },
      kWait, milliseconds(20)))
      << m.get("/metrics");
  const json report = m.report();
  ASSERT_TRUE(report.is_object());
  const auto& breaks = report["targets"][0]["breaks"];
  ASSERT_GE(breaks.size(), 2u) << report.dump();
  for (const auto& b : breaks) {
    EXPECT_NE(b["class"], "graceful") << b.dump();
    EXPECT_EQ(b["address"], "127.0.0.1:" + std::to_string(echod.echo_port()));
    EXPECT_TRUE(b["outage_ms"].is_null());  // nothing came back
  }
  EXPECT_GE(report["targets"][0]["totals"]["lost"].get<int>(), 2);
}

TEST(MonitorHttp, MetricsPassPromtoolAndEndpointsAnswer) {
  EchodProcess echod;
  MonitorProcess m({"--interval", "100ms", tcp_target(echod.echo_port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  ASSERT_TRUE(wait_until([&] { return m.metric("echo_probe_verified_total") >= 3; }, kWait,
                         milliseconds(20)));
  EXPECT_EQ(m.get("/livez"), "ok\n");
  EXPECT_EQ(m.get("/readyz"), "ok\n");
  const std::string text = m.get("/metrics");
  const std::string file =
      std::filesystem::temp_directory_path() / ("monitor-metrics-" + std::to_string(getpid()));
  std::ofstream(file) << text;
  const auto lint = run_command("/bin/sh", {"-c", "promtool check metrics < " + file});
  std::filesystem::remove(file);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_EQ(lint.out + lint.err, "");
  for (const char* family :
       {"echo_probe_messages_total", "echo_probe_verified_total", "echo_probe_errors_total",
        "echo_probe_rtt_seconds", "echo_probe_connect_seconds",
        "echo_probe_persistent_connections", "echo_probe_breaks_total",
        "echo_probe_reconnect_seconds", "echo_probe_addresses",
        "echo_probe_last_success_timestamp_seconds", "echo_probe_build_info",
        "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_EQ(metric_sum(text, "echo_probe_addresses"), 1);
  const json report = m.report();
  ASSERT_TRUE(report.is_object());
  for (const char* key : {"started", "now", "targets"}) EXPECT_TRUE(report.contains(key)) << key;
  EXPECT_EQ(report["targets"][0]["target"], tcp_target(echod.echo_port()));
}

}  // namespace
}  // namespace echo_probe::test
