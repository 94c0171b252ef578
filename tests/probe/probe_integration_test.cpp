// echo-probe as a user runs it, against small loopback servers written for the tests:
// a correct echo and broken ones that prove each error class and the exit codes.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "fake_servers.h"
#include "run_command.h"

namespace echo_probe::test {
namespace {

using json = nlohmann::ordered_json;
using std::chrono::milliseconds;

json parse_json(const CommandResult& r) {
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "stdout: " << r.out;
  try {
    return json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stdout is not JSON: " << e.what() << "\n" << r.out << r.err;
    return json::object();
  }
}

std::uint64_t error_class(const json& j, const char* name) {
  return j.at("error_classes").at(name).get<std::uint64_t>();
}

// Every other class stays at zero, so a test pins exactly one failure class.
void expect_only_class(const json& j, const char* name, std::uint64_t count) {
  for (const char* c : {"dns", "refused", "timeout", "reset", "closed", "mismatch", "tls"}) {
    EXPECT_EQ(error_class(j, c), std::string(c) == name ? count : 0) << c << " in " << j.dump();
  }
  EXPECT_EQ(j.at("errors").get<std::uint64_t>(), count);
}

TEST(ProbeAgainstTestServers, ExitsZeroWhenEveryByteIsEchoed) {
  FakeTcpServer server(Behavior::kEcho);
  const auto r = run_probe({"tcp", loopback(server.port()), "-c", "3", "-n", "20", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["sent"], 60);
  EXPECT_EQ(j["received"], 60);
  EXPECT_EQ(j["verified_bytes"], 60 * 64);
  expect_only_class(j, "mismatch", 0);
  EXPECT_EQ(server.accepted(), 3u);
  EXPECT_EQ(server.bytes_read(), 60u * 64);
}

TEST(ProbeAgainstTestServers, ReportsMismatchWhenOneByteIsCorrupted) {
  FakeTcpServer server(Behavior::kCorruptByte, 100);  // byte 36 of message 1
  const auto r = run_probe({"tcp", loopback(server.port()), "-n", "5", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "mismatch", 1);
  EXPECT_EQ(j["mismatches"], 1);
  EXPECT_EQ(j["received"], 1);
  EXPECT_EQ(j["verified_bytes"], 100);  // everything before the flipped byte
}

TEST(ProbeAgainstTestServers, ReportsClosedWhenTheServerClosesEarly) {
  FakeTcpServer server(Behavior::kCloseEarly, 2 * 64 + 10);
  const auto r = run_probe({"tcp", loopback(server.port()), "-n", "5", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "closed", 1);
  EXPECT_EQ(j["received"], 2);
  EXPECT_EQ(j["verified_bytes"], 2 * 64 + 10);
}

TEST(ProbeAgainstTestServers, ReportsTimeoutWhenTheServerStalls) {
  FakeTcpServer server(Behavior::kStall);
  const auto r =
      run_probe({"tcp", loopback(server.port()), "-c", "2", "--timeout", "300ms", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "timeout", 2);
  EXPECT_EQ(j["timeouts"], 2);
  EXPECT_EQ(j["sent"], 2);
  EXPECT_EQ(j["received"], 0);
  EXPECT_GE(r.seconds, 0.29);
  EXPECT_LT(r.seconds, 3.0);
}

// A listener that never accepts, its backlog already full: the kernel drops further SYNs,
// so connect() never completes and --timeout must classify it.
TEST(ProbeAgainstTestServers, ReportsTimeoutWhenConnectNeverCompletes) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  // Fill the accept queue; on loopback the handshake runs inside connect() itself.
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
    fillers.push_back(fd);
  }
  const auto r = run_probe({"tcp", loopback(ntohs(addr.sin_port)), "--timeout", "300ms", "--json"});
  for (int fd : fillers) ::close(fd);
  ::close(listener);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "timeout", 1);
  EXPECT_EQ(j["sent"], 0);
  EXPECT_LT(r.seconds, 3.0);
}

TEST(ProbeAgainstTestServers, ReportsResetWhenTheServerAbortsTheConnection) {
  FakeTcpServer server(Behavior::kReset, 64);  // echo one message, then RST
  const auto r = run_probe({"tcp", loopback(server.port()), "-n", "3", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "reset", 1);
  EXPECT_EQ(j["received"], 1);
}

TEST(ProbeAgainstTestServers, ReportsRefusedWhenNothingListens) {
  ClosedPort port;
  const auto r = run_probe({"tcp", loopback(port.port()), "-c", "3", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "refused", 3);
  EXPECT_EQ(j["sent"], 0);
}

TEST(ProbeAgainstTestServers, ReportsDnsWhenTheNameDoesNotResolve) {
  const auto r = run_probe({"tcp", "no-such-host.invalid:7007", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "dns", 1);
  EXPECT_NE(r.err.find("no-such-host.invalid"), std::string::npos) << r.err;
}

TEST(ProbeAgainstTestServers, HumanSummaryNamesTheErrorClass) {
  ClosedPort port;
  const auto r = run_probe({"tcp", loopback(port.port())});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("refused 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST(ProbeAgainstTestServers, NewConnectionOpensOneConnectionPerMessage) {
  FakeTcpServer server(Behavior::kEcho);
  const auto r = run_probe(
      {"tcp", loopback(server.port()), "--new-connection", "-c", "2", "-n", "10", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["received"], 20);
  EXPECT_EQ(server.accepted(), 20u);
  EXPECT_GT(j["connect_us"]["max"].get<double>(), 0.0);
}

TEST(ProbeAgainstTestServers, NewConnectionCountsEveryRefusedMessage) {
  ClosedPort port;
  const auto r = run_probe({"tcp", loopback(port.port()), "--new-connection", "-n", "5", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  expect_only_class(parse_json(r), "refused", 5);
}

TEST(ProbeAgainstTestServers, LargeMessagesAreVerifiedAcrossPartialReadsAndWrites) {
  FakeTcpServer server(Behavior::kEcho);
  const auto r =
      run_probe({"tcp", loopback(server.port()), "-s", "300000", "-n", "3", "-c", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(parse_json(r)["verified_bytes"], 6 * 300000);
}

TEST(ProbeAgainstTestServers, SeveralThreadsShareTheConnections) {
  FakeTcpServer server(Behavior::kEcho);
  const auto r = run_probe(
      {"tcp", loopback(server.port()), "-c", "8", "-t", "2", "-d", "500ms", "-q", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["sent"], j["received"]);
  EXPECT_GT(j["received"].get<int>(), 100);
  EXPECT_EQ(server.accepted(), 8u);
  EXPECT_NEAR(j["duration_s"].get<double>(), 0.5, 0.3);
}

TEST(ProbeAgainstTestServers, OpenLoopRateIsAccurate) {
  FakeTcpServer server(Behavior::kEcho);
  const auto r = run_probe(
      {"tcp", loopback(server.port()), "-c", "4", "-r", "1000", "-d", "2s", "-q", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  const auto sent = j["sent"].get<int>();
  EXPECT_GE(sent, 1900);  // 2000 +- 5%
  EXPECT_LE(sent, 2100);
  EXPECT_EQ(j["received"], sent);
}

// Latency counts from the intended send time: a server that stalls 300 ms delays every
// message due meanwhile, and open loop shows it; closed loop only sees the one message.
TEST(ProbeAgainstTestServers, OpenLoopLatencyDoesNotHideAStall) {
  FakeTcpServer open_server(Behavior::kSlowStart, 300);
  const auto open =
      run_probe({"tcp", loopback(open_server.port()), "-r", "100", "-d", "1s", "-q", "--json"});
  ASSERT_EQ(open.exit_code, 0) << open.out << open.err;
  FakeTcpServer closed_server(Behavior::kSlowStart, 300);
  const auto closed =
      run_probe({"tcp", loopback(closed_server.port()), "-n", "100", "-q", "--json"});
  ASSERT_EQ(closed.exit_code, 0) << closed.out << closed.err;
  const json o = parse_json(open);
  const json c = parse_json(closed);
  EXPECT_GE(o["latency_us"]["max"].get<double>(), 290'000.0);
  EXPECT_GE(c["latency_us"]["max"].get<double>(), 290'000.0);
  EXPECT_GE(o["latency_us"]["p90"].get<double>(), 100'000.0) << o.dump();
  EXPECT_LT(c["latency_us"]["p90"].get<double>(), 50'000.0) << c.dump();
}

TEST(ProbeAgainstTestServers, JsonHasExactlyTheSpecKeys) {
  FakeTcpServer server(Behavior::kEcho);
  const auto r = run_probe({"tcp", loopback(server.port()), "-n", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  const std::vector<std::string> expected{
      "target",         "protocol",     "connections",   "sent",       "received",
      "verified_bytes", "errors",       "error_classes", "timeouts",   "mismatches",
      "duration_s",     "msgs_per_sec", "bytes_per_sec", "latency_us", "connect_us"};
  EXPECT_EQ(keys, expected);
  for (const char* h : {"latency_us", "connect_us"}) {
    std::vector<std::string> hk;
    for (const auto& [k, v] : j[h].items()) {
      hk.push_back(k);
      EXPECT_TRUE(v.is_number()) << h << "." << k;
    }
    EXPECT_EQ(hk, (std::vector<std::string>{"min", "p50", "p90", "p99", "p999", "max", "mean"}));
  }
  EXPECT_EQ(j["target"], loopback(server.port()));
  EXPECT_EQ(j["protocol"], "tcp");
  EXPECT_EQ(j["connections"], 1);
  EXPECT_GT(j["latency_us"]["min"].get<double>(), 0.0);
  EXPECT_LE(j["latency_us"]["min"].get<double>(), j["latency_us"]["p50"].get<double>());
  EXPECT_LE(j["latency_us"]["p50"].get<double>(), j["latency_us"]["max"].get<double>());
  EXPECT_EQ(j["error_classes"].size(), 7u);  // dns refused timeout reset closed mismatch tls
}

TEST(ProbeAgainstTestServers, PrintsProgressPerSecondOnLongRunsUnlessQuiet) {
  FakeTcpServer server(Behavior::kEcho);
  const auto loud = run_probe({"tcp", loopback(server.port()), "-r", "200", "-d", "2500ms"});
  ASSERT_EQ(loud.exit_code, 0) << loud.out << loud.err;
  std::istringstream lines(loud.err);
  int progress = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("msgs/s") != std::string::npos) ++progress;
  }
  EXPECT_GE(progress, 2) << loud.err;
  EXPECT_LE(progress, 3) << loud.err;
  const auto quiet = run_probe({"tcp", loopback(server.port()), "-r", "200", "-d", "2500ms", "-q"});
  ASSERT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "");
}

TEST(ProbeUdp, ExitsZeroWhenEveryDatagramIsEchoed) {
  FakeUdpServer server(FakeUdpServer::Mode::kEcho);
  const auto r =
      run_probe({"udp", loopback(server.port()), "-c", "2", "-n", "25", "-s", "512", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["protocol"], "udp");
  EXPECT_EQ(j["received"], 50);
  EXPECT_EQ(j["verified_bytes"], 50 * 512);
  EXPECT_EQ(server.datagrams(), 50u);
}

TEST(ProbeUdp, ReportsMismatchForCorruptedDatagrams) {
  FakeUdpServer server(FakeUdpServer::Mode::kCorrupt);
  const auto r = run_probe({"udp", loopback(server.port()), "-n", "4", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  expect_only_class(parse_json(r), "mismatch", 4);
}

TEST(ProbeUdp, ReportsTimeoutForLostDatagrams) {
  FakeUdpServer server(FakeUdpServer::Mode::kDrop);
  const auto r =
      run_probe({"udp", loopback(server.port()), "-n", "2", "--timeout", "200ms", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  const json j = parse_json(r);
  expect_only_class(j, "timeout", 2);
  EXPECT_EQ(j["sent"], 2);
}

TEST(ProbeUdp, ReportsRefusedWhenThePortIsClosed) {
  std::uint16_t port = 0;
  {
    FakeUdpServer gone(FakeUdpServer::Mode::kEcho);  // a port that was just free
    port = gone.port();
  }
  const auto r = run_probe({"udp", loopback(port), "-n", "2", "--timeout", "1s", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  expect_only_class(parse_json(r), "refused", 2);
}

// /etc/hosts in a private mount namespace gives one name both loopback addresses.
bool can_fake_hosts_file() {
  return run_command("unshare", {"-m", "true"}, milliseconds(5000)).exit_code == 0;
}

TEST(ProbeAllAddresses, SpreadsConnectionsOverEveryResolvedAddress) {
  if (!can_fake_hosts_file()) GTEST_SKIP() << "unshare -m not permitted here";
  FakeTcpServer v4(Behavior::kEcho, 0, "127.0.0.1");
  FakeTcpServer v6(Behavior::kEcho, 0, "::1", v4.port());
  const std::string hosts = ::testing::TempDir() + "probe_hosts_" + std::to_string(getpid());
  std::ofstream(hosts) << "127.0.0.1 dual.probe.test\n::1 dual.probe.test\n";
  const std::string target = "dual.probe.test:" + std::to_string(v4.port());
  const auto r =
      run_command("unshare", {"-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
                              hosts, ECHO_PROBE_BINARY, "tcp", target, "--all-addresses", "-c", "4",
                              "-n", "5", "--json"});
  std::remove(hosts.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  ASSERT_TRUE(j.contains("per_address")) << j.dump();
  ASSERT_EQ(j["per_address"].size(), 2u);
  std::set<std::string> addresses;
  for (const auto& a : j["per_address"]) {
    addresses.insert(a["address"].get<std::string>());
    EXPECT_EQ(a["connections"], 2);
    EXPECT_EQ(a["received"], 10);
    EXPECT_EQ(a["errors"], 0);
  }
  const std::string port = std::to_string(v4.port());
  EXPECT_EQ(addresses, (std::set<std::string>{"127.0.0.1:" + port, "[::1]:" + port}));
  EXPECT_EQ(v4.accepted(), 2u);
  EXPECT_EQ(v6.accepted(), 2u);
}

TEST(ProbeAllAddresses, PerAddressIsAbsentWithoutTheFlag) {
  FakeTcpServer server(Behavior::kEcho);
  const json j = parse_json(run_probe({"tcp", loopback(server.port()), "--json"}));
  EXPECT_FALSE(j.contains("per_address"));
}

// A stand-in admin port: /livez and /readyz with chosen statuses.
class FakeAdmin {
 public:
  FakeAdmin(int livez, int readyz) {
    server_.Get("/livez", [livez](const httplib::Request&, httplib::Response& res) {
      res.status = livez;
      res.set_content(livez == 200 ? "ok" : "stuck", "text/plain");
    });
    server_.Get("/readyz", [readyz](const httplib::Request&, httplib::Response& res) {
      res.status = readyz;
      res.set_content(readyz == 200 ? "ready" : "shutting down", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~FakeAdmin() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(ProbeHttp, ExitsZeroWhenLivezAndReadyzAre200) {
  FakeAdmin admin(200, 200);
  const auto r = run_probe({"http", admin.url(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["checks"]["/livez"]["status"], 200);
  EXPECT_EQ(j["checks"]["/readyz"]["status"], 200);
  EXPECT_GT(j["checks"]["/readyz"]["latency_us"].get<double>(), 0.0);
  const auto human = run_probe({"http", admin.url()});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("/livez"), std::string::npos);
  EXPECT_NE(human.out.find("200"), std::string::npos);
}

TEST(ProbeHttp, ExitsOneWhenNotReady) {
  FakeAdmin admin(200, 503);
  const auto r = run_probe({"http", admin.url(), "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(parse_json(r)["checks"]["/readyz"]["status"], 503);
}

TEST(ProbeHttp, ExitsOneWhenNothingListens) {
  ClosedPort port;
  const auto r = run_probe({"http", "http://" + loopback(port.port()), "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(parse_json(r)["error_classes"]["refused"], 2);
}

struct BadUsage {
  std::vector<std::string> args;
  std::string names;  // the argument the one-line error must name
};

class ProbeUsage : public ::testing::TestWithParam<BadUsage> {};

TEST_P(ProbeUsage, ExitsTwoWithOneLineNamingTheArgument) {
  const auto r = run_probe(GetParam().args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().names), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    BadArguments, ProbeUsage,
    ::testing::Values(BadUsage{{}, "MODE"}, BadUsage{{"ping", "127.0.0.1:7"}, "ping"},
                      BadUsage{{"tcp"}, "TARGET"}, BadUsage{{"tcp", "localhost"}, "TARGET"},
                      BadUsage{{"tcp", "127.0.0.1:0"}, "TARGET"},
                      BadUsage{{"tcp", "127.0.0.1:7", "-c", "0"}, "--connections"},
                      BadUsage{{"tcp", "127.0.0.1:7", "--count", "many"}, "--count"},
                      BadUsage{{"tcp", "127.0.0.1:7", "-n", "-1"}, "--count"},
                      BadUsage{{"tcp", "127.0.0.1:7", "-d", "forever"}, "--duration"},
                      BadUsage{{"tcp", "127.0.0.1:7", "-t", "0"}, "--threads"},
                      BadUsage{{"tcp", "127.0.0.1:7", "-s", "0"}, "--size"},
                      BadUsage{{"udp", "127.0.0.1:7", "-s", "70000"}, "--size"},
                      BadUsage{{"tcp", "127.0.0.1:7", "-r", "0"}, "--rate"},
                      BadUsage{{"tcp", "127.0.0.1:7", "--timeout", "5"}, "--timeout"},
                      BadUsage{{"tcp", "127.0.0.1:7", "--bogus"}, "--bogus"},
                      BadUsage{{"http", "127.0.0.1:8080"}, "TARGET"},
                      BadUsage{{"http", "http://127.0.0.1:8080", "-c", "2"}, "-c"}),
    [](const ::testing::TestParamInfo<BadUsage>& param) {
      std::string name = "Case" + std::to_string(param.index) + "_";
      for (char c : param.param.names) {
        if (std::isalnum(static_cast<unsigned char>(c))) name += c;
      }
      return name;
    });

TEST(ProbeUsageHelp, HelpExitsZeroAndListsEveryOption) {
  const auto r = run_probe({"tcp", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt :
       {"--connections", "--count", "--duration", "--threads", "--size", "--rate", "--timeout",
        "--new-connection", "--all-addresses", "--json", "--quiet"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  }
}

}  // namespace
}  // namespace echo_probe::test
