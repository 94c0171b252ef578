#pragma once
// A real echod (or any binary) as a child process: start it on ephemeral loopback ports,
// read the ports it actually bound from its startup log line, signal it, wait for its exit.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace echod::test {

using Env = std::map<std::string, std::string>;
using std::chrono::milliseconds;

/// A child process whose stdout and stderr are captured line by line.
/// Not thread-safe itself; its reader threads are internal. The destructor SIGKILLs a child
/// that is still running, so a failing test never leaves processes behind.
class ChildProcess {
 public:
  /// Starts `binary args...` (searched in PATH unless it has a slash) with exactly `env`
  /// (plus PATH and sanitizer options) as its environment.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const Env& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  /// The exit code (128+N for a signal), or nullopt if it has not exited within `timeout`.
  std::optional<int> wait_exit(milliseconds timeout);
  /// Waits until a stdout line satisfies `match`; returns it, or nullopt after `timeout`.
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& match,
                                           milliseconds timeout);
  /// After exit: waits until both streams reached EOF, so the captured output is complete.
  void join_output();
  std::vector<std::string> stdout_lines() const;
  std::string stderr_text() const;
  /// Everything written to stdout and stderr so far, for failure messages.
  std::string output() const;

 private:
  void read_stream(int fd, bool is_stdout);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> out_lines_;
  std::string err_text_;
  std::thread out_reader_;
  std::thread err_reader_;
};

/// echod started on 127.0.0.1:0 for both ports (unless `args` names --listen or
/// --admin-listen), waiting for its "echod started" line.
class EchodProcess {
 public:
  static constexpr milliseconds kStartTimeout{10'000};

  explicit EchodProcess(std::vector<std::string> args = {}, const Env& env = {});

  std::uint16_t echo_port() const { return echo_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  /// The TLS echo port ("tls_address"); 0 without --tls-listen.
  std::uint16_t tls_port() const { return tls_port_; }
  ChildProcess& process() { return *child_; }
  void signal(int sig) { child_->signal(sig); }
  std::optional<int> wait_exit(milliseconds timeout) { return child_->wait_exit(timeout); }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::uint16_t echo_port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::uint16_t tls_port_ = 0;
};

/// echod with one worker (so every connection and datagram meets the same worker) and the
/// fault rules `rules` (a JSON list, as --faults takes it), plus `extra` arguments.
EchodProcess with_rules(const std::string& rules, std::vector<std::string> extra = {});

/// Runs a binary to completion (for --check-config, --version, bad flags).
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
RunResult run_to_exit(const std::string& binary, const std::vector<std::string>& args,
                      const Env& env = {}, milliseconds timeout = milliseconds(10'000));
inline RunResult run_echod(const std::vector<std::string>& args, const Env& env = {}) {
  return run_to_exit(ECHOD_BINARY, args, env);
}

/// The port at the end of "host:port" / "[v6]:port" in a JSON log field `key`, or 0.
std::uint16_t port_from_log_field(const std::string& line, const std::string& key);

}  // namespace echod::test
