#include "prometheus_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "net_helpers.h"

namespace echod::test {
namespace {

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

}  // namespace

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

PrometheusServer::PrometheusServer(const std::string& job, std::uint16_t target_port) {
  char tmpl[] = "/tmp/echod-prom-XXXXXX";
  dir_ = mkdtemp(tmpl);
  port_ = free_port();
  std::ofstream(dir_ + "/prometheus.yml") << "global:\n"
                                             "  scrape_interval: 1s\n"
                                             "  scrape_timeout: 1s\n"
                                             "scrape_configs:\n"
                                             "  - job_name: "
                                          << job
                                          << "\n"
                                             "    static_configs:\n"
                                             "      - targets: ['127.0.0.1:"
                                          << target_port << "']\n";
  process_ = std::make_unique<ChildProcess>(
      kPrometheusBinary,
      std::vector<std::string>{"--config.file=" + dir_ + "/prometheus.yml",
                               "--storage.tsdb.path=" + dir_ + "/data",
                               "--web.listen-address=127.0.0.1:" + std::to_string(port_)});
}

PrometheusServer::~PrometheusServer() {
  process_->signal(SIGTERM);
  if (!process_->wait_exit(milliseconds(10'000))) process_->signal(SIGKILL);
  process_.reset();
  std::filesystem::remove_all(dir_);
}

bool PrometheusServer::ready() const {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(1, 0);
  const auto r = client.Get("/-/ready");
  return r && r->status == 200;
}

nlohmann::json PrometheusServer::query(const std::string& promql) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(5, 0);
  const auto r = client.Get("/api/v1/query?query=" + url_encode(promql));
  if (!r || r->status != 200) return nullptr;
  const auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || j.value("status", "") != "success") return nullptr;
  return j["data"]["result"];
}

double PrometheusServer::value(const std::string& promql) const {
  const auto result = query(promql);
  if (!result.is_array() || result.size() != 1) return std::nan("");
  return std::stod(result[0]["value"][1].get<std::string>());
}

}  // namespace echod::test
