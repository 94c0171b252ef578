// End to end: Prometheus's blackbox exporter (a real third-party prober) checks echod's
// echo port with its tcp prober and query_response, using the module config README.md
// gives users (tests/probe/blackbox.yml).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>

#include "echod_process.h"
#include "fake_servers.h"
#include "net_helpers.h"
#include "run_command.h"

namespace echo_probe::test {
namespace {

using echod::test::ChildProcess;
using echod::test::EchodProcess;
using std::chrono::milliseconds;

constexpr const char* kBlackbox = "/usr/bin/prometheus-blackbox-exporter";

// A loopback port that was free a moment ago (blackbox cannot report an ephemeral port).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// blackbox_exporter on 127.0.0.1 with the README's module; SIGKILLed by PID on teardown.
class BlackboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kBlackbox))
        << "blackbox exporter missing: run scripts/deps.sh e2e";
    for (int attempt = 0; attempt < 3 && !process_; ++attempt) {
      port_ = free_port();
      auto child = std::make_unique<ChildProcess>(
          kBlackbox,
          std::vector<std::string>{"--config.file=" PROBE_BLACKBOX_CONFIG,
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_)});
      const bool up = echod::test::wait_until(
          [&] {
            httplib::Client c("127.0.0.1", port_);
            auto res = c.Get("/-/healthy");
            return res && res->status == 200;
          },
          milliseconds(10'000), milliseconds(50));
      if (up) process_ = std::move(child);
    }
    ASSERT_TRUE(process_) << "blackbox_exporter did not start";
  }

  // probe_success for `target`, or nullopt if the exporter did not answer.
  std::optional<int> probe_success(const std::string& target, std::string* body = nullptr) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(std::chrono::seconds(10));
    // Like Prometheus does: the scrape timeout caps the probe (1.5 s here, not the
    // module's 5 s), so a probe that cannot match fails quickly.
    const httplib::Headers headers{{"X-Prometheus-Scrape-Timeout-Seconds", "2"}};
    auto res = c.Get("/probe?module=echod_echo&debug=true&target=" + target, headers);
    if (!res || res->status != 200) return std::nullopt;
    if (body) *body = res->body;
    std::istringstream lines(res->body);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("probe_success ", 0) == 0) return std::stoi(line.substr(14));
    }
    return std::nullopt;
  }

  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
};

TEST_F(BlackboxTest, TcpQueryResponseProbeOfEchodSucceeds) {
  EchodProcess echod;
  std::string body;
  EXPECT_EQ(probe_success(loopback(echod.echo_port()), &body), 1) << body;
  EXPECT_NE(body.find("Regexp matched"), std::string::npos) << body;
  // echo-probe agrees with the third-party prober.
  EXPECT_EQ(run_probe({"tcp", loopback(echod.echo_port()), "-n", "10"}).exit_code, 0);
}

TEST_F(BlackboxTest, ProbeOfAClosedPortFails) {
  ClosedPort closed;
  EXPECT_EQ(probe_success(loopback(closed.port())), 0);
}

TEST_F(BlackboxTest, ProbeOfAServerThatCorruptsTheEchoFails) {
  FakeTcpServer corrupt(Behavior::kCorruptByte, 3);
  EXPECT_EQ(probe_success(loopback(corrupt.port())), 0);
  EXPECT_GE(corrupt.accepted(), 1u);
}

}  // namespace
}  // namespace echo_probe::test
