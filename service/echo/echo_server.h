#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "config_store.h"
#include "logger.h"
#include "worker_stats.h"

namespace echod {

class Worker;
class TlsContext;

/// The echo port: N workers, each a thread with its own epoll loop, its own SO_REUSEPORT
/// listener (and UDP socket with --udp), and the connections it accepted.
///
/// Lifecycle verbs, called from one controlling thread (main, or a test):
///   bind() -> start() -> [stop_accepting() -> wait_for_drain() -> close_all()] -> stop().
/// worker_stats() and active_connections() may be read from any thread at any time.
class EchoServer {
 public:
  EchoServer(const Config& config, ConfigStore& store, Logger& logger);
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  /// Binds every worker's listener (port 0: the first picks, the rest share it).
  /// Returns an error text, or nullopt on success.
  std::optional<std::string> bind();
  /// The TCP (and UDP) address actually bound, e.g. "[::]:7007" or "127.0.0.1:40211".
  std::string bound_address() const;
  std::uint16_t port() const;
  /// The TLS listener's bound address; empty without --tls-listen.
  std::string tls_bound_address() const;
  std::uint16_t tls_port() const;

  /// Serves `context` to new TLS handshakes from now on (start, SIGHUP, file change); open
  /// connections keep the certificate they were accepted with. Controlling thread.
  void set_tls_context(std::shared_ptr<const TlsContext> context);
  /// Counts a certificate reload (the failures kept the old certificate).
  void record_tls_reload(bool ok);
  /// For /metrics: any thread.
  struct TlsStatus {
    bool enabled = false;  // a TLS listener serves a certificate
    std::uint64_t reload_successes = 0;
    std::uint64_t reload_failures = 0;
    double leaf_not_after_unix = 0;
  };
  TlsStatus tls_status() const;

  void start();
  /// Drain phase: every worker closes its listeners; open connections keep echoing.
  void stop_accepting();
  /// Waits until no connection is open or `timeout` passes; true when none is left.
  bool wait_for_drain(std::chrono::milliseconds timeout);
  /// Flushes what each open connection has pending (best effort) and closes it (reason
  /// shutdown).
  void close_all();
  /// Stops the loops and joins the threads. Idempotent.
  void stop();

  std::size_t worker_count() const;
  const WorkerStats& worker_stats(std::size_t worker) const;
  std::int64_t active_connections() const;

 private:
  std::optional<std::string> bind_tls(Endpoint at);
  struct Shared;
  std::unique_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  Logger& logger_;
  bool started_ = false;
};

/// CPUs this process may use: its affinity mask, capped by the cgroup v2/v1 CPU quota.
unsigned available_cpus();

}  // namespace echod
