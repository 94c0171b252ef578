// A real Prometheus server scrapes `echo-probe monitor` every second while it probes a
// real echod; Prometheus must see the verified messages grow.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "echod_process.h"
#include "monitor_process.h"
#include "net_helpers.h"
#include "prometheus_server.h"

namespace echo_probe::test {
namespace {

using echod::test::EchodProcess;
using echod::test::PrometheusServer;
using echod::test::wait_until;

TEST(MonitorPrometheusE2E, RealPrometheusScrapesTheMonitorAndSeesVerifiedMessagesGrow) {
  ASSERT_TRUE(std::filesystem::exists(echod::test::kPrometheusBinary)) << "run scripts/deps.sh e2e";
  EchodProcess echod;
  const std::string target = "tcp://127.0.0.1:" + std::to_string(echod.echo_port());
  MonitorProcess m({target});
  ASSERT_NE(m.port(), 0) << m.process().output();
  PrometheusServer prom("monitor", m.port());
  ASSERT_TRUE(wait_until([&] { return prom.ready(); }, milliseconds(30'000), milliseconds(200)))
      << prom.output();
  ASSERT_TRUE(wait_until([&] { return prom.value(R"(up{job="monitor"})") == 1; },
                         milliseconds(20'000), milliseconds(250)))
      << prom.output();
  const std::string verified = R"(sum(echo_probe_verified_total{job="monitor",target=")" +
                               target + R"("}))";
  double first = std::nan("");
  ASSERT_TRUE(wait_until(
      [&] {
        first = prom.value(verified);
        return first > 0;
      },
      milliseconds(20'000), milliseconds(250)));
  double later = first;
  EXPECT_TRUE(wait_until(
      [&] {
        later = prom.value(verified);
        return later >= first + 20;  // 2 persistent connections x 10/s: a second or two
      },
      milliseconds(20'000), milliseconds(250)))
      << first << " -> " << later;
  EXPECT_EQ(prom.value(R"(sum(echo_probe_errors_total{job="monitor"}))"), 0);
  EXPECT_EQ(prom.value(R"(echo_probe_persistent_connections{job="monitor"})"), 2);
  EXPECT_EQ(prom.value(R"(echo_probe_addresses{job="monitor"})"), 1);
  EXPECT_EQ(prom.value(R"(up{job="monitor"})"), 1);
}

}  // namespace
}  // namespace echo_probe::test
