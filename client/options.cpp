#include "options.h"

#include <sched.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <stdexcept>

#include "duration.h"
#include "usage_error.h"

namespace echo_probe {
namespace {

// Raw values as CLI11 fills them; validated into Options afterwards.
struct RawOptions {
  std::string target;
  int connections = 1;
  std::optional<long long> count;
  std::string duration;
  std::optional<int> threads;
  long long size = 64;
  std::optional<double> rate;
  std::string timeout = "5s";
  bool new_connection = false;
  bool all_addresses = false;
  bool json = false;
  bool quiet = false;
  bool tls = false;
  TlsSettings tls_settings;
  std::string proxy_protocol;
};

void add_common(CLI::App* sub, RawOptions& raw, const char* target_help) {
  sub->add_option("TARGET", raw.target, target_help)->required();
  sub->add_option("--timeout", raw.timeout, "connect and per-message timeout (250ms, 5s, ...)")
      ->capture_default_str();
  sub->add_flag("--json", raw.json, "print one JSON object on stdout at the end");
  sub->add_flag("-q,--quiet", raw.quiet, "no progress lines on stderr");
}

void add_load(CLI::App* sub, RawOptions& raw) {
  sub->add_option("-c,--connections", raw.connections, "concurrent connections / sockets")
      ->capture_default_str();
  sub->add_option("-n,--count", raw.count,
                  "messages per connection; 0 = no limit (default 1, or 0 with --duration)");
  sub->add_option("-d,--duration", raw.duration, "run for this long (250ms, 5s, 2m, 1h)");
  sub->add_option("-t,--threads", raw.threads, "load-engine threads (default: CPUs available)");
  sub->add_option("-s,--size", raw.size, "message size in bytes")->capture_default_str();
  sub->add_option("-r,--rate", raw.rate,
                  "total messages per second, open loop (default: closed loop)");
  sub->add_flag("--new-connection", raw.new_connection,
                "connect, send, receive and close for every message");
  sub->add_flag("--all-addresses", raw.all_addresses,
                "spread connections over every address HOST resolves to; report per address");
}

}  // namespace

void add_tls_flags(CLI::App* app, TlsSettings& s) {
  app->add_option("--tls-ca", s.ca_file,
                  "PEM CA certificates to verify the server with (default: the system's)");
  app->add_option("--tls-cert", s.cert_file, "PEM client certificate chain (mTLS); needs --tls-key");
  app->add_option("--tls-key", s.key_file, "PEM private key of --tls-cert");
  app->add_option("--tls-server-name", s.server_name,
                  "SNI and the name the certificate must carry (default: the target's host)");
  app->add_flag("--tls-insecure", s.insecure,
                "do NOT verify the server's certificate (warned about on stderr and in reports)");
}

namespace {

void add_tcp_only(CLI::App* sub, RawOptions& raw) {
  sub->add_flag("--tls", raw.tls, "speak TLS (1.2 or 1.3) to the target; verification is on");
  add_tls_flags(sub, raw.tls_settings);
  sub->add_option("--proxy-protocol", raw.proxy_protocol,
                  "send a PROXY protocol header (v1 or v2) first on every connection");
}

std::chrono::nanoseconds duration_arg(const std::string& name, const std::string& text) {
  const auto d = echod::parse_duration_ns(text);
  if (!d) throw UsageError(name, "'" + text + "' is not a duration (e.g. 250ms, 5s, 2m, 1h)");
  if (d->count() <= 0) throw UsageError(name, "must be greater than 0");
  return *d;
}

Options validate(Protocol protocol, const RawOptions& raw) {
  Options o;
  o.protocol = protocol;
  o.target = raw.target;
  const auto endpoint =
      protocol == Protocol::kHttp ? parse_http_url(raw.target) : parse_host_port(raw.target);
  if (!endpoint) {
    throw UsageError("TARGET", "'" + raw.target + "' is not " +
                                   (protocol == Protocol::kHttp ? "http://HOST[:PORT]"
                                                                : "HOST:PORT or [IPV6]:PORT"));
  }
  o.endpoint = *endpoint;
  o.timeout = duration_arg("--timeout", raw.timeout);
  o.json = raw.json;
  o.quiet = raw.quiet;
  if (protocol == Protocol::kHttp) return o;

  if (raw.connections < 1 || raw.connections > kMaxConnections) {
    throw UsageError("--connections", "must be between 1 and " + std::to_string(kMaxConnections));
  }
  o.connections = raw.connections;
  if (!raw.duration.empty()) o.duration = duration_arg("--duration", raw.duration);
  const long long count = raw.count.value_or(o.duration ? 0 : 1);
  if (count < 0) throw UsageError("--count", "must be 0 (no limit) or more");
  o.count = static_cast<std::uint64_t>(count);
  const auto max_size =
      static_cast<long long>(protocol == Protocol::kUdp ? kMaxUdpPayload : kMaxTcpMessage);
  if (raw.size < 1 || raw.size > max_size) {
    throw UsageError("--size", "must be between 1 and " + std::to_string(max_size));
  }
  o.size = static_cast<std::size_t>(raw.size);
  if (raw.rate) {
    if (!(*raw.rate > 0) || *raw.rate > 1e8) {
      throw UsageError("--rate", "must be greater than 0 (messages per second)");
    }
    o.rate = *raw.rate;
  }
  const int threads = raw.threads.value_or(available_cpus());
  if (threads < 1 || threads > 1024) throw UsageError("--threads", "must be between 1 and 1024");
  o.threads = std::min(threads, o.connections);
  o.new_connection = raw.new_connection;
  if (o.new_connection && protocol == Protocol::kUdp) {
    throw UsageError("--new-connection", "only applies to tcp");
  }
  o.all_addresses = raw.all_addresses;
  // --tls-* settings only mean something with --tls; a file that cannot be used is a
  // usage error now, not a failed handshake per connection later.
  if (!raw.tls && raw.tls_settings.any_set()) {
    throw UsageError(raw.tls_settings.first_set(), "needs --tls");
  }
  if (raw.tls) o.tls = TlsClientContext::create(raw.tls_settings);
  if (!raw.proxy_protocol.empty()) {
    o.proxy = parse_proxy_version("--proxy-protocol", raw.proxy_protocol);
  }
  return o;
}

}  // namespace

std::string protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kHttp:
      return "http";
  }
  return "tcp";
}

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

