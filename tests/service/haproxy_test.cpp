// echod behind a real HAProxy (Debian's haproxy) that speaks the PROXY protocol to it, the
// way users put echod behind an L4 balancer: `send-proxy` (v1) and `send-proxy-v2`, plus
// HAProxy's own health checks, which send a v2 LOCAL header (`check-send-proxy`).
// Every byte through HAProxy comes back exactly, and echod's log names the real client:
// the address and port of this test's own socket, not HAProxy's.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "echod_process.h"
#include "net_helpers.h"
#include "prometheus_server.h"
#include "temp_config.h"
#include "tls_support.h"

namespace echod::test {
namespace {

constexpr const char* kHaproxy = "/usr/sbin/haproxy";

std::uint16_t local_port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

double headers(const EchodProcess& echod, const std::string& result) {
  return metric(echod.admin_port(),
                       "echod_proxy_protocol_headers_total{result=\"" + result + "\"}");
}

/// HAProxy with one frontend per way of speaking to echod, started in the foreground.
class Haproxy {
 public:
  /// `tls_port`: echod's TLS listener, reached by TCP passthrough on tls(); 0 = none.
  explicit Haproxy(std::uint16_t echod_port, std::uint16_t tls_port = 0)
      : v1_(free_port()), v2_(free_port()), checked_(free_port()), tls_(free_port()) {
    const std::string backend = "127.0.0.1:" + std::to_string(echod_port);
    const std::string tls_section =
        tls_port == 0 ? ""
                      : "listen tls\n"
                        "  bind 127.0.0.1:" + std::to_string(tls_) + "\n"
                        "  server echod 127.0.0.1:" + std::to_string(tls_port) + " send-proxy-v2\n";
    config_.write(
        "global\n"
        "  maxconn 256\n"
        "defaults\n"
        "  mode tcp\n"
        "  timeout connect 2s\n"
        "  timeout client 30s\n"
        "  timeout server 30s\n"
        "listen v1\n"
        "  bind 127.0.0.1:" + std::to_string(v1_) + "\n"
        "  server echod " + backend + " send-proxy\n"
        "listen v2\n"
        "  bind 127.0.0.1:" + std::to_string(v2_) + "\n"
        "  server echod " + backend + " send-proxy-v2\n"
        "listen checked\n"
        "  bind 127.0.0.1:" + std::to_string(checked_) + "\n"
        "  server echod " + backend + " send-proxy-v2 check check-send-proxy inter 100ms\n" +
        tls_section);
    // -db: stay in the foreground, so the test owns the process and its output.
    process_ = std::make_unique<ChildProcess>(kHaproxy, std::vector<std::string>{
                                                            "-db", "-f", config_.path()});
  }
  std::uint16_t v1() const { return v1_; }
  std::uint16_t v2() const { return v2_; }
  std::uint16_t tls() const { return tls_; }
  std::string output() const { return process_->output(); }
  /// HAProxy accepts on the v1 frontend (that probe connection itself reaches echod).
  bool listening() const {
    return wait_until([&] { return static_cast<bool>(connect_tcp(v1_)); }, milliseconds(5000));
  }

