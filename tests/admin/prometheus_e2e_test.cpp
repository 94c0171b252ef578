// A real Prometheus server (tests/support/prometheus_server.h) scrapes a real echod every second on
// loopback; the test asks Prometheus's HTTP API for `up` and for the traffic it generated.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "admin_client.h"
#include "echod_process.h"
#include "net_helpers.h"
#include "prometheus_server.h"

namespace echod::test {
namespace {

using std::chrono::milliseconds;

TEST(PrometheusE2E, RealPrometheusScrapesEchodAndSeesTheTrafficSent) {
  ASSERT_TRUE(std::filesystem::exists(kPrometheusBinary)) << "run scripts/deps.sh e2e";
  EchodProcess echod;
  PrometheusServer prom("echod", echod.admin_port());
  ASSERT_TRUE(wait_until([&] { return prom.ready(); },
                         milliseconds(30'000), milliseconds(200)))
      << prom.output();

  ASSERT_TRUE(wait_until([&] { return prom.value(R"(up{job="echod"})") == 1; },
                         milliseconds(20'000), milliseconds(250)))
      << prom.output();

  // Traffic Prometheus must see exactly: 3 connections, 123457 bytes.
  std::size_t sent = 0;
  for (std::size_t n : {100'000u, 23'456u, 1u}) {
    Fd fd = connect_tcp(echod.echo_port());
    const std::string d = random_bytes(n, n);
    ASSERT_TRUE(send_all(fd.get(), d));
    ASSERT_EQ(recv_exact(fd.get(), d.size()), d);
    sent += n;
  }
  double seen = 0;
  EXPECT_TRUE(wait_until(
      [&] {
        seen = prom.value(R"(echod_received_bytes_total{job="echod",protocol="tcp"})");
        return seen == static_cast<double>(sent);
      },
      milliseconds(20'000), milliseconds(250)))
      << "Prometheus saw " << seen << " received bytes, the test sent " << sent;
  EXPECT_TRUE(wait_until(
      [&] {
        return prom.value(R"(echod_connections_closed_total{job="echod",reason="client"})") == 3;
      },
      milliseconds(20'000), milliseconds(250)));
  EXPECT_EQ(prom.value(R"(echod_sent_bytes_total{job="echod",protocol="tcp"})"),
            static_cast<double>(sent));
  EXPECT_EQ(prom.value(R"(echod_connections_accepted_total{job="echod"})"), 3);
  EXPECT_EQ(prom.value(R"(echod_build_info{job="echod"})"), 1);
  EXPECT_GT(prom.value(R"(process_resident_memory_bytes{job="echod"})"), 0);
  // Prometheus parsed every sample of every scrape.
  EXPECT_EQ(prom.value(R"(up{job="echod"})"), 1);
  EXPECT_GT(prom.value(R"(scrape_samples_scraped{job="echod"})"), 40);
}

}  // namespace
}  // namespace echod::test
