#include "monitor_options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "duration.h"
#include "options.h"
#include "usage_error.h"

namespace echo_probe::monitor {
namespace {

constexpr const char* kDefaultBuckets =
    "0.0001,0.00025,0.0005,0.001,0.0025,0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5";

// Raw strings as CLI11 fills them; validate() turns them into MonitorOptions.
struct RawMonitorOptions {
  std::vector<std::string> targets;
  std::string listen = ":9707";
  std::string interval = "1s";
  long long persistent = 2;
  std::string persistent_interval = "100ms";
  long long size = 64;
  std::string timeout = "2s";
  std::string resolve_interval = "5s";
  long long max_addresses = 64;
  std::string buckets = kDefaultBuckets;
  std::string duration = "0";
  std::string report;
  bool fail_on_disruption = false;
  TlsSettings tls;
  std::string proxy_protocol;
};

Nanos duration_arg(const std::string& name, const std::string& text, bool zero_ok) {
  if (zero_ok && text == "0") return 0;
  const auto d = echod::parse_duration_ns(text);
  if (!d) throw UsageError(name, "'" + text + "' is not a duration (e.g. 250ms, 5s, 2m, 1h)");
  if (d->count() <= 0 && !zero_ok) throw UsageError(name, "must be greater than 0");
  return d->count();
}

std::vector<double> parse_buckets(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(v) || v <= 0) {
      throw UsageError("--buckets", "'" + item + "' is not a positive number of seconds");
    }
    if (!out.empty() && v <= out.back()) {
      throw UsageError("--buckets", "must be strictly increasing ('" + item + "')");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("--buckets", "needs at least one bucket");
  return out;
}

void parse_listen(const std::string& text, MonitorOptions& o) {
  // ":PORT" = every interface; otherwise HOST:PORT / [V6]:PORT. Port 0 = ephemeral.
  std::string host_port = text;
  if (!host_port.empty() && host_port.front() == ':') host_port = "0.0.0.0" + host_port;
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon + 1 == host_port.size()) {
    throw UsageError("--listen", "'" + text + "' is not [HOST]:PORT");
  }
  std::string host = host_port.substr(0, colon);
  const std::string port = host_port.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) > 65535) {
    throw UsageError("--listen", "'" + text + "' is not [HOST]:PORT");
  }
  o.listen_host = host;
  o.listen_port = static_cast<std::uint16_t>(std::stoul(port));
}

MonitorOptions validate(const RawMonitorOptions& raw) {
  MonitorOptions o;
  for (const auto& text : raw.targets) {
    std::string why;
    auto t = parse_monitor_target(text, &why);
    if (!t) throw UsageError("TARGET", why);
    o.targets.push_back(std::move(*t));
  }
  const auto has = [&](Transport tr) {
    return std::any_of(o.targets.begin(), o.targets.end(),
                       [tr](const MonitorTarget& t) { return t.transport == tr; });
  };
  // The TLS settings are for tls:// targets: given without one, they are a mistake.
  if (has(Transport::kTls)) {
    o.tls = TlsClientContext::create(raw.tls);
  } else if (raw.tls.any_set()) {
    throw UsageError(raw.tls.first_set(), "needs a tls:// TARGET");
  }
  if (!raw.proxy_protocol.empty()) {
    o.proxy = parse_proxy_version("--proxy-protocol", raw.proxy_protocol);
    if (!has(Transport::kTcp) && !has(Transport::kTls)) {
      throw UsageError("--proxy-protocol", "needs a tcp:// or tls:// TARGET (not for udp://)");
    }
  }
  parse_listen(raw.listen, o);
  o.interval = duration_arg("--interval", raw.interval, false);
  if (raw.persistent < 0 || raw.persistent > 1000) {
    throw UsageError("--persistent", "must be between 0 and 1000");
  }
  o.persistent = static_cast<int>(raw.persistent);
  o.persistent_interval = duration_arg("--persistent-interval", raw.persistent_interval, false);
  // One message fits one datagram and one read buffer, for every transport alike.
  const auto max_size = static_cast<long long>(kMaxUdpPayload);
  if (raw.size < 1 || raw.size > max_size) {
    throw UsageError("--size", "must be between 1 and " + std::to_string(max_size));
  }
  o.size = static_cast<std::size_t>(raw.size);
  o.timeout = duration_arg("--timeout", raw.timeout, false);
  o.resolve_interval = duration_arg("--resolve-interval", raw.resolve_interval, false);
  if (raw.max_addresses < 1 || raw.max_addresses > 4096) {
    throw UsageError("--max-addresses", "must be between 1 and 4096");
  }
  o.max_addresses = static_cast<int>(raw.max_addresses);
  o.buckets = parse_buckets(raw.buckets);
  o.duration = duration_arg("--duration", raw.duration, true);
  o.report_file = raw.report;
  o.fail_on_disruption = raw.fail_on_disruption;
  return o;
}

}  // namespace

