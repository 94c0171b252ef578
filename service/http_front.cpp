#include "http_front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "http_framing.h"

namespace echod {
namespace {

using Clock = std::chrono::steady_clock;

/// The admin listener's accept queue, as deep as the echo port's (socket_ops.cpp; the kernel
/// caps it at net.core.somaxconn). 128 overflowed under slowloris churn on a busy machine:
/// each evicted slow client reconnects at once, the kernel then drops the next SYN (or the
/// handshake's ACK) and a kubelet probe waits for the 1 s SYN retransmit, past its timeout.
constexpr int kListenBacklog = 4096;

/// One admin connection. Owned by the I/O thread while it reads, by a lane while served.
struct Connection {
  int fd = -1;
  std::string buf;              // bytes read and not yet answered (may hold pipelined requests)
  std::size_t request_len = 0;  // when dispatched: bytes of buf that make the request
  bool priority = false;
  bool close_after = false;         // the client asked for Connection: close (or spoke HTTP/1.0)
  bool peer_closed = false;         // FIN seen: answer what is complete, then close
  Clock::time_point deadline;       // the whole next request must have arrived by then
  Clock::time_point waiting_since;  // for evicting the oldest when full
  std::size_t served = 0;
  std::string remote_ip;
  int remote_port = 0;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
};
using ConnectionPtr = std::unique_ptr<Connection>;

/// A best-effort answer from the front itself; the connection closes right after.
void send_error(int fd, int status, const std::string& text) {
  const char* reason = status == 400   ? "Bad Request"
                       : status == 408 ? "Request Timeout"
                       : status == 411 ? "Length Required"
                       : status == 413 ? "Payload Too Large"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Service Unavailable";
  const std::string body = "{\"error\":\"" + text + "\"}\n";
  const std::string msg =
      "HTTP/1.1 " + std::to_string(status) + " " + reason +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  // Non-blocking and small: it fits the socket buffer or the client loses it.
  [[maybe_unused]] const ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
}

std::string format_address(const sockaddr_storage& ss, int* port_out) {
  char ip[INET6_ADDRSTRLEN] = "";
  int port = 0;
  std::string out;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    out = std::string("[") + ip + "]:" + std::to_string(port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
    out = std::string(ip) + ":" + std::to_string(port);
  }
  if (port_out != nullptr) *port_out = port;
  return out;
}

/// A fixed set of threads with a bounded queue of requests to answer.
class Lane {
 public:
  using Run = std::function<void(ConnectionPtr)>;
  Lane(std::size_t threads, std::size_t queue_max, Run run)
      : queue_max_(queue_max), run_(std::move(run)), threads_(threads) {}

  void start() {
    for (auto& t : threads_) t = std::thread([this] { loop(); });
  }
  /// Gives the connection back when the queue is full.
  ConnectionPtr push(ConnectionPtr c) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || queue_.size() >= queue_max_) return c;
      queue_.push_back(std::move(c));
    }
    cv_.notify_one();
    return nullptr;
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      queue_.clear();  // closes the waiting connections
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void loop() {
    for (;;) {
      ConnectionPtr c;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        c = std::move(queue_.front());
        queue_.pop_front();
      }
      run_(std::move(c));
    }
  }

  const std::size_t queue_max_;
  Run run_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<ConnectionPtr> queue_;
  bool stopping_ = false;
};

}  // namespace

bool HttpExchange::write(const char* data, std::size_t size) {
  std::size_t off = 0;
  while (!failed_ && off < size) {
    const ssize_t n = ::send(fd_, data + off, size - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(write_deadline_ - Clock::now());
      pollfd p{fd_, POLLOUT, 0};
      if (left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) > 0) continue;
    }
    failed_ = true;
  }
  return !failed_;
}

struct HttpFront::Impl {
  HttpFrontLimits limits;
  std::vector<std::string> priority_paths;
  HttpHandler handler;

  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::string address;
  std::uint16_t bound_port = 0;
  std::thread io_thread;
  std::atomic<bool> stopping{false};
  bool started = false;

  // I/O thread only.
  std::unordered_map<int, ConnectionPtr> reading;
  std::optional<Clock::time_point> accept_paused_until;

  // Connections coming back from the lanes for their next request.
  std::mutex returned_mutex;
  std::vector<ConnectionPtr> returned;

  Lane priority_lane;
  Lane general_lane;

