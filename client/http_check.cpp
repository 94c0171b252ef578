#include "http_check.h"

#include <httplib.h>
#include <sys/socket.h>

#include "clock.h"
#include "target.h"

namespace echo_probe {
namespace {

ErrorClass classify_http_error(httplib::Error e, double elapsed_s, double timeout_s) {
  switch (e) {
    case httplib::Error::Connection:
      return ErrorClass::kRefused;
    case httplib::Error::ConnectionTimeout:
      return ErrorClass::kTimeout;
    case httplib::Error::Read:
      // httplib reports a read timeout as a read error; the clock tells them apart.
      return elapsed_s >= 0.9 * timeout_s ? ErrorClass::kTimeout : ErrorClass::kClosed;
    default:
      return ErrorClass::kReset;
  }
}

}  // namespace

bool HttpResult::ok() const {
  if (checks.empty()) return false;
  for (const auto& c : checks) {
    if (c.status != 200) return false;
  }
  return true;
}

HttpResult run_http_checks(const Options& options) {
  HttpResult result;
  const Nanos start = now_ns();
  std::string dns_error;
  const auto addresses = resolve(options.endpoint, SOCK_STREAM, &dns_error);
  const double timeout_s = static_cast<double>(options.timeout.count()) / 1e9;
  for (const char* path : {"/livez", "/readyz"}) {
    HttpCheck check;
    check.path = path;
    if (addresses.empty()) {
      check.error = ErrorClass::kDns;
      check.body = dns_error;
      result.checks.push_back(check);
      continue;
    }
    // Connect to the resolved address (the Host header still names the user's host).
    const std::string& text = addresses.front().text;
    const auto colon = text.rfind(':');
    std::string ip = text.substr(0, colon);
    if (!ip.empty() && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
    httplib::Client client(ip, options.endpoint.port);
    client.set_connection_timeout(options.timeout);
    client.set_read_timeout(options.timeout);
    client.set_write_timeout(options.timeout);
    const httplib::Headers headers = {
        {"Host", options.endpoint.host + ":" + std::to_string(options.endpoint.port)}};
    const Nanos t0 = now_ns();
    auto res = client.Get(path, headers);
    const double elapsed_s = static_cast<double>(now_ns() - t0) / 1e9;
    check.latency_us = elapsed_s * 1e6;
    if (res) {
      check.status = res->status;
      check.body = res->body.substr(0, res->body.find('\n'));
      if (check.body.size() > 200) check.body.resize(200);
    } else {
      check.error = classify_http_error(res.error(), elapsed_s, timeout_s);
      check.body = httplib::to_string(res.error());
    }
    result.checks.push_back(check);
  }
  result.duration_s = static_cast<double>(now_ns() - start) / 1e9;
  return result;
}

}  // namespace echo_probe
