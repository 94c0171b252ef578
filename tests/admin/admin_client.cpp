#include "admin_client.h"

#include <gtest/gtest.h>

#include <poll.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>
#include <thread>

#include "net_helpers.h"

namespace echod::test {

HttpReply parse_reply(const std::string& raw) {
  HttpReply reply;
  std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return reply;
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  // Skip interim 1xx answers ("100 Continue") the server may send first.
  std::size_t start = 0;
  while (line.rfind("HTTP/1.1 1", 0) == 0) {
    start = head_end + 4;
    head_end = raw.find("\r\n\r\n", start);
    if (head_end == std::string::npos) return reply;
    head = std::istringstream(raw.substr(start, head_end - start));
    std::getline(head, line);
  }
  if (line.size() < 12) return reply;
  reply.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    reply.headers[name] = value;
  }
  reply.body = raw.substr(head_end + 4);
  return reply;
}

HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& path,
                       const std::string& body, const HeaderList& headers,
                       std::chrono::milliseconds timeout) {
  Fd fd = connect_tcp(port);
  if (!fd) return {};
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "PUT" || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (!send_all(fd.get(), req)) return {};
  return parse_reply(recv_until_eof(fd.get(), timeout));
}

std::string scrape(std::uint16_t port) {
  const HttpReply r = http_get(port, "/metrics");
  if (r.status != 200) ADD_FAILURE() << "GET /metrics answered " << r.status << ": " << r.body;
  return r.body;
}

double metric(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> family_names(const std::string& exposition) {
  std::vector<std::string> names;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto end = line.find(' ', 7);
      names.push_back(line.substr(7, end - 7));
    }
  }
  return names;
}

std::size_t series_count(const std::string& exposition) {
  std::size_t n = 0;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') ++n;
  }
  return n;
}

void slowloris(std::uint16_t port, int connections, const std::string& request_start,
               std::chrono::milliseconds every, const std::atomic<bool>& stop,
               const std::function<void()>& on_reconnect) {
  std::vector<Fd> conns(static_cast<std::size_t>(connections));
  while (!stop.load()) {
    for (auto& c : conns) {
      bool dead = !c;
      if (!dead) {
        pollfd p{c.get(), POLLIN, 0};
        dead = ::poll(&p, 1, 0) > 0 || !send_all(c.get(), "a");
      }
      if (dead) {
        c = connect_tcp(port);
        if (c) send_all(c.get(), request_start);
        on_reconnect();
      }
    }
    // Sleep in short steps so `stop` is noticed quickly.
    for (auto left = every; left.count() > 0 && !stop.load(); left -= std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
    }
  }
}

}  // namespace echod::test