  Impl(HttpFrontLimits l, std::vector<std::string> paths, HttpHandler h)
      : limits(l),
        priority_paths(std::move(paths)),
        handler(std::move(h)),
        priority_lane(l.priority_threads, l.queue_max,
                      [this](ConnectionPtr c) { serve(std::move(c)); }),
        general_lane(l.general_threads, l.queue_max,
                     [this](ConnectionPtr c) { serve(std::move(c)); }) {}

  ~Impl() {
    for (int fd : {listen_fd, epoll_fd, wake_fd}) {
      if (fd >= 0) ::close(fd);
    }
  }

  void io_loop() {
    epoll_event events[64];
    while (!stopping.load(std::memory_order_acquire)) {
      // The 100 ms tick bounds how late a deadline is enforced.
      const int n = epoll_wait(epoll_fd, events, 64, 100);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd) {
          accept_all();
        } else if (fd == wake_fd) {
          std::uint64_t v;
          [[maybe_unused]] const ssize_t r = ::read(wake_fd, &v, sizeof v);
          take_returned();
        } else if (auto it = reading.find(fd); it != reading.end()) {
          on_readable(it->second);
        }
      }
      const auto now = Clock::now();
      expire(now);
      if (accept_paused_until && now >= *accept_paused_until) {
        accept_paused_until.reset();
        set_listener_watched(true);
      }
    }
    reading.clear();
  }

  void set_listener_watched(bool on) {
    epoll_event ev{};
    ev.events = on ? static_cast<std::uint32_t>(EPOLLIN) : 0u;
    ev.data.fd = listen_fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors or memory: the pending connection stays in the backlog and the
        // level-triggered listener would wake us at once, forever. Stop watching it for a
        // tick instead of spinning; other errors (ECONNABORTED...) concern one peer only.
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          set_listener_watched(false);
          accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
        }
        return;
      }
      if (reading.size() >= limits.max_connections) evict_oldest();
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c->remote_ip = format_address(ss, &c->remote_port);
      if (const auto colon = c->remote_ip.rfind(':'); colon != std::string::npos) {
        c->remote_ip.erase(colon);
      }
      const auto now = Clock::now();
      c->waiting_since = now;
      c->deadline = now + limits.first_request_timeout;
      watch(std::move(c));
      // Read what came with the handshake (a probe's whole request, usually) before accepting
      // more. Each further accept may evict the oldest waiting connection, and under a flood
      // of reconnecting slow clients a batch of accepts reached this one before epoll said it
      // was readable: a kubelet /livez answered with a reset.
      if (auto it = reading.find(fd); it != reading.end()) on_readable(it->second);
    }
  }

  void evict_oldest() {
    auto oldest = reading.end();
    for (auto it = reading.begin(); it != reading.end(); ++it) {
      if (oldest == reading.end() || it->second->waiting_since < oldest->second->waiting_since) {
        oldest = it;
      }
    }
    if (oldest != reading.end()) forget(oldest->first);
  }

  void watch(ConnectionPtr c) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = c->fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) return;  // c closes
    const int fd = c->fd;
    auto& slot = reading[fd];
    slot = std::move(c);
    if (!slot->buf.empty() || slot->peer_closed) advance(slot);
  }

  void forget(int fd) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    reading.erase(fd);  // closes it
  }

  void on_readable(ConnectionPtr& c) {
    // Read at most what one request may be, plus one chunk, so memory stays bounded.
    const std::size_t cap = limits.max_head_bytes + limits.max_body_bytes + 16384;
    char chunk[16384];
    while (c->buf.size() < cap) {
      const ssize_t n = ::recv(c->fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        c->buf.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        c->peer_closed = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        forget(c->fd);
        return;
      }
      break;
    }
    advance(c);
  }

  /// Dispatches the request at the front of c's buffer if it is complete.
  void advance(ConnectionPtr& c) {
    const int fd = c->fd;
    HttpFraming f = frame_request(c->buf, limits.max_head_bytes, limits.max_body_bytes);
    switch (f.kind) {
      case HttpFraming::kIncomplete:
        if (c->peer_closed) {
          forget(fd);
        } else if (f.send_continue) {
          static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
          [[maybe_unused]] const ssize_t n =
              ::send(fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL);
        }
        return;
      case HttpFraming::kError:
        send_error(fd, f.status, f.error);
        forget(fd);
        return;
      case HttpFraming::kComplete:
        break;
    }
    // A client that does not read its answers must not make a lane block on write.
    int unsent = 0;
    if (ioctl(fd, SIOCOUTQ, &unsent) == 0 &&
        static_cast<std::size_t>(unsent) > limits.max_unsent_bytes) {
      forget(fd);
      return;
    }
    c->request_len = f.length;
    c->close_after = f.close;
    c->priority =
        std::find(priority_paths.begin(), priority_paths.end(), f.path) != priority_paths.end();
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    ConnectionPtr owned = std::move(c);
    reading.erase(fd);
    Lane& lane = owned->priority ? priority_lane : general_lane;
    if (ConnectionPtr refused = lane.push(std::move(owned))) {
      send_error(refused->fd, 503, "admin server busy");
    }
  }

  void expire(Clock::time_point now) {
    std::vector<int> late;
    for (const auto& [fd, c] : reading) {
      if (now >= c->deadline) late.push_back(fd);
    }
    for (int fd : late) {
      // A partial request gets told why; an idle kept-alive connection just closes.
      if (!reading[fd]->buf.empty()) send_error(fd, 408, "request not received in time");
      forget(fd);
    }
  }

  /// Lane thread: answers the request, then hands the connection back for the next one.
  void serve(ConnectionPtr c) {
    const bool last = c->served + 1 >= limits.max_requests_per_connection || c->peer_closed ||
                      c->close_after || stopping.load(std::memory_order_acquire);
    HttpExchange ex(c->fd, std::string_view(c->buf).substr(0, c->request_len), last, c->remote_ip,
                    c->remote_port, Clock::now() + limits.write_timeout);
    const bool keep = handler(ex) && !last && !ex.failed();
    if (!keep) return;  // c closes
    c->buf.erase(0, c->request_len);
    c->request_len = 0;
    ++c->served;
    const auto now = Clock::now();
    c->waiting_since = now;
    c->deadline = now + limits.keep_alive_timeout;
    {
      std::lock_guard lock(returned_mutex);
      if (stopping.load(std::memory_order_acquire)) return;
      returned.push_back(std::move(c));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t r = ::write(wake_fd, &one, sizeof one);
  }

  void take_returned() {
    std::vector<ConnectionPtr> batch;
    {
      std::lock_guard lock(returned_mutex);
      batch.swap(returned);
    }
    for (auto& c : batch) {
      if (reading.size() >= limits.max_connections) evict_oldest();
      watch(std::move(c));
    }
  }
};