std::vector<double> default_buckets() { return parse_buckets(kDefaultBuckets); }

MonitorParseOutcome parse_monitor_options(const std::vector<std::string>& args) {
  CLI::App app{"echo-probe monitor: watch echo paths continuously, per resolved address",
               "echo-probe monitor"};
  app.footer(
      "TARGET: tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT. Exit codes: 0 "
      "every persistent-connection break was graceful (or no --fail-on-disruption), 1 a "
      "non-graceful break with --fail-on-disruption, 2 usage error. SIGTERM writes the "
      "report and exits 0.");
  RawMonitorOptions raw;
  app.add_option("TARGET", raw.targets, "tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT")
      ->required();
  app.add_option("--listen", raw.listen, "HTTP port: /metrics /livez /readyz /report")
      ->capture_default_str();
  app.add_option("--interval", raw.interval, "a fresh connection per address this often")
      ->capture_default_str();
  app.add_option("--persistent", raw.persistent, "long-lived connections per address")
      ->capture_default_str();
  app.add_option("--persistent-interval", raw.persistent_interval,
                 "one message per persistent connection this often")
      ->capture_default_str();
  app.add_option("--size", raw.size, "message size in bytes")->capture_default_str();
  app.add_option("--timeout", raw.timeout, "connect and echo timeout")->capture_default_str();
  app.add_option("--resolve-interval", raw.resolve_interval, "re-resolve names this often")
      ->capture_default_str();
  app.add_option("--max-addresses", raw.max_addresses, "at most this many addresses per target")
      ->capture_default_str();
  app.add_option("--buckets", raw.buckets, "latency histogram buckets in seconds")
      ->capture_default_str();
  app.add_option("--duration", raw.duration, "stop after this long; 0 = until SIGTERM/SIGINT")
      ->capture_default_str();
  app.add_option("--report", raw.report, "write the disruption report (JSON) here at exit");
  app.add_flag("--fail-on-disruption", raw.fail_on_disruption,
               "exit 1 if any persistent connection broke other than graceful");
  add_tls_flags(&app, raw.tls);  // for tls:// targets
  app.add_option("--proxy-protocol", raw.proxy_protocol,
                 "send a PROXY protocol header (v1 or v2) first on tcp:// and tls:// connections");

  MonitorParseOutcome out;
  try {
    std::vector<std::string> rest(args.rbegin(), args.rend());
    app.parse(rest);
    out.options = validate(raw);
  } catch (const CLI::CallForHelp&) {
    out.text = app.help();
  } catch (const CLI::ParseError& e) {
    out.exit_code = 2;
    out.text = "echo-probe monitor: " + one_line(e.what()) + " (see echo-probe monitor --help)";
  } catch (const UsageError& e) {
    out.exit_code = 2;
    out.text = "echo-probe monitor: " + one_line(e.what());
  }
  return out;
}

}  // namespace echo_probe::monitor
