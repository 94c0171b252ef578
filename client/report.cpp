#include "report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace echo_probe {
namespace {

using Json = nlohmann::ordered_json;

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }
double round3(double v) { return static_cast<double>(std::llround(v * 1000.0)) / 1000.0; }

Json latency_json(const Histogram& h) {
  Json j;
  j["min"] = round3(us(h.min()));
  j["p50"] = round3(us(h.percentile(50)));
  j["p90"] = round3(us(h.percentile(90)));
  j["p99"] = round3(us(h.percentile(99)));
  j["p999"] = round3(us(h.percentile(99.9)));
  j["max"] = round3(us(h.max()));
  j["mean"] = round3(h.mean() / 1e3);
  return j;
}

Json classes_json(const ErrorCounts& e) {
  Json j = Json::object();
  for (auto c : kAllErrorClasses) j[std::string(error_class_name(c))] = e[c];
  return j;
}

double per_sec(double n, double seconds) { return seconds > 0 ? n / seconds : 0.0; }

std::string fixed(double v, int precision, int width = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%*.*f", width, precision, v);
  return buf;
}

std::string latency_row(const char* name, const Histogram& h) {
  std::string row = "  " + std::string(name);
  row.resize(16, ' ');
  if (h.count() == 0) return row + "(no samples)\n";
  for (double v : {us(h.min()), us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)),
                   us(h.percentile(99.9)), us(h.max()), h.mean() / 1e3}) {
    row += fixed(v, 1, 10);
  }
  return row + "\n";
}

std::string errors_text(const ErrorCounts& e) {
  std::string out = std::to_string(e.total());
  std::string detail;
  for (auto c : kAllErrorClasses) {
    if (e[c] == 0) continue;
    if (!detail.empty()) detail += ", ";
    detail += std::string(error_class_name(c)) + " " + std::to_string(e[c]);
  }
  return detail.empty() ? out : out + " (" + detail + ")";
}

}  // namespace

bool load_succeeded(const LoadResult& r) {
  return r.total.errors.total() == 0 && r.total.sent > 0 && r.total.received == r.total.sent;
}

std::string format_summary(const Options& o, const LoadResult& r) {
  const Stats& t = r.total;
  const double bytes = static_cast<double>(t.verified_bytes);
  std::ostringstream out;
  out << "echo-probe " << protocol_name(o.protocol) << " " << o.target << ": " << o.connections
      << (o.protocol == Protocol::kUdp ? " socket(s), " : " connection(s), ") << r.threads
      << " thread(s), " << o.size << "-byte messages"
      << (o.rate > 0 ? ", open loop " + fixed(o.rate, 0) + " msg/s" : ", closed loop")
      << (o.new_connection ? ", new connection per message" : "")
      << (o.tls ? ", TLS" : "")
      << (o.proxy != ProxyVersion::kOff
              ? std::string(", PROXY protocol ") + proxy_version_name(o.proxy)
              : "")
      << (r.interrupted ? " (interrupted)" : "") << "\n";
  if (o.tls && o.tls->insecure()) out << "  " << kTlsInsecureWarning << "\n";
  out << "  sent        " << t.sent << " msgs\n";
  out << "  received    " << t.received << " msgs verified, " << t.verified_bytes << " bytes\n";
  out << "  errors      " << errors_text(t.errors) << "\n";
  if (!t.tls_error.empty()) out << "  tls error   " << t.tls_error << "\n";
  out << "  duration    " << fixed(r.duration_s, 3) + " s"
      << "\n";
  out << "  throughput  "
      << fixed(per_sec(static_cast<double>(t.received), r.duration_s), 1) + " msgs/s"
      << ", " << fixed(per_sec(bytes, r.duration_s), 1) + " bytes/s"
      << "\n";
  out << "  latency (us)         min       p50       p90       p99     p99.9       max      mean\n";
  out << latency_row("round trip", t.rtt_ns);
  if (o.protocol == Protocol::kTcp) out << latency_row("connect", t.connect_ns);
  if (o.tls) out << latency_row("tls handshake", t.tls_handshake_ns);
  if (o.all_addresses) {
    for (std::size_t a = 0; a < r.addresses.size(); ++a) {
      const Stats& s = r.per_address[a];
      out << "  address " << r.addresses[a] << ": " << r.connections_per_address[a]
          << " conn, sent " << s.sent << ", received " << s.received << ", errors "
          << errors_text(s.errors) << ", p50 " << fixed(us(s.rtt_ns.percentile(50)), 1) + " us"
          << "\n";
    }
  }
  out << (load_succeeded(r) ? "OK: every message verified\n" : "FAIL\n");
  return out.str();
}