ParseOutcome parse_options(const std::vector<std::string>& args) {
  CLI::App app{"echo-probe: verify and load an echo service (RFC 862) and check its admin port",
               "echo-probe"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 every message verified (http: /livez and /readyz both 200), 1 any "
      "failure, 2 usage error.\nErrors by class: dns, refused, timeout, reset, closed, "
      "mismatch, tls.\nContinuous monitoring of echo paths: echo-probe monitor --help.");
  app.set_help_all_flag("--help-all", "help for every mode");
  RawOptions raw;
  auto* tcp = app.add_subcommand("tcp", "TCP echo: verify every byte, measure, drive load");
  auto* udp = app.add_subcommand("udp", "UDP echo: one datagram of --size per message");
  auto* http = app.add_subcommand("http", "admin port: GET /livez and /readyz, both must be 200");
  add_common(tcp, raw, "HOST:PORT or [IPV6]:PORT");
  add_load(tcp, raw);
  add_tcp_only(tcp, raw);
  add_common(udp, raw, "HOST:PORT or [IPV6]:PORT");
  add_load(udp, raw);
  add_common(http, raw, "http://HOST:PORT");

  ParseOutcome out;
  if (args.empty() ||
      (args[0] != "tcp" && args[0] != "udp" && args[0] != "http" && args[0].rfind('-', 0) != 0)) {
    out.exit_code = 2;
    out.text = args.empty()
                   ? "echo-probe: MODE is required: tcp, udp, http or monitor (see --help)"
                   : "echo-probe: MODE: '" + args[0] +
                         "' is not tcp, udp, http or monitor (see --help)";
    return out;
  }
  try {
    // CLI11 wants argv order without the program name, reversed.
    std::vector<std::string> rest(args.rbegin(), args.rend());
    app.parse(rest);
    const Protocol protocol = tcp->parsed()   ? Protocol::kTcp
                              : udp->parsed() ? Protocol::kUdp
                                              : Protocol::kHttp;
    out.options = validate(protocol, raw);
  } catch (const CLI::CallForHelp&) {
    CLI::App* shown = &app;
    for (auto* sub : {tcp, udp, http}) {
      if (sub->parsed()) shown = sub;
    }
    out.text = shown->help();
  } catch (const CLI::CallForAllHelp&) {
    out.text = app.help("", CLI::AppFormatMode::All);
  } catch (const CLI::ParseError& e) {
    out.exit_code = 2;
    out.text = "echo-probe: " + one_line(e.what()) + " (see echo-probe --help)";
  } catch (const UsageError& e) {
    out.exit_code = 2;
    out.text = "echo-probe: " + one_line(e.what());
  }
  return out;
}

ParseOutcome parse_options(int argc, const char* const argv[]) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return parse_options(args);
}

}  // namespace echo_probe
