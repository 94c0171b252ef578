// echo-probe against a real echod on ephemeral loopback ports.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "echod_process.h"
#include "net_helpers.h"
#include "run_command.h"

namespace echo_probe::test {
namespace {

using json = nlohmann::ordered_json;
using echod::test::EchodProcess;
using std::chrono::milliseconds;

json parse_json(const CommandResult& r) {
  try {
    return json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stdout is not JSON: " << e.what() << "\n" << r.out << r.err;
    return json::object();
  }
}

// The value of an unlabelled metric on echod's /metrics, or -1.
double metric(const EchodProcess& echod, const std::string& name) {
  httplib::Client client("127.0.0.1", echod.admin_port());
  auto res = client.Get("/metrics");
  if (!res) return -1;
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

TEST(ProbeAgainstEchod, VerifiesEveryEchoedByte) {
  EchodProcess echod;
  const auto r = run_probe(
      {"tcp", loopback(echod.echo_port()), "-c", "4", "-n", "200", "-s", "512", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["sent"], 800);
  EXPECT_EQ(j["received"], 800);
  EXPECT_EQ(j["verified_bytes"], 800 * 512);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_GT(j["latency_us"]["p50"].get<double>(), 0.0);
  EXPECT_GT(j["connect_us"]["max"].get<double>(), 0.0);
}

TEST(ProbeAgainstEchod, DrivesClosedLoopLoadForADuration) {
  EchodProcess echod;
  const auto r =
      run_probe({"tcp", loopback(echod.echo_port()), "-c", "16", "-t", "2", "-d", "1s", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["sent"], j["received"]);
  EXPECT_GT(j["received"].get<int>(), 1000);
  EXPECT_GT(j["msgs_per_sec"].get<double>(), 1000.0);
  EXPECT_NEAR(j["duration_s"].get<double>(), 1.0, 0.5);
  EXPECT_EQ(j["verified_bytes"].get<long>(), j["received"].get<long>() * 64);
}

TEST(ProbeAgainstEchod, OpenLoopKeepsTheRequestedRate) {
  EchodProcess echod;
  const auto r = run_probe(
      {"tcp", loopback(echod.echo_port()), "-c", "4", "-r", "1000", "-d", "2s", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_GE(j["sent"].get<int>(), 1900);
  EXPECT_LE(j["sent"].get<int>(), 2100);
  EXPECT_EQ(j["received"], j["sent"]);
}

TEST(ProbeAgainstEchod, NewConnectionPerMessageShowsInEchodsAcceptCounter) {
  EchodProcess echod;
  const double before = metric(echod, "echod_connections_accepted_total");
  const auto r = run_probe(
      {"tcp", loopback(echod.echo_port()), "--new-connection", "-c", "2", "-n", "100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(parse_json(r)["received"], 200);
  if (before >= 0) {
    EXPECT_TRUE(echod::test::wait_until(
        [&] { return metric(echod, "echod_connections_accepted_total") >= before + 200; },
        milliseconds(5000)));
  }
}

TEST(ProbeAgainstEchod, LargeMessagesPassEchodsBackpressure) {
  EchodProcess echod;
  const auto r = run_probe(
      {"tcp", loopback(echod.echo_port()), "-s", "1000000", "-n", "3", "-c", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(parse_json(r)["verified_bytes"], 6'000'000);
}

TEST(ProbeAgainstEchod, ReportsClosedWhenEchodCapsConnectionBytes) {
  EchodProcess echod({"--max-connection-bytes", "1000"});
  const auto r = run_probe({"tcp", loopback(echod.echo_port()), "-n", "100", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  // echod closes at the cap with our next message unread, so the kernel sends RST rather
  // than FIN: either way the peer ended the connection early, after 1000 verified bytes.
  EXPECT_EQ(j["error_classes"]["closed"].get<int>() + j["error_classes"]["reset"].get<int>(), 1)
      << j.dump();
  EXPECT_EQ(j["verified_bytes"], 1000);
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["received"], 1000 / 64);  // 15 whole messages fit under the cap
}

TEST(ProbeAgainstEchod, VerifiesUdpDatagrams) {
  EchodProcess echod({"--udp"});
  const auto r =
      run_probe({"udp", loopback(echod.echo_port()), "-c", "2", "-n", "50", "-s", "256", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["received"], 100);
  EXPECT_EQ(j["verified_bytes"], 100 * 256);
}

TEST(ProbeAgainstEchod, SigintEndsAnUnboundedRunWithASummary) {
  EchodProcess echod;
  echod::test::ChildProcess probe(
      ECHO_PROBE_BINARY, {"tcp", loopback(echod.echo_port()), "-c", "4", "-n", "0", "--json"});
  ASSERT_TRUE(echod::test::wait_until(
      [&] { return metric(echod, "echod_connections_active") >= 4; }, milliseconds(5000)));
  probe.signal(SIGINT);
  const auto code = probe.wait_exit(milliseconds(10'000));
  ASSERT_TRUE(code.has_value()) << "echo-probe ignored SIGINT";
  EXPECT_EQ(*code, 0) << probe.output();
  probe.join_output();
  const auto lines = probe.stdout_lines();
  ASSERT_EQ(lines.size(), 1u) << probe.output();
  const json j = json::parse(lines[0]);
  EXPECT_GT(j["received"].get<int>(), 0);
  EXPECT_EQ(j["received"], j["sent"]);  // in-flight echoes were waited for
  EXPECT_EQ(j["errors"], 0);
}

TEST(ProbeAgainstEchod, HttpChecksLivezAndReadyz) {
  EchodProcess echod;
  const std::string url = "http://127.0.0.1:" + std::to_string(echod.admin_port());
  const auto r = run_probe({"http", url, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["checks"]["/livez"]["status"], 200);
  EXPECT_EQ(j["checks"]["/readyz"]["status"], 200);
  EXPECT_EQ(j["ok"], true);
}

TEST(ProbeAgainstEchod, HttpFailsOnceEchodIsShuttingDown) {
  EchodProcess echod({"--shutdown-delay", "10s"});
  const std::string url = "http://127.0.0.1:" + std::to_string(echod.admin_port());
  ASSERT_EQ(run_probe({"http", url}).exit_code, 0);
  echod.signal(SIGTERM);
  CommandResult last;
  EXPECT_TRUE(echod::test::wait_until(
      [&] {
        last = run_probe({"http", url, "--json", "--timeout", "1s"});
        return last.exit_code == 1;
      },
      milliseconds(5000), milliseconds(50)))
      << last.out << last.err;
  const json j = parse_json(last);
  EXPECT_EQ(j["checks"]["/livez"]["status"], 200);
  EXPECT_EQ(j["checks"]["/readyz"]["status"], 503);
}

TEST(ProbeAgainstEchod, AllAddressesSpreadsOverTwoEchods) {
  if (run_command("unshare", {"-m", "true"}, milliseconds(5000)).exit_code != 0) {
    GTEST_SKIP() << "unshare -m not permitted here";
  }
  EchodProcess v4;
  const std::string port = std::to_string(v4.echo_port());
  EchodProcess v6({"--listen", "[::1]:" + port});
  const std::string hosts = ::testing::TempDir() + "probe_echod_hosts_" + std::to_string(getpid());
  std::ofstream(hosts) << "127.0.0.1 echod.probe.test\n::1 echod.probe.test\n";
  const auto r =
      run_command("unshare", {"-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
                              hosts, ECHO_PROBE_BINARY, "tcp", "echod.probe.test:" + port,
                              "--all-addresses", "-c", "6", "-n", "20", "--json"});
  std::remove(hosts.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  ASSERT_EQ(j["per_address"].size(), 2u) << j.dump();
  std::set<std::string> seen;
  for (const auto& a : j["per_address"]) {
    seen.insert(a["address"].get<std::string>());
    EXPECT_EQ(a["connections"], 3);
    EXPECT_EQ(a["received"], 60);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"127.0.0.1:" + port, "[::1]:" + port}));
  EXPECT_EQ(j["received"], 120);
}

}  // namespace
}  // namespace echo_probe::test
