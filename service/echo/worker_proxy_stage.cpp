// The PROXY protocol stage of a Worker (only with --proxy-protocol on): an accepted
// connection waits here, counted against max-connections, until its header has been read,
// refused or timed out; then it becomes a plain or TLS echo connection. The echo path never
// comes here.
#include <sys/socket.h>

#include "socket_ops.h"
#include "steady_time.h"
#include "worker.h"

namespace echod {

void Worker::start_preamble(int fd, FaultListener listener) {
  // Trust is decided by who connected (the balancer), before a byte is read.
  if (!settings_.proxy_protocol_trusted.empty()) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    bool trusted = false;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
      for (const Cidr& cidr : settings_.proxy_protocol_trusted) {
        if (net::in_cidr(peer, cidr)) {
          trusted = true;
          break;
        }
      }
    }
    if (!trusted) {
      stats_.count_proxy_header(ProxyHeaderResult::kUntrusted);
      stats_.count_reject(RejectReason::kProxyHeader);
      shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
      ::close(fd);
      return;
    }
  }
  ProxyPreamble& p = preambles_.emplace_back(static_cast<ProxyPreambleOwner&>(*this), fd,
                                               listener, now_ns);
  p.position = std::prev(preambles_.end());
  if (!loop_.add(fd, EPOLLIN | EPOLLRDHUP | EPOLLET, &p)) {
    preambles_.erase(p.position);  // closes fd
    shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
    stats_.count_reject(RejectReason::kAcceptError);
  }
}

void Worker::on_preamble_ready(ProxyPreamble& p, bool hangup) {
  ProxyHeader header;
  switch (p.read(read_buffer_.get(), kReadBufferSize, shared_.proxy_protocol, hangup, &header)) {
    case ProxyPreamble::Step::kWaiting:
      return;
    case ProxyPreamble::Step::kInvalid:
      stats_.count_proxy_header(ProxyHeaderResult::kInvalid);
      if (shared_.logger.enabled(LogLevel::kDebug)) {
        shared_.logger.debug("PROXY header refused",
                             {{"worker", std::uint64_t{id_}}, {"error", header.error}});
      }
      drop_preamble(p);
      return;
    case ProxyPreamble::Step::kPeerClosed:
      drop_preamble(p);  // a connect-and-close (a TCP health check): no header to count
      return;
    case ProxyPreamble::Step::kComplete:
      break;
  }
  stats_.count_proxy_header(header.local          ? ProxyHeaderResult::kLocal
                            : header.version == 1 ? ProxyHeaderResult::kV1
                                                  : ProxyHeaderResult::kV2);
  const int fd = p.release_fd();
  const FaultListener listener = p.listener();
  preambles_.erase(p.position);
  // TLS: the ClientHello follows the header, untouched in the kernel (only the header's
  // bytes were taken), which is where the TLS connection expects to find it.
  const sockaddr_storage* source = header.local ? nullptr : &header.source;
  if (listener == FaultListener::kTls) {
    open_tls_connection(fd, source, true);
  } else {
    open_connection(fd, source, true);
  }
}

// Every preamble that does not become a connection is one rejected connection; the header
// counters say why (a connect-and-close before any byte counts there only).
void Worker::drop_preamble(ProxyPreamble& p) {
  stats_.count_reject(RejectReason::kProxyHeader);  // before the close a client can see
  shared_.active_connections.fetch_sub(1, std::memory_order_relaxed);
  preambles_.erase(p.position);  // closes the descriptor, which also leaves epoll
}

// Oldest first: every preamble has the same timeout, so the front is the next to expire.
void Worker::expire_preambles() {
  const std::int64_t limit = to_ns(settings_.proxy_protocol_timeout);
  while (!preambles_.empty() && now_ns - preambles_.front().accepted_ns() >= limit) {
    stats_.count_proxy_header(ProxyHeaderResult::kTimeout);
    drop_preamble(preambles_.front());
  }
}

}  // namespace echod
