#include "worker.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <random>

#include "socket_ops.h"
#include "steady_time.h"

namespace echod {
namespace {

constexpr int kAcceptsPerTurn = 64;
constexpr std::int64_t kMaxTurnNs = 1'000'000'000;  // loops turn at least once a second
constexpr std::int64_t kMinSweepNs = 10'000'000;
constexpr std::int64_t kAcceptBackoffNs = 100'000'000;
// The UDP socket's one timer key in timers_: fault serials start at 1.
constexpr std::uint64_t kUdpTimerKey = 0;

int open_reserve_fd() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

// Bookkeeping shared by the plain and the TLS connection lists (never per message).
// `batch` is the caller's working vector: swapped back and forth with `deferred`, both keep
// their capacity, so a turn with deferred connections allocates nothing.
template <class C>
void resume_batch(std::vector<C*>& deferred, std::vector<C*>& batch) {
  batch.swap(deferred);
  for (C* c : batch) c->deferred = false;
  // Each resume() may close only its own connection, which is no longer in `batch`'s future.
  for (C* c : batch) c->resume();
  batch.clear();
}

template <class C>
void defer_into(std::vector<C*>& deferred, C& c) {
  if (c.deferred) return;
  c.deferred = true;
  deferred.push_back(&c);
}

// O(1) removal: the last connection takes the removed one's slot.
template <class C>
void unlist(std::vector<C*>& list, std::vector<C*>& deferred, C& c) {
  C* last = list.back();
  list[c.index] = last;
  last->index = c.index;
  list.pop_back();
  if (c.deferred) std::erase(deferred, &c);
}

}  // namespace

Worker::Worker(std::size_t id, WorkerShared& shared)
    : id_(id),
      shared_(shared),
      read_buffer_(new char[kReadBufferSize]),
      fault_rng_(std::random_device{}() ^ (std::uint64_t{id} << 32) ^
                 static_cast<std::uint64_t>(steady_now_ns())) {
  read_buffer = read_buffer_.get();
  read_buffer_size = kReadBufferSize;
  ConnectionContext::stats = &stats_;
  ConnectionContext::settings = &settings_;
  settings_ = shared_.store.runtime();
  settings_version_ = shared_.store.version();
  now_ns = steady_now_ns();
  stats_.heartbeat_ns.store(now_ns, std::memory_order_relaxed);
  reserve_fd_ = open_reserve_fd();
  refresh_settings();
}

Worker::~Worker() {
  stop();
  for (Connection* c : connections_) connection_pool_.destroy(c);  // exit: nothing to count
  for (TlsConnection* c : tls_connections_) delete c;
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (tls_listen_fd_ >= 0) ::close(tls_listen_fd_);
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

std::optional<std::string> Worker::bind(const Endpoint& at, bool udp) {
  std::string error;
  listen_fd_ = net::listen_tcp(at, &error);
  if (listen_fd_ < 0) return error;
  if (!loop_.add(listen_fd_, EPOLLIN, &listener_)) return "epoll_ctl: " + std::string(std::strerror(errno));
  if (udp) {
    // Same port as TCP, even when `at` asked for an ephemeral one.
    Endpoint udp_at = at;
    udp_at.port = net::local_port(listen_fd_);
    const int ufd = net::bind_udp(udp_at, &error);
    if (ufd < 0) return error;
    udp_ = std::make_unique<UdpEcho>(ufd, stats_, settings_, fault_rng_,
                                     [this](std::int64_t when) { timers_.push(when, kUdpTimerKey); });
    loop_.add(ufd, EPOLLIN, udp_.get());
  }
  return std::nullopt;
}

std::optional<std::string> Worker::bind_tls(const Endpoint& at) {
  std::string error;
  tls_listen_fd_ = net::listen_tcp(at, &error);
  if (tls_listen_fd_ < 0) return error;
  if (!loop_.add(tls_listen_fd_, EPOLLIN, &tls_listener_)) {
    return "epoll_ctl: " + std::string(std::strerror(errno));
  }
  refresh_settings();  // the sweep now also watches handshake deadlines
  return std::nullopt;
}

void Worker::set_tls_context(std::shared_ptr<const TlsContext> context) {
  // Taken at a loop turn through post(): the echo path never reads a shared slot.
  run_on_loop([this, &context] { tls_context_ = std::move(context); });
}

ssl_ctx_st* Worker::tls_context() { return tls_context_ ? tls_context_->native() : nullptr; }

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::run() {
  while (!stopping_.load(std::memory_order_relaxed)) {
    const int ready = loop_.wait(wait_timeout_ms());
    now_ns = steady_now_ns();
    stats_.heartbeat_ns.store(now_ns, std::memory_order_relaxed);
    if (shared_.store.version() != settings_version_) refresh_settings();
    loop_.dispatch(ready);
    run_deferred();
    if (!tls_deferred_.empty()) run_tls_deferred();
    if (!timers_.empty()) run_timers();
    if (!preambles_.empty()) [[unlikely]] expire_preambles();
    if (accepting_paused_) resume_accepting_if_due();
    if (now_ns >= next_sweep_ns_) sweep();
  }
}

int Worker::wait_timeout_ms() const {
  if (!deferred_.empty() || !tls_deferred_.empty()) return 0;
  std::int64_t until = next_sweep_ns_ - steady_now_ns();
  if (accepting_paused_) until = std::min(until, resume_accepting_ns_ - now_ns);
  if (!timers_.empty()) until = std::min(until, timers_.next_ns() - steady_now_ns());
  if (!preambles_.empty()) {
    until = std::min(until, preambles_.front().accepted_ns() +
                                to_ns(settings_.proxy_protocol_timeout) - steady_now_ns());
  }
  until = std::clamp<std::int64_t>(until, 0, kMaxTurnNs);
  return static_cast<int>((until + 999'999) / 1'000'000);
}

void Worker::accept_ready(FaultListener kind) {
  const int listener = kind == FaultListener::kTls ? tls_listen_fd_ : listen_fd_;
  for (int i = 0; i < kAcceptsPerTurn; ++i) {
    const int fd = net::accept_raw(listener, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      admit(fd, kind);
      continue;
    }
    switch (errno) {
      case EAGAIN:
        return;
      case EINTR:
      case ECONNABORTED:
        continue;
      case EMFILE:
      case ENFILE:
        shed_with_reserve_fd(listener);
        return;
      default:
        stats_.count_reject(RejectReason::kAcceptError);
        shared_.logger.warn("accept failed",
                            {{"worker", std::uint64_t{id_}},
                             {"listener", std::string(kind == FaultListener::kTls ? "tls" : "tcp")},
                             {"error", std::string(std::strerror(errno))}});
        return;
    }
  }
}

void Worker::admit(int fd, FaultListener listener) {
  const std::int64_t active =
      shared_.active_connections.fetch_add(1, std::memory_order_relaxed) + 1;
  if (static_cast<std::uint64_t>(active) > settings_.max_connections) {
    // Counted before the close, so a client that sees the close also sees the count.
    stats_.count_reject(RejectReason::kMaxConnections);
    shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
    ::close(fd);
    return;
  }
  // One predictable branch per connection, none per message: off, nothing else runs.
  if (shared_.proxy_protocol != ProxyProtocolMode::kOff) [[unlikely]] {
    start_preamble(fd, listener);
    return;
  }
  if (listener == FaultListener::kTls) {
    open_tls_connection(fd, nullptr, false);
    return;
  }
  open_connection(fd, nullptr, false);
}

void Worker::open_connection(int fd, const sockaddr_storage* source, bool registered) {
  Connection* c = nullptr;
  if (!settings_.faults.rules.empty()) [[unlikely]] {
    bool refused = false;
    std::unique_ptr<FaultedIo> fault = choose_fault(fd, source, FaultListener::kTcp, &refused);
    if (refused) {
      ::close(fd);  // accepted and closed at once: a sick backend behind a ready probe
      stats_.accepted.add();
      shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    if (fault) {
      const std::uint64_t serial = fault->serial;
      c = connection_pool_.make(context(), fd, std::move(fault));
      faulted_[serial] = c;
    }
  }
  if (c == nullptr) c = connection_pool_.make(context(), fd);
  constexpr std::uint32_t kEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  // A descriptor moved over from its preamble gets its new watcher in place; epoll reports
  // bytes that already follow the header at once (MOD re-checks readiness).
  Watcher* events = c->watcher();
  if (!(registered ? loop_.modify(fd, kEvents, events) : loop_.add(fd, kEvents, events))) {
    if (c->faulted()) faulted_.erase(c->fault_serial());
    connection_pool_.destroy(c);  // closes fd
    shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
    stats_.count_reject(RejectReason::kAcceptError);
    return;
  }
  c->index = connections_.size();
  connections_.push_back(c);
  stats_.accepted.add();
  if (shared_.logger.enabled(LogLevel::kDebug)) {
    if (source != nullptr) {  // the client a PROXY header named
      const net::PeerAddress client = net::peer_address(*source);
      shared_.logger.debug("connection opened",
                           {{"worker", std::uint64_t{id_}}, {"fd", std::int64_t{fd}},
                            {"client", client.ip}, {"client_port", std::int64_t{client.port}}});
    } else {
      shared_.logger.debug("connection opened",
                           {{"worker", std::uint64_t{id_}}, {"fd", std::int64_t{fd}}});
    }
  }
}

// Out of descriptors. Leaving the connection in the accept queue would make a level-
// triggered listener spin; instead spend the reserve descriptor to accept and close it at
// once (the client sees a clean close, not a hang), and if even that fails, take the
// listener out of epoll for a moment. Existing connections are served throughout.
void Worker::shed_with_reserve_fd(int listener) {
  if (reserve_fd_ >= 0) {
    ::close(reserve_fd_);
    reserve_fd_ = -1;
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      stats_.count_reject(RejectReason::kFdLimit);
    }
    reserve_fd_ = open_reserve_fd();
    if (fd >= 0 && reserve_fd_ >= 0) return;
  }
  pause_accepting();
}

void Worker::pause_accepting() {
  if (accepting_paused_ || (listen_fd_ < 0 && tls_listen_fd_ < 0)) return;
  if (listen_fd_ >= 0) loop_.remove(listen_fd_);
  if (tls_listen_fd_ >= 0) loop_.remove(tls_listen_fd_);
  accepting_paused_ = true;
  resume_accepting_ns_ = now_ns + kAcceptBackoffNs;
  shared_.logger.warn("out of file descriptors: pausing accept",
                      {{"worker", std::uint64_t{id_}}, {"backoff_ms", std::int64_t{100}}});
}

void Worker::resume_accepting_if_due() {
  if (now_ns < resume_accepting_ns_) return;
  if (reserve_fd_ < 0) reserve_fd_ = open_reserve_fd();
  accepting_paused_ = false;
  if (listen_fd_ >= 0) loop_.add(listen_fd_, EPOLLIN, &listener_);
  if (tls_listen_fd_ >= 0) loop_.add(tls_listen_fd_, EPOLLIN, &tls_listener_);
}

std::unique_ptr<FaultedIo> Worker::choose_fault(int fd, const sockaddr_storage* source,
                                                FaultListener kind, bool* refused) {
  sockaddr_storage peer{};
  const sockaddr_storage* from = source;  // the PROXY header's client, when there was one
  if (from == nullptr && faults_need_peer_) {
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) from = &peer;
  }
  const FaultRule* rule = choose_fault_rule(settings_.faults, kind, from, fault_rng_);
  if (rule == nullptr) return nullptr;
  if (rule->action == FaultAction::kRefuse) {
    stats_.count_fault(FaultAction::kRefuse);
    *refused = true;
    return nullptr;
  }
  auto io = std::make_unique<FaultedIo>();
  io->fault = make_fault(*rule, now_ns, fault_rng_);
  io->serial = next_fault_serial_++;
  // Faults that change every echo count once per connection; close, reset and stall count
  // when they happen.
  if (io->fault->ending == FaultEnding::kNone) stats_.count_fault(rule->action);
  return io;
}

void Worker::arm_timer(Connection& c, std::int64_t when_ns) { timers_.push(when_ns, c.fault_serial()); }

void Worker::arm_tls_timer(TlsConnection& c, std::int64_t when_ns) {
  timers_.push(when_ns, c.fault_serial());
}

// One heap for both kinds and the UDP socket's delayed datagrams: serials are unique across
// them, and a connection (or UDP socket) that is gone is in neither map (its timer is ignored).
void Worker::run_timers() {
  timers_.run_due(now_ns, [this](const TimerHeap::Timer& t) {
    if (t.key == kUdpTimerKey) {
      if (udp_) udp_->on_timer(now_ns);
    } else if (const auto it = faulted_.find(t.key); it != faulted_.end()) {
      it->second->on_fault_timer(t.when_ns);  // may close it
    } else if (const auto tls = tls_faulted_.find(t.key); tls != tls_faulted_.end()) {
      tls->second->on_fault_timer(t.when_ns);
    }
  });
}

void Worker::refresh_settings() {
  settings_version_ = shared_.store.version();
  settings_ = shared_.store.runtime();
  faults_need_peer_ = fault_rules_need_peer(settings_.faults);
  // The sweep runs often enough to close idle and old connections within a quarter of
  // their limit, and at least once a second.
  std::int64_t interval = kMaxTurnNs;
  for (Duration d : {settings_.idle_timeout, settings_.max_connection_lifetime}) {
    if (d.count() > 0) interval = std::min(interval, to_ns(d) / 4);
  }
  if (tls_listen_fd_ >= 0 && settings_.tls_handshake_timeout.count() > 0) {
    interval = std::min(interval, to_ns(settings_.tls_handshake_timeout) / 4);
  }
  sweep_interval_ns_ = std::max(interval, kMinSweepNs);
  next_sweep_ns_ = std::min(next_sweep_ns_ == 0 ? now_ns + sweep_interval_ns_ : next_sweep_ns_,
                            now_ns + sweep_interval_ns_);
}

void Worker::sweep() {
  next_sweep_ns_ = now_ns + sweep_interval_ns_;
  const std::int64_t idle = to_ns(settings_.idle_timeout);
  const std::int64_t lifetime = to_ns(settings_.max_connection_lifetime);
  if (!tls_connections_.empty()) sweep_tls();
  if (idle == 0 && lifetime == 0) return;
  // Backwards: closing swaps the last connection into the closed one's slot.
  for (std::size_t i = connections_.size(); i-- > 0;) {
    Connection* c = connections_[i];
    if (lifetime > 0 && now_ns - c->opened_ns() >= lifetime) {
      c->close(CloseReason::kLifetime);
    } else if (idle > 0 && now_ns - c->last_active_ns() >= idle) {
      c->close(CloseReason::kIdleTimeout);
    }
  }
}

void Worker::run_deferred() {
  if (!deferred_.empty()) resume_batch(deferred_, deferred_batch_);
}

void Worker::defer(Connection& c) { defer_into(deferred_, c); }

void Worker::release(Connection& c, CloseReason reason) {
  if (shared_.logger.enabled(LogLevel::kDebug)) {
    shared_.logger.debug("connection closed",
                         {{"worker", std::uint64_t{id_}},
                          {"reason", std::string(kCloseReasonNames[static_cast<std::size_t>(reason)])},
                          {"bytes", c.bytes_echoed()}});
  }
  unlist(connections_, deferred_, c);
  if (c.faulted()) [[unlikely]] faulted_.erase(c.fault_serial());
  shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
  connection_pool_.destroy(&c);
}

void Worker::open_tls_connection(int fd, const sockaddr_storage* source, bool registered) {
  std::unique_ptr<FaultedIo> fault;
  if (!settings_.faults.rules.empty()) [[unlikely]] {
    bool refused = false;
    fault = choose_fault(fd, source, FaultListener::kTls, &refused);
    // refuse, and reset at accept, act before any TLS byte: the client's handshake fails.
    const bool reset_now = fault && fault->fault->ending == FaultEnding::kReset &&
                           (fault->fault->end_after_bytes == 0 || fault->fault->end_at_ns <= now_ns);
    if (refused || reset_now) {
      if (reset_now) {
        const linger abort{1, 0};  // close() sends RST
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        stats_.count_close(CloseReason::kFault);
        stats_.count_fault(FaultAction::kReset);
      }
      stats_.accepted.add();  // counted before the client can see the close
      shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
      ::close(fd);
      return;
    }
    // A stall at accept is a dead peer from the first byte: the handshake never answers,
    // and the handshake timeout (the sweep) ends it.
    if (fault && fault->fault->ending == FaultEnding::kStall &&
        (fault->fault->end_after_bytes == 0 || fault->fault->end_at_ns <= now_ns)) {
      fault->stalled = true;
      stats_.count_fault(FaultAction::kStall);
    }
  }
  // The other faults act on the plaintext once the handshake is done.
  auto* c = fault ? new TlsConnection(*this, *this, fd, std::move(fault))
                  : new TlsConnection(*this, *this, fd);
  if (c->faulted()) [[unlikely]] tls_faulted_[c->fault_serial()] = c;
  constexpr std::uint32_t kEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  if (!(registered ? loop_.modify(fd, kEvents, c) : loop_.add(fd, kEvents, c))) {
    if (c->faulted()) tls_faulted_.erase(c->fault_serial());
    delete c;  // closes fd
    shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
    stats_.count_reject(RejectReason::kAcceptError);
    return;
  }
  c->index = tls_connections_.size();
  tls_connections_.push_back(c);
  stats_.accepted.add();
  if (shared_.logger.enabled(LogLevel::kDebug)) {
    if (source != nullptr) {  // the client a PROXY header named
      const net::PeerAddress client = net::peer_address(*source);
      shared_.logger.debug("connection opened",
                           {{"worker", std::uint64_t{id_}}, {"fd", std::int64_t{fd}},
                            {"listener", std::string("tls")}, {"client", client.ip},
                            {"client_port", std::int64_t{client.port}}});
    } else {
      shared_.logger.debug("connection opened", {{"worker", std::uint64_t{id_}},
                                                 {"fd", std::int64_t{fd}},
                                                 {"listener", std::string("tls")}});
    }
  }
}

void Worker::sweep_tls() {
  const std::int64_t handshake = to_ns(settings_.tls_handshake_timeout);
  const std::int64_t idle = to_ns(settings_.idle_timeout);
  const std::int64_t lifetime = to_ns(settings_.max_connection_lifetime);
  // Backwards: closing swaps the last connection into the closed one's slot.
  for (std::size_t i = tls_connections_.size(); i-- > 0;) {
    TlsConnection* c = tls_connections_[i];
    if (handshake > 0 && c->handshaking() && now_ns - c->opened_ns() >= handshake) {
      c->close_handshake_timeout();
    } else if (lifetime > 0 && now_ns - c->opened_ns() >= lifetime) {
      c->close(CloseReason::kLifetime);
    } else if (idle > 0 && now_ns - c->last_active_ns() >= idle) {
      c->close(CloseReason::kIdleTimeout);
    }
  }
}

void Worker::run_tls_deferred() { resume_batch(tls_deferred_, tls_deferred_batch_); }

void Worker::defer_tls(TlsConnection& c) { defer_into(tls_deferred_, c); }

void Worker::release_tls(TlsConnection& c, CloseReason reason) {
  if (shared_.logger.enabled(LogLevel::kDebug)) {
    shared_.logger.debug("connection closed",
                         {{"worker", std::uint64_t{id_}},
                          {"listener", std::string("tls")},
                          {"reason", std::string(kCloseReasonNames[static_cast<std::size_t>(reason)])},
                          {"bytes", c.bytes_echoed()}});
  }
  unlist(tls_connections_, tls_deferred_, c);
  if (c.faulted()) [[unlikely]] tls_faulted_.erase(c.fault_serial());
  shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
  delete &c;
}

void Worker::close_listeners() {
  if (listen_fd_ >= 0) {
    if (!accepting_paused_) loop_.remove(listen_fd_);
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  if (udp_) {
    udp_->answer_all_held();
    loop_.remove(udp_->fd());
    udp_.reset();
  }
  if (tls_listen_fd_ >= 0) {
    if (!accepting_paused_) loop_.remove(tls_listen_fd_);
    ::close(tls_listen_fd_);
    tls_listen_fd_ = -1;
  }
}

void Worker::run_on_loop(const std::function<void()>& task) {
  if (!thread_.joinable()) {
    task();
    return;
  }
  std::promise<void> done;
  auto finished = done.get_future();
  loop_.post([&] {
    task();
    done.set_value();
  });
  finished.wait();
}

void Worker::stop_accepting() {
  run_on_loop([this] { close_listeners(); });
}

void Worker::close_all() {
  run_on_loop([this] {
    now_ns = steady_now_ns();
    // Connections still waiting for their header have sent nothing to echo.
    while (!preambles_.empty()) drop_preamble(preambles_.front());
    for (std::size_t i = connections_.size(); i-- > 0;) {
      connections_[i]->flush_and_close(CloseReason::kShutdown);
    }
    for (std::size_t i = tls_connections_.size(); i-- > 0;) {
      tls_connections_[i]->flush_and_close(CloseReason::kShutdown);
    }
  });
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_relaxed);
  loop_.post([] {});
  thread_.join();
}

}  // namespace echod
