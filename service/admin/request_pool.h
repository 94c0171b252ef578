#pragma once
// The threads that compute admin answers which may take a while (/metrics, /config).
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "http_connection.h"

namespace echod {

/// A fixed set of threads and a bounded queue of connections whose request they answer.
/// A connection arrives by owning pointer, detached from every epoll set; a thread computes
/// its answer (HttpConnection::serve, buffers only) and passes the pointer on to `done`.
/// start() and stop() from the controlling thread; submit() from the front's loop thread.
class RequestPool {
 public:
  using Done = std::function<void(std::unique_ptr<HttpConnection>)>;
  RequestPool(std::size_t threads, std::size_t queue_max, HttpHandler handler, Done done);
  ~RequestPool();
  RequestPool(const RequestPool&) = delete;
  RequestPool& operator=(const RequestPool&) = delete;

  void start();
  /// Queues `c`; gives it back when the queue is full or the pool stopped.
  std::unique_ptr<HttpConnection> submit(std::unique_ptr<HttpConnection> c);
  /// Finishes the answers being computed, then joins the threads. Connections still
  /// queued are handed back through the return value: the caller owns them from here.
  std::vector<std::unique_ptr<HttpConnection>> stop();

 private:
  void run();

  const std::size_t queue_max_;
  HttpHandler handler_;
  Done done_;
  std::vector<std::thread> threads_;
  std::size_t thread_count_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<HttpConnection>> queue_;
  bool stopping_ = false;
};

}  // namespace echod