 private:
  TempConfig config_;
  std::uint16_t v1_, v2_, checked_, tls_;
  std::unique_ptr<ChildProcess> process_;
};

void expect_echo_names_client(EchodProcess& echod, std::uint16_t through, std::uint64_t seed) {
  Fd fd = connect_tcp(through);
  ASSERT_TRUE(fd);
  const std::uint16_t client_port = local_port_of(fd.get());
  const std::string data = random_bytes(1 << 20, seed);
  ASSERT_TRUE(send_all(fd.get(), data));
  EXPECT_TRUE(recv_exact(fd.get(), data.size(), milliseconds(10'000)) == data);
  EXPECT_TRUE(echod.process().wait_for_line(
      [&](const std::string& l) {
        return l.find("\"connection opened\"") != std::string::npos &&
               l.find("\"client\":\"127.0.0.1\"") != std::string::npos &&
               l.find("\"client_port\":" + std::to_string(client_port) + "}") != std::string::npos;
      },
      milliseconds(5000)))
      << "no log line names client port " << client_port;
}

TEST(Haproxy, SendProxyAndSendProxyV2CarryEveryByteAndTheClientAddress) {
  ASSERT_TRUE(std::filesystem::exists(kHaproxy)) << "haproxy missing: scripts/deps.sh e2e";
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "any", "--log-level", "debug"});
  Haproxy haproxy(echod.echo_port());
  // Up and health-checking: its checks arrive as v2 LOCAL headers (every 100 ms) and are
  // echoed. Waiting on them, not on a connection of our own, keeps the v1/v2 counts exact.
  ASSERT_TRUE(wait_until([&] { return headers(echod, "local") >= 2; }, milliseconds(10'000)))
      << haproxy.output();

  expect_echo_names_client(echod, haproxy.v1(), 21);
  EXPECT_TRUE(wait_until([&] { return headers(echod, "v1") == 1; }, milliseconds(5000)));
  expect_echo_names_client(echod, haproxy.v2(), 22);
  EXPECT_TRUE(wait_until([&] { return headers(echod, "v2") == 1; }, milliseconds(5000)));
  EXPECT_EQ(headers(echod, "invalid"), 0) << haproxy.output();
  EXPECT_EQ(headers(echod, "timeout"), 0);
}

TEST(Haproxy, TlsPassesThroughWithSendProxyV2AndEchodNamesTheClient) {
  // TLS passthrough behind an L4 balancer (an NLB with proxy protocol v2, a TLSRoute):
  // HAProxy adds the header in front of the client's ClientHello; echod reads the header,
  // then terminates TLS itself.
  ASSERT_TRUE(std::filesystem::exists(kHaproxy)) << "haproxy missing: scripts/deps.sh e2e";
  auto files = TlsFiles::standard();
  std::vector<std::string> args = files->listener_args();
  args.insert(args.end(), {"--workers", "1", "--proxy-protocol", "v2", "--log-level", "debug"});
  EchodProcess echod(args);
  Haproxy haproxy(echod.echo_port(), echod.tls_port());
  ASSERT_TRUE(wait_until([&] { return headers(echod, "local") >= 1; }, milliseconds(10'000)))
      << haproxy.output();
  TlsClientOptions trusting;
  trusting.ca_file = files->cert("ca");
  TlsClient client(haproxy.tls(), trusting);
  ASSERT_TRUE(client.connected()) << client.error();
  const std::uint16_t client_port = local_port_of(client.fd());
  const std::string data = random_bytes(256 * 1024, 23);
  ASSERT_TRUE(client.send_all(data));
  EXPECT_TRUE(client.recv_exact(data.size()) == data);
  EXPECT_TRUE(echod.process().wait_for_line(
      [&](const std::string& l) {
        return l.find("\"connection opened\"") != std::string::npos &&
               l.find("\"listener\":\"tls\"") != std::string::npos &&
               l.find("\"client_port\":" + std::to_string(client_port) + "}") != std::string::npos;
      },
      milliseconds(5000)));
  EXPECT_EQ(headers(echod, "v2"), 1);
  EXPECT_EQ(metric(echod.admin_port(), "echod_tls_handshakes_total{result=\"success\"}"), 1);
}

TEST(Haproxy, WithoutTheProxyProtocolOnEchodAHeaderWouldBeEchoedSoEchodMustBeTold) {
  // The reason there is no auto-detection, seen from the other side: an echod that was not
  // told sends HAProxy's header back to the client as if it were data.
  ASSERT_TRUE(std::filesystem::exists(kHaproxy)) << "haproxy missing: scripts/deps.sh e2e";
  EchodProcess echod({"--workers", "1"});
  Haproxy haproxy(echod.echo_port());
  ASSERT_TRUE(haproxy.listening()) << haproxy.output();
  Fd fd = connect_tcp(haproxy.v1());
  ASSERT_TRUE(send_all(fd.get(), "x"));
  const std::string back = recv_exact(fd.get(), 6);
  EXPECT_EQ(back, "PROXY ");
}

}  // namespace
}  // namespace echod::test
