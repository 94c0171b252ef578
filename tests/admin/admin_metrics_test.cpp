// /metrics against a real echod: exact counters, promtool's lint, the golden list of names.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>

#include "admin_client.h"
#include "echod_process.h"
#include "tls_support.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using std::chrono::milliseconds;

constexpr const char* kReceivedTcp = R"(echod_received_bytes_total{protocol="tcp"})";
constexpr const char* kSentTcp = R"(echod_sent_bytes_total{protocol="tcp"})";
constexpr const char* kAccepted = "echod_connections_accepted_total";
constexpr const char* kClosedClient = R"(echod_connections_closed_total{reason="client"})";
constexpr const char* kDurationCount = "echod_connection_duration_seconds_count";

/// Runs `promtool check metrics` on `exposition`; returns its exit code and output.
std::pair<int, std::string> promtool_check(const std::string& exposition) {
  char path[] = "/tmp/echod-metrics-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {-1, "mkstemp failed"};
  close(fd);
  std::ofstream(path) << exposition;
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = p != nullptr ? pclose(p) : -1;
  std::remove(path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// Closes one echo connection after `bytes` round-tripped; returns the bytes sent.
std::size_t echo_once(std::uint16_t port, std::size_t bytes, std::uint64_t seed) {
  Fd fd = connect_tcp(port);
  EXPECT_TRUE(fd);
  const std::string data = random_bytes(bytes, seed);
  EXPECT_TRUE(send_all(fd.get(), data));
  EXPECT_EQ(recv_exact(fd.get(), data.size()), data);
  return data.size();
}

TEST(AdminMetrics, ServesPrometheusTextWithTheContractContentType) {
  EchodProcess echod;
  const HttpReply r = http_get(echod.admin_port(), "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE echod_connections_accepted_total counter"), std::string::npos);
  EXPECT_NE(r.body.find("# TYPE echod_connection_duration_seconds histogram"), std::string::npos);
}

TEST(AdminMetrics, CountersMatchTheTrafficExactly) {
  EchodProcess echod({"--workers", "3"});
  const std::uint16_t admin = echod.admin_port();
  const std::string before = scrape(admin);

  std::size_t sent = 0;
  const std::size_t sizes[] = {1, 777, 65536, 300'001, 12};
  std::uint64_t seed = 10;
  for (std::size_t n : sizes) sent += echo_once(echod.echo_port(), n, seed++);
  const double connections = std::size(sizes);

  std::string after;
  ASSERT_TRUE(wait_until(
      [&] {
        after = scrape(admin);
        return metric(after, kClosedClient) - metric(before, kClosedClient) == connections;
      },
      milliseconds(3000)))
      << after;
  EXPECT_EQ(metric(after, kReceivedTcp) - metric(before, kReceivedTcp), sent);
  EXPECT_EQ(metric(after, kSentTcp) - metric(before, kSentTcp), sent);
  EXPECT_EQ(metric(after, kAccepted) - metric(before, kAccepted), connections);
  EXPECT_EQ(metric(after, kDurationCount) - metric(before, kDurationCount), connections);
  EXPECT_EQ(metric(after, R"(echod_connection_duration_seconds_bucket{le="+Inf"})"),
            metric(after, kDurationCount));
  EXPECT_EQ(metric(after, "echod_connections_active"), 0);
  EXPECT_EQ(metric(after, R"(echod_received_bytes_total{protocol="udp"})"), 0);
}

TEST(AdminMetrics, ActiveConnectionsGaugeFollowsOpenConnections) {
  EchodProcess echod;
  std::vector<Fd> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(connect_tcp(echod.echo_port()));
    ASSERT_TRUE(send_all(open.back().get(), "x"));
    ASSERT_EQ(recv_exact(open.back().get(), 1), "x");
  }
  EXPECT_EQ(metric(scrape(echod.admin_port()), "echod_connections_active"), 4);
  open.clear();
  EXPECT_TRUE(wait_until(
      [&] { return metric(scrape(echod.admin_port()), "echod_connections_active") == 0; },
      milliseconds(3000)));
}

TEST(AdminMetrics, UdpCountersMatchTheDatagramsSent) {
  EchodProcess echod({"--udp"});
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(echod.echo_port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::size_t bytes = 0;
  for (int i = 0; i < 5; ++i) {
    const std::string d = random_bytes(100 + static_cast<std::size_t>(i), 50 + i);
    ASSERT_EQ(sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(d.size()));
    char buf[2048];
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 3000), 1);
    ASSERT_EQ(recv(fd, buf, sizeof buf, 0), static_cast<ssize_t>(d.size()));
    bytes += d.size();
  }
  close(fd);
  // The worker counts a datagram once sendmmsg() returns, which can be just after the echo
  // reached us: wait for the count (exact, not approximate), then check everything.
  std::string m;
  wait_until(
      [&] {
        m = scrape(echod.admin_port());
        return metric(m, "echod_udp_datagrams_total") >= 5;
      },
      std::chrono::milliseconds(5000));
  EXPECT_EQ(metric(m, "echod_udp_datagrams_total"), 5);
  EXPECT_EQ(metric(m, R"(echod_received_bytes_total{protocol="udp"})"), bytes);
  EXPECT_EQ(metric(m, R"(echod_sent_bytes_total{protocol="udp"})"), bytes);
  EXPECT_EQ(metric(m, R"(echod_udp_dropped_total{reason="privileged_source_port"})"), 0);
}

