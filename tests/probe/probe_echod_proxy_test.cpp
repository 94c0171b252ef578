// echo-probe's --proxy-protocol against echod's PROXY protocol listener: both sides of the
// header written by us, so each is checked against the other as well as against
// third-party peers (HAProxy on echod's side, a capture server on the probe's).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "echod_process.h"
#include "net_helpers.h"
#include "run_command.h"
#include "tls_support.h"

namespace echo_probe::test {
namespace {

using json = nlohmann::json;
using echod::test::EchodProcess;
using echod::test::metric;
using std::chrono::milliseconds;

double headers(const EchodProcess& echod, const std::string& result) {
  return metric(echod.admin_port(),
                       "echod_proxy_protocol_headers_total{result=\"" + result + "\"}");
}

TEST(ProbeProxyProtocolAgainstEchod, EachVersionIsReadOncePerConnectionAndNeverEchoed) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "any"});
  for (const std::string version : {"v1", "v2"}) {
    const auto r = run_probe({"tcp", loopback(echod.echo_port()), "--proxy-protocol", version,
                              "-c", "4", "-n", "50", "-s", "300", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["verified_bytes"], 4 * 50 * 300) << version;  // not one header byte came back
    EXPECT_EQ(j["errors"], 0);
    EXPECT_TRUE(echod::test::wait_until([&] { return headers(echod, version) == 4; },
                                        milliseconds(5000)))
        << version << ": " << headers(echod, version);
  }
  EXPECT_EQ(headers(echod, "invalid"), 0);
}

TEST(ProbeProxyProtocolAgainstEchod, FreshConnectionsEachSendTheirOwnHeader) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v2"});
  const auto r = run_probe({"tcp", loopback(echod.echo_port()), "--proxy-protocol", "v2",
                            "--new-connection", "-c", "2", "-n", "40", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(json::parse(r.out)["received"], 80);
  EXPECT_TRUE(
      echod::test::wait_until([&] { return headers(echod, "v2") == 80; }, milliseconds(5000)));
}

TEST(ProbeProxyProtocolAgainstEchod, TlsWithAHeaderFirstVerifiesEveryByteAndTheHandshake) {
  auto files = echod::test::TlsFiles::standard();
  std::vector<std::string> args = files->listener_args();
  args.insert(args.end(), {"--workers", "1", "--proxy-protocol", "any"});
  EchodProcess echod(args);
  const auto r = run_probe({"tcp", loopback(echod.tls_port()), "--tls", "--tls-ca",
                            files->cert("ca"), "--tls-server-name", "localhost",
                            "--proxy-protocol", "v2", "-c", "2", "-n", "25", "-s", "2000",
                            "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["verified_bytes"], 2 * 25 * 2000);
  EXPECT_EQ(j["error_classes"]["tls"], 0);
  EXPECT_GT(j["tls_handshake_us"]["max"].get<double>(), 0.0);
  EXPECT_TRUE(
      echod::test::wait_until([&] { return headers(echod, "v2") == 2; }, milliseconds(5000)));
  EXPECT_EQ(metric(echod.admin_port(), "echod_tls_handshakes_total{result=\"success\"}"), 2);
  EXPECT_EQ(metric(echod.admin_port(), "echod_received_bytes_total{protocol=\"tls\"}"),
            2 * 25 * 2000);
}

TEST(ProbeProxyProtocolAgainstEchod, AProbeWithoutAHeaderIsRefusedAndSaysSo) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v1"});
  const auto r =
      run_probe({"tcp", loopback(echod.echo_port()), "-c", "1", "-n", "1", "--json"});
  EXPECT_NE(r.exit_code, 0);
  const json j = json::parse(r.out);
  EXPECT_EQ(j["verified_bytes"], 0);
  EXPECT_EQ(j["error_classes"]["closed"].get<int>() + j["error_classes"]["reset"].get<int>(), 1)
      << r.out;
  EXPECT_TRUE(
      echod::test::wait_until([&] { return headers(echod, "invalid") == 1; }, milliseconds(5000)));
}

}  // namespace
}  // namespace echo_probe::test
