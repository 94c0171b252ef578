#include "resolver.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>

namespace echo_probe::monitor {

Resolution resolve_target(const MonitorTarget& target, std::size_t index, int max_addresses) {
  Resolution r;
  r.target_index = index;
  const int socktype = target.transport == Transport::kUdp ? SOCK_DGRAM : SOCK_STREAM;
  r.addresses = resolve(target.endpoint, socktype, &r.error);
  std::sort(r.addresses.begin(), r.addresses.end(),
            [](const Address& a, const Address& b) { return a.text < b.text; });
  r.found = r.addresses.size();
  if (r.addresses.size() > static_cast<std::size_t>(max_addresses)) {
    r.addresses.resize(static_cast<std::size_t>(max_addresses));
  }
  return r;
}

Resolver::Resolver(std::vector<MonitorTarget> targets, Nanos interval, int max_addresses,
                   Deliver deliver)
    : targets_(std::move(targets)),
      interval_(interval),
      max_addresses_(max_addresses),
      deliver_(std::move(deliver)),
      thread_([this] { run(); }) {}

Resolver::~Resolver() { stop(); }

void Resolver::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Resolver::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      deliver_(resolve_target(targets_[i], i, max_addresses_));
    }
    lock.lock();
    wake_.wait_for(lock, std::chrono::nanoseconds(interval_), [this] { return stopping_; });
  }
}

}  // namespace echo_probe::monitor