HttpFront::HttpFront(HttpFrontLimits limits, std::vector<std::string> priority_paths,
                     HttpHandler handler)
    : impl_(std::make_unique<Impl>(limits, std::move(priority_paths), std::move(handler))) {}

HttpFront::~HttpFront() { stop(); }

std::optional<std::string> HttpFront::bind(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  // No host: every interface, IPv6 dual-stack first, IPv4 if the kernel has no IPv6.
  std::vector<std::string> hosts;
  if (host.empty()) {
    hosts = {"::", "0.0.0.0"};
  } else {
    hosts = {host};
  }
  std::string last_error = "no address";
  for (const auto& h : hosts) {
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = getaddrinfo(h.c_str(), service.c_str(), &hints, &res); rc != 0) {
      last_error = std::string("resolve ") + h + ": " + gai_strerror(rc);
      continue;
    }
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      const int fd =
          ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        last_error = std::strerror(errno);
        continue;
      }
      const int one = 1;
      const int zero = 0;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (ai->ai_family == AF_INET6 && host.empty()) {
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      }
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
        last_error = std::strerror(errno);
        ::close(fd);
        continue;
      }
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      int bound = 0;
      impl_->address = format_address(ss, &bound);
      impl_->bound_port = static_cast<std::uint16_t>(bound);
      impl_->listen_fd = fd;
      freeaddrinfo(res);
      return std::nullopt;
    }
    freeaddrinfo(res);
  }
  return last_error;
}

std::string HttpFront::bound_address() const { return impl_->address; }
std::uint16_t HttpFront::port() const { return impl_->bound_port; }

void HttpFront::start() {
  Impl& d = *impl_;
  if (d.started || d.listen_fd < 0) return;
  d.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  d.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  for (int fd : {d.listen_fd, d.wake_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(d.epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  d.priority_lane.start();
  d.general_lane.start();
  d.io_thread = std::thread([&d] { d.io_loop(); });
  d.started = true;
}

void HttpFront::stop() {
  Impl& d = *impl_;
  if (!d.started) return;
  d.started = false;
  {
    std::lock_guard lock(d.returned_mutex);
    d.stopping.store(true, std::memory_order_release);
    d.returned.clear();
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t r = ::write(d.wake_fd, &one, sizeof one);
  if (d.io_thread.joinable()) d.io_thread.join();
  d.priority_lane.stop();
  d.general_lane.stop();
  ::close(d.listen_fd);
  d.listen_fd = -1;
}

}  // namespace echod
