#pragma once
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "config_store.h"
#include "connection.h"
#include "event_loop.h"
#include "tls_context.h"
#include "fault.h"
#include "logger.h"
#include "object_pool.h"
#include "proxy_preamble.h"
#include "timer_heap.h"
#include "tls_connection.h"
#include "udp_echo.h"
#include "worker_stats.h"

namespace echod {

/// State every worker shares: the settings store, the logger, and the global count of open
/// connections (touched once per connection, never per message).
struct WorkerShared {
  ConfigStore& store;
  Logger& logger;
  std::atomic<std::int64_t> active_connections{0};
  /// `--proxy-protocol`: fixed for the process's life (not a runtime setting).
  ProxyProtocolMode proxy_protocol = ProxyProtocolMode::kOff;
};

/// One event-loop thread: its listener (and UDP socket), the connections it accepted, the
/// timers that close idle and old connections, and its own counters.
/// Control methods (bind, start, stop_accepting, close_all, stop) are called from the
/// controlling thread; they hand work to the loop thread with EventLoop::post().
class Worker final : private ConnectionContext,
                     private ProxyPreambleOwner,
                     private TlsConnectionOwner {
 public:
  static constexpr std::size_t kReadBufferSize = 64 * 1024;
  /// Free Connection blocks a worker keeps for reuse (~100 B each): enough for a client
  /// churning connections, small next to the 64 KiB read buffer.
  static constexpr std::size_t kPooledConnections = 256;

  Worker(std::size_t id, WorkerShared& shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Opens this worker's TCP listener (and UDP socket when `udp`) on `at`.
  std::optional<std::string> bind(const Endpoint& at, bool udp);
  int listen_fd() const { return listen_fd_; }
  /// Opens this worker's TLS listener on `at` (before start()).
  std::optional<std::string> bind_tls(const Endpoint& at);
  int tls_listen_fd() const { return tls_listen_fd_; }
  /// The certificate new handshakes get from now on (open connections keep theirs). Any
  /// thread; returns once the loop thread took it.
  void set_tls_context(std::shared_ptr<const TlsContext> context);

  void start();
  /// Closes the listeners; returns once the loop thread did it.
  void stop_accepting();
  /// Flushes and closes every open connection (reason shutdown); returns once done.
  void close_all();
  /// Ends the loop and joins the thread.
  void stop();

  const WorkerStats& stats() const { return stats_; }

 private:
  /// One per listening socket (plain and TLS): accepting is the same for both, and which
  /// connection an fd becomes is decided by `kind`.
  class Listener final : public Watcher {
   public:
    Listener(Worker& w, FaultListener kind) : worker_(w), kind_(kind) {}
    void on_events(std::uint32_t) override { worker_.accept_ready(kind_); }

   private:
    Worker& worker_;
    FaultListener kind_;
  };

  void run();
  // Accepts up to a turn's share from the listener of `kind` (descriptor exhaustion shed).
  void accept_ready(FaultListener kind);
  // Takes a max-connections slot for an accepted descriptor (plain or TLS listener), then
  // hands it to the PROXY header stage when that is on, else straight to its connection.
  void admit(int fd, FaultListener listener);
  // Turns an accepted (and counted) descriptor into an echo connection. `source`: the client
  // address a PROXY header named (null: the socket's peer). `registered`: the descriptor is
  // already in epoll (it waited for its header there).
  void open_connection(int fd, const sockaddr_storage* source, bool registered);
  // The PROXY protocol stage (only with --proxy-protocol on), in worker_proxy_stage.cpp.
  void start_preamble(int fd, FaultListener listener);
  void on_preamble_ready(ProxyPreamble& p, bool hangup) override;
  void drop_preamble(ProxyPreamble& p);
  void expire_preambles();
  /// Makes a TlsConnection of an accepted TLS-listener fd whose max-connections slot admit()
  /// took: applies the fault rules, registers it. `source`: the client address for fault
  /// rules and logs (a PROXY header's); null = the socket's peer. `registered`: the fd waited
  /// for its PROXY header in epoll. The fd stands at the first TLS byte, with nothing of the
  /// ClientHello read into user space (the TLS side peeks it from the kernel).
  void open_tls_connection(int fd, const sockaddr_storage* source, bool registered);
  void sweep_tls();
  void run_tls_deferred();
  void shed_with_reserve_fd(int listener);
  void pause_accepting();
  void resume_accepting_if_due();
  void close_listeners();
  void refresh_settings();
  void sweep();
  void run_deferred();
  void run_timers();
  // The fault rule for a new connection on the listener of `kind`; refuse is done here.
  std::unique_ptr<FaultedIo> choose_fault(int fd, const sockaddr_storage* source,
                                          FaultListener kind, bool* refused);
  int wait_timeout_ms() const;
  // Runs `task` on the loop thread and waits for it (before start(): runs it here).
  void run_on_loop(const std::function<void()>& task);

  // ConnectionContext
  void release(Connection& c, CloseReason reason) override;
  void defer(Connection& c) override;
  void arm_timer(Connection& c, std::int64_t when_ns) override;
  // TlsConnectionOwner
  void release_tls(TlsConnection& c, CloseReason reason) override;
  void defer_tls(TlsConnection& c) override;
  ssl_ctx_st* tls_context() override;
  void arm_tls_timer(TlsConnection& c, std::int64_t when_ns) override;

  ConnectionContext& context() { return *this; }  // the base ObjectPool::make cannot see
  std::size_t id_;
  WorkerShared& shared_;
  WorkerStats stats_;
  EventLoop loop_;
  Listener listener_{*this, FaultListener::kTcp};
  int listen_fd_ = -1;
  int reserve_fd_ = -1;           // spent to accept-and-close when descriptors run out
  bool accepting_paused_ = false;  // EMFILE without a reserve: listener out of epoll
  std::int64_t resume_accepting_ns_ = 0;
  std::unique_ptr<UdpEcho> udp_;
  std::unique_ptr<char[]> read_buffer_;
  // Declared before every list of connections: their storage outlives them.
  ObjectPool<Connection> connection_pool_{kPooledConnections};
  std::vector<Connection*> connections_;
  std::vector<Connection*> deferred_;
  std::vector<Connection*> deferred_batch_;  // run_deferred()'s working copy
  std::list<ProxyPreamble> preambles_;  // in accept order, so the oldest times out first
  Listener tls_listener_{*this, FaultListener::kTls};
  int tls_listen_fd_ = -1;
  std::shared_ptr<const TlsContext> tls_context_;  // what new handshakes use
  std::vector<TlsConnection*> tls_connections_;
  std::vector<TlsConnection*> tls_deferred_;
  std::vector<TlsConnection*> tls_deferred_batch_;  // run_tls_deferred()'s working copy
  RuntimeSettings settings_;
  FaultRng fault_rng_;
  bool faults_need_peer_ = false;
  TimerHeap timers_;                                      // faulted connections only
  std::unordered_map<std::uint64_t, Connection*> faulted_;  // by FaultedIo::serial
  std::unordered_map<std::uint64_t, TlsConnection*> tls_faulted_;  // same serials
  std::uint64_t next_fault_serial_ = 1;
  std::uint64_t settings_version_ = 0;
  std::int64_t sweep_interval_ns_ = 1'000'000'000;
  std::int64_t next_sweep_ns_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace echod
