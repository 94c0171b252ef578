#pragma once
// echo-probe's command line (SPEC "echo-probe"): parsed and validated, or a usage error.
#include <chrono>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proxy_header.h"
#include "target.h"
#include "tls_client.h"

namespace CLI {
class App;
}

namespace echo_probe {

enum class Protocol { kTcp, kUdp, kHttp };

std::string protocol_name(Protocol p);

/// Everything one run needs, validated: counts are in range, the target parsed.
struct Options {
  Protocol protocol = Protocol::kTcp;
  std::string target;  // as the user wrote it
  HostPort endpoint;   // parsed from `target`
  int connections = 1;
  std::uint64_t count = 1;  // messages per connection; 0 = no limit
  std::optional<std::chrono::nanoseconds> duration;
  int threads = 1;  // already capped at `connections`
  std::size_t size = 64;
  double rate = 0;  // total messages/s; 0 = closed loop
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);
  bool new_connection = false;
  bool all_addresses = false;
  bool json = false;
  bool quiet = false;
  // tcp only: --tls (with its settings loaded into one context) and --proxy-protocol.
  std::shared_ptr<const TlsClientContext> tls;  // null = plaintext
  ProxyVersion proxy = ProxyVersion::kOff;
};

/// What parsing produced: options to run, or text to print and an exit code
/// (0 for --help on stdout, 2 for a usage error: one line on stderr naming the argument).
struct ParseOutcome {
  std::optional<Options> options;
  int exit_code = 0;
  std::string text;
};

ParseOutcome parse_options(const std::vector<std::string>& args);
ParseOutcome parse_options(int argc, const char* const argv[]);

/// Adds --tls-ca, --tls-cert, --tls-key, --tls-server-name and --tls-insecure to `app`
/// (`echo-probe tcp` and `echo-probe monitor` share them).
void add_tls_flags(CLI::App* app, TlsSettings& settings);

/// CPUs this process may run on (sched_getaffinity), at least 1.
int available_cpus();

constexpr std::size_t kMaxUdpPayload = 65507;
constexpr std::size_t kMaxTcpMessage = 64u << 20;
constexpr int kMaxConnections = 1'000'000;

}  // namespace echo_probe
