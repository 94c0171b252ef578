// A real Prometheus server (the Debian package) scrapes a real echod every second on
// loopback; the test asks Prometheus's HTTP API for `up` and for the traffic it generated.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "admin_client.h"
#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kPrometheus = "/usr/bin/prometheus";

/// A loopback port nobody listens on right now (the kernel picks it).
std::uint16_t free_port() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

std::string url_encode(const std::string& s) {
  std::string out;
  char hex[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

/// Prometheus started on 127.0.0.1:<free port> with its own config and TSDB directory,
/// stopped by PID (ChildProcess) and cleaned up when the object goes.
class PrometheusServer {
 public:
  explicit PrometheusServer(std::uint16_t target_port) {
    char tmpl[] = "/tmp/echod-prom-XXXXXX";
    dir_ = mkdtemp(tmpl);
    port_ = free_port();
    std::ofstream(dir_ + "/prometheus.yml") << "global:\n"
                                               "  scrape_interval: 1s\n"
                                               "  scrape_timeout: 1s\n"
                                               "scrape_configs:\n"
                                               "  - job_name: echod\n"
                                               "    static_configs:\n"
                                               "      - targets: ['127.0.0.1:"
                                            << target_port << "']\n";
    process_ = std::make_unique<ChildProcess>(
        kPrometheus,
        std::vector<std::string>{"--config.file=" + dir_ + "/prometheus.yml",
                                 "--storage.tsdb.path=" + dir_ + "/data",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)});
  }
  ~PrometheusServer() {
    process_->signal(SIGTERM);
    if (!process_->wait_exit(milliseconds(10'000))) process_->signal(SIGKILL);
    process_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::uint16_t port() const { return port_; }
  std::string output() const { return process_->output(); }

  /// Result of an instant query as JSON (`data.result`), or null when the API failed.
  json query(const std::string& promql) const {
    const HttpReply r = http_get(port_, "/api/v1/query?query=" + url_encode(promql));
    if (r.status != 200) return nullptr;
    const json j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || j.value("status", "") != "success") return nullptr;
    return j["data"]["result"];
  }
  /// The single value of an instant vector query; NaN when there is none.
  double value(const std::string& promql) const {
    const json result = query(promql);
    if (!result.is_array() || result.size() != 1) return std::nan("");
    return std::stod(result[0]["value"][1].get<std::string>());
  }

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

TEST(PrometheusE2E, RealPrometheusScrapesEchodAndSeesTheTrafficSent) {
  ASSERT_TRUE(std::filesystem::exists(kPrometheus)) << "run scripts/deps.sh e2e";
  EchodProcess echod;
  PrometheusServer prom(echod.admin_port());
  ASSERT_TRUE(wait_until([&] { return http_get(prom.port(), "/-/ready").status == 200; },
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