std::string format_json(const Options& o, const LoadResult& r) {
  const Stats& t = r.total;
  Json j;
  j["target"] = o.target;
  j["protocol"] = protocol_name(o.protocol);
  j["connections"] = o.connections;
  j["sent"] = t.sent;
  j["received"] = t.received;
  j["verified_bytes"] = t.verified_bytes;
  j["errors"] = t.errors.total();
  j["error_classes"] = classes_json(t.errors);
  j["timeouts"] = t.errors[ErrorClass::kTimeout];
  j["mismatches"] = t.errors[ErrorClass::kMismatch];
  j["duration_s"] = round3(r.duration_s);
  j["msgs_per_sec"] = round3(per_sec(static_cast<double>(t.received), r.duration_s));
  j["bytes_per_sec"] = round3(per_sec(static_cast<double>(t.verified_bytes), r.duration_s));
  j["latency_us"] = latency_json(t.rtt_ns);
  j["connect_us"] = latency_json(t.connect_ns);
  if (o.tls) {
    j["tls"] = true;
    j["tls_insecure"] = o.tls->insecure();
    j["tls_handshake_us"] = latency_json(t.tls_handshake_ns);
    if (!t.tls_error.empty()) j["tls_error"] = t.tls_error;
  }
  if (o.proxy != ProxyVersion::kOff) j["proxy_protocol"] = proxy_version_name(o.proxy);
  if (o.all_addresses) {
    Json list = Json::array();
    for (std::size_t a = 0; a < r.addresses.size(); ++a) {
      const Stats& s = r.per_address[a];
      Json e;
      e["address"] = r.addresses[a];
      e["connections"] = r.connections_per_address[a];
      e["sent"] = s.sent;
      e["received"] = s.received;
      e["verified_bytes"] = s.verified_bytes;
      e["errors"] = s.errors.total();
      e["error_classes"] = classes_json(s.errors);
      e["latency_us"] = latency_json(s.rtt_ns);
      e["connect_us"] = latency_json(s.connect_ns);
      if (o.tls) e["tls_handshake_us"] = latency_json(s.tls_handshake_ns);
      list.push_back(e);
    }
    j["per_address"] = list;
  }
  return j.dump() + "\n";
}

std::string format_http_summary(const Options& o, const HttpResult& r) {
  std::ostringstream out;
  out << "echo-probe http " << o.target << "\n";
  for (const auto& c : r.checks) {
    std::string path = c.path;
    path.resize(10, ' ');
    out << "  GET " << path;
    if (c.error) {
      out << "error (" << error_class_name(*c.error) << ": " << c.body << ")";
    } else {
      out << c.status << "  " << fixed(c.latency_us, 1) + " us"
          << "  " << c.body;
    }
    out << "\n";
  }
  out << (r.ok() ? "OK: /livez and /readyz answered 200\n" : "FAIL\n");
  return out.str();
}

std::string format_http_json(const Options& o, const HttpResult& r) {
  ErrorCounts errors;
  std::uint64_t received = 0;
  Json checks = Json::object();
  for (const auto& c : r.checks) {
    if (c.error) errors.add(*c.error);
    if (!c.error) ++received;
    Json e;
    e["status"] = c.status;
    e["latency_us"] = round3(c.latency_us);
    e["ok"] = c.status == 200;
    checks[c.path] = e;
  }
  Json j;
  j["target"] = o.target;
  j["protocol"] = "http";
  j["sent"] = r.checks.size();
  j["received"] = received;
  j["errors"] = errors.total();
  j["error_classes"] = classes_json(errors);
  j["duration_s"] = round3(r.duration_s);
  j["checks"] = checks;
  j["ok"] = r.ok();
  return j.dump() + "\n";
}

std::string format_progress(const ProgressSample& now, const ProgressSample& previous) {
  const double dt = now.elapsed_s - previous.elapsed_s;
  const double rate = dt > 0 ? static_cast<double>(now.received - previous.received) / dt : 0.0;
  char buf[160];
  std::snprintf(buf, sizeof buf, "[%6.1fs] sent %llu  received %llu  %.0f msgs/s  errors %llu",
                now.elapsed_s, static_cast<unsigned long long>(now.sent),
                static_cast<unsigned long long>(now.received), rate,
                static_cast<unsigned long long>(now.errors));
  return buf;
}

}  // namespace echo_probe