TEST(AdminMetrics, EveryKnownLabelValueIsExportedFromTheStart) {
  EchodProcess echod;
  const std::string m = scrape(echod.admin_port());
  for (const char* series :
       {R"(echod_connections_rejected_total{reason="max_connections"})",
        R"(echod_connections_rejected_total{reason="accept_error"})",
        R"(echod_connections_closed_total{reason="client"})",
        R"(echod_connections_closed_total{reason="idle_timeout"})",
        R"(echod_connections_closed_total{reason="lifetime"})",
        R"(echod_connections_closed_total{reason="byte_limit"})",
        R"(echod_connections_closed_total{reason="error"})",
        R"(echod_connections_closed_total{reason="shutdown"})",
        R"(echod_received_bytes_total{protocol="tcp"})",
        R"(echod_received_bytes_total{protocol="udp"})",
        R"(echod_sent_bytes_total{protocol="tcp"})", R"(echod_sent_bytes_total{protocol="udp"})",
        R"(echod_udp_dropped_total{reason="privileged_source_port"})",
        R"(echod_udp_dropped_total{reason="delay_queue_full"})",
        R"(echod_config_reloads_total{result="failure"})", "echod_udp_datagrams_total",
        "echod_backpressure_pauses_total", "echod_connections_accepted_total",
        "echod_connection_duration_seconds_count"}) {
    EXPECT_EQ(metric(m, series), 0) << series;
  }
  EXPECT_EQ(metric(m, "echod_shutting_down"), 0);
  EXPECT_EQ(metric(m, "echod_config_last_reload_successful"), 1);
  EXPECT_GT(metric(m, "echod_config_last_reload_success_timestamp_seconds"), 1.6e9);
  EXPECT_GT(metric(m, "process_start_time_seconds"), 1.6e9);
  EXPECT_GT(metric(m, "process_resident_memory_bytes"), 0);
  EXPECT_GT(metric(m, "process_open_fds"), 3);
  EXPECT_GE(metric(m, "process_threads"), 3);
  EXPECT_NE(m.find("echod_build_info{version=\""), std::string::npos);
}

TEST(AdminMetrics, PromtoolFindsNothingToComplainAbout) {
  TlsFiles tls;  // every family, the TLS ones with samples in them
  tls.make_ca("ca");
  tls.make_leaf("server", "ca", 1);
  std::vector<std::string> args = tls.listener_args();
  args.push_back("--udp");
  EchodProcess echod(args);
  echo_once(echod.echo_port(), 1234, 99);
  TlsClientOptions trusting;
  trusting.ca_file = tls.cert("ca");
  EXPECT_TRUE(TlsClient(echod.tls_port(), trusting).echoes("tls"));
  const std::string m = scrape(echod.admin_port());
  const auto [code, out] = promtool_check(m);
  ASSERT_NE(code, 127) << "promtool not found: run scripts/deps.sh e2e";
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "") << out;
}

TEST(AdminMetrics, FamilyNamesMatchTheGoldenList) {
  // With a TLS listener: the certificate expiry gauge is served only while one serves.
  TlsFiles tls;
  tls.make_ca("ca");
  tls.make_leaf("server", "ca", 1);
  EchodProcess echod(tls.listener_args());
  std::ifstream golden_file(ECHOD_ADMIN_GOLDEN_NAMES);
  ASSERT_TRUE(golden_file) << ECHOD_ADMIN_GOLDEN_NAMES;
  std::set<std::string> golden;
  for (std::string line; std::getline(golden_file, line);) {
    if (!line.empty() && line[0] != '#') golden.insert(line);
  }
  const std::vector<std::string> names = family_names(scrape(echod.admin_port()));
  const std::set<std::string> live(names.begin(), names.end());
  EXPECT_EQ(live.size(), names.size()) << "a family is exported twice";
  std::string missing;
  std::string extra;
  for (const auto& n : golden) {
    if (!live.count(n)) missing += n + " ";
  }
  for (const auto& n : live) {
    if (!golden.count(n)) extra += n + " ";
  }
  EXPECT_EQ(missing, "") << "in " << ECHOD_ADMIN_GOLDEN_NAMES << " but not served";
  EXPECT_EQ(extra, "") << "served but not in " << ECHOD_ADMIN_GOLDEN_NAMES;
}

TEST(AdminMetrics, RequestsCannotAddSeries) {
  EchodProcess echod;
  const std::size_t before = series_count(scrape(echod.admin_port()));
  for (const char* path : {"/metrics?reason=evil", "/x{a=\"b\"}", "/config?protocol=sctp"}) {
    http_get(echod.admin_port(), path);
  }
  http_request(echod.admin_port(), "BREW", "/metrics");
  EXPECT_EQ(series_count(scrape(echod.admin_port())), before);
}

}  // namespace
}  // namespace echod::test
