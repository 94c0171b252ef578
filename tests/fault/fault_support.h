#pragma once
// Helpers the fault tier shares: CPU time of a process, many sockets driven at once,
// echo-probe as a child, and one-line FIGURE records that docs/reliability.md quotes.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {

/// User + system CPU seconds a process has used so far (/proc/PID/stat).
double cpu_seconds(pid_t pid);

/// Prints "FIGURE <test> <name>=<value>" on stdout and records it as a gtest property, so a
/// run's log holds every measured figure.
void figure(const std::string& name, double value);

/// One echo exchange per socket, all at once over poll(): connect, send `payload`, optionally
/// half-close (SHUT_WR), read until `payload.size()` bytes (or EOF when half-closed).
struct EchoJob {
  Fd fd;
  std::string payload;
  std::string received;
  std::size_t sent = 0;
  bool eof = false;
  bool failed = false;
};
/// Drives every job until done or `timeout`. `half_close`: shut down writing after sending
/// and read to EOF. Returns the number of jobs that got exactly their payload back (and EOF
/// when half-closing).
int drive_echo_jobs(std::vector<EchoJob>& jobs, bool half_close, milliseconds timeout);

/// Opens `n` connections to 127.0.0.1:port with non-blocking connect, then waits until each
/// is established; empty Fds for failures.
/// `before_connect` may set socket options that must precede the handshake (buffer sizes,
/// TCP_MAXSEG).
std::vector<Fd> connect_many(std::uint16_t port, int n, milliseconds timeout = milliseconds(10'000),
                             const std::function<void(int)>& before_connect = {});

/// Sends `msg` and expects it back within `timeout`.
bool echoes(int fd, const std::string& msg, milliseconds timeout = milliseconds(5000));

/// Result of one echo-probe run with --json.
struct ProbeResult {
  int exit_code = -1;
  std::string json;  // the JSON summary (last stdout line starting with '{')
  std::uint64_t sent = 0, received = 0, verified_bytes = 0, errors = 0, mismatches = 0;
  std::string stderr_text;
};
ProbeResult parse_probe_output(int exit_code, const std::vector<std::string>& out_lines,
                               const std::string& err);

/// Least-squares slope of y over x.
double slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace echod::test
