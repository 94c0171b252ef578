#include "http_front.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "event_loop.h"
#include "http_connection.h"
#include "request_pool.h"
#include "socket_ops.h"
#include "unique_fd.h"

namespace echod {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTickMs = 100;  // bounds how late a deadline is enforced
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

}  // namespace

/// Everything below runs on the loop thread, except bind/start/stop (controlling thread)
/// and give_back (a pool thread), which reach the loop only through `returned_` + post().
struct HttpFront::Impl final : HttpConnectionOwner, Watcher {
  using ConnectionPtr = std::unique_ptr<HttpConnection>;

  HttpFrontLimits limits;
  std::vector<std::string> priority_paths;
  HttpHandler handler;
  EventLoop loop;
  UniqueFd listener;
  std::thread thread;
  std::atomic<bool> stopping{false};
  bool started = false;

  // Loop thread only. Connections are keyed by identity, never by descriptor number.
  std::unordered_map<HttpConnection*, ConnectionPtr> connections;
  std::vector<HttpConnection*> ready;   // a complete request waits to be answered
  std::vector<ConnectionPtr> finished_;  // destroyed at the end of the turn
  std::optional<Clock::time_point> accept_paused_until;
  bool quit = false;

  // Connections whose answer a pool thread computed, on their way back to the loop.
  std::mutex returned_mutex;
  std::vector<ConnectionPtr> returned;

  RequestPool pool;

  Impl(HttpFrontLimits l, std::vector<std::string> paths, HttpHandler h)
      : limits(l),
        priority_paths(std::move(paths)),
        handler(std::move(h)),
        pool(l.general_threads, l.queue_max, handler,
             [this](ConnectionPtr c) { give_back(std::move(c)); }) {}

  void run() {
    while (!quit) {
      loop.dispatch(loop.wait(kTickMs));
      answer_ready();
      const auto now = Clock::now();
      expire(now);
      finished_.clear();
      if (accept_paused_until && now >= *accept_paused_until) {
        accept_paused_until.reset();
        loop.modify(listener.get(), EPOLLIN, this);
      }
    }
    ready.clear();
    connections.clear();
    finished_.clear();
    loop.remove(listener.get());
  }

  // The listener (level-triggered).
  void on_events(std::uint32_t) override {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listener.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors or memory: the pending connection stays in the backlog and the
        // level-triggered listener would wake us at once, forever. Stop watching it for a
        // tick instead of spinning; other errors (ECONNABORTED...) concern one peer only.
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          loop.modify(listener.get(), 0, this);
          accept_paused_until = Clock::now() + kAcceptPause;
        }
        return;
      }
      if (connections.size() >= limits.max_connections) evict_oldest();
      auto c = std::make_unique<HttpConnection>(UniqueFd(fd), net::peer_address(ss), limits,
                                                *this, loop);
      HttpConnection* raw = c.get();
      connections.emplace(raw, std::move(c));
      raw->start();
    }
  }

  void evict_oldest() {
    HttpConnection* oldest = nullptr;
    for (const auto& [raw, c] : connections) {
      if (c->reading() && (oldest == nullptr || c->waiting_since() < oldest->waiting_since())) {
        oldest = raw;
      }
    }
    if (oldest != nullptr) oldest->expire();
  }

  // HttpConnectionOwner
  void request_ready(HttpConnection& c) override { ready.push_back(&c); }

  void finished(HttpConnection& c) override {
    const auto it = connections.find(&c);
    if (it == connections.end()) return;
    finished_.push_back(std::move(it->second));
    connections.erase(it);
  }

  /// Probe paths are answered here and now; the rest move to the pool. Answering one
  /// request may make the next pipelined one ready: the list grows while it is walked.
  void answer_ready() {
    for (std::size_t i = 0; i < ready.size(); ++i) {
      HttpConnection* c = ready[i];
      const bool priority = std::find(priority_paths.begin(), priority_paths.end(), c->path()) !=
                            priority_paths.end();
      if (priority) {
        c->serve(handler, stopping.load(std::memory_order_acquire));
        c->write_answer();
        continue;
      }
      const auto it = connections.find(c);
      ConnectionPtr owned = std::move(it->second);
      connections.erase(it);
      if (ConnectionPtr refused = pool.submit(std::move(owned))) {
        connections.emplace(c, std::move(refused));
        c->refuse(503, "admin server busy");
      }
    }
    ready.clear();
  }

  void expire(Clock::time_point now) {
    std::vector<HttpConnection*> late;
    for (const auto& [raw, c] : connections) {
      if (c->expired(now)) late.push_back(raw);
    }
    for (HttpConnection* c : late) c->expire();
  }

  /// Pool thread: hands the connection and its computed answer back to the loop.
  void give_back(ConnectionPtr c) {
    {
      std::lock_guard lock(returned_mutex);
      returned.push_back(std::move(c));
    }
    loop.post([this] { take_returned(); });
  }

  void take_returned() {
    std::vector<ConnectionPtr> batch;
    {
      std::lock_guard lock(returned_mutex);
      batch.swap(returned);
    }
    for (auto& c : batch) {
      HttpConnection* raw = c.get();
      connections.emplace(raw, std::move(c));
      raw->write_answer();
    }
  }
};

HttpFront::HttpFront(HttpFrontLimits limits, std::vector<std::string> priority_paths,
                     HttpHandler handler)
    : impl_(std::make_unique<Impl>(limits, std::move(priority_paths), std::move(handler))) {}

HttpFront::~HttpFront() { stop(); }

std::optional<std::string> HttpFront::bind(const Endpoint& at) {
  std::string error;
  UniqueFd fd(net::listen_tcp_exclusive(at, &error));
  if (!fd) return error;
  impl_->listener = std::move(fd);
  return std::nullopt;
}

std::string HttpFront::bound_address() const {
  return impl_->listener ? net::local_address(impl_->listener.get()) : std::string();
}

std::uint16_t HttpFront::port() const {
  return impl_->listener ? net::local_port(impl_->listener.get()) : 0;
}

void HttpFront::start() {
  Impl& d = *impl_;
  if (d.started || !d.listener) return;
  // Before the thread exists, so this thread may still touch the loop.
  d.loop.add(d.listener.get(), EPOLLIN, &d);
  d.pool.start();
  d.thread = std::thread([&d] { d.run(); });
  d.started = true;
}

void HttpFront::stop() {
  Impl& d = *impl_;
  if (!d.started) return;
  d.started = false;
  d.stopping.store(true, std::memory_order_release);
  // Pool threads finish what they compute and hand it back to the still-running loop; what
  // they never took is ours now, and closes here.
  d.pool.stop();
  d.loop.post([&d] { d.quit = true; });
  d.thread.join();
  // The loop thread is gone: whatever was on its way back to it is ours too.
  d.returned.clear();
  d.listener.reset();
}

}  // namespace echod
