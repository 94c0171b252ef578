#include "request_pool.h"

namespace echod {

RequestPool::RequestPool(std::size_t threads, std::size_t queue_max, HttpHandler handler,
                         Done done)
    : queue_max_(queue_max),
      handler_(std::move(handler)),
      done_(std::move(done)),
      thread_count_(threads) {}

RequestPool::~RequestPool() { stop(); }

void RequestPool::start() {
  for (std::size_t i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { run(); });
}

std::unique_ptr<HttpConnection> RequestPool::submit(std::unique_ptr<HttpConnection> c) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= queue_max_) return c;
    queue_.push_back(std::move(c));
  }
  wake_.notify_one();
  return nullptr;
}

std::vector<std::unique_ptr<HttpConnection>> RequestPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  std::vector<std::unique_ptr<HttpConnection>> left;
  std::lock_guard lock(mutex_);
  for (auto& c : queue_) left.push_back(std::move(c));
  queue_.clear();
  return left;
}

void RequestPool::run() {
  for (;;) {
    std::unique_ptr<HttpConnection> c;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      c = std::move(queue_.front());
      queue_.pop_front();
    }
    c->serve(handler_, false);
    done_(std::move(c));
  }
}

}  // namespace echod
