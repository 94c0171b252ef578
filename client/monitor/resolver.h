#pragma once
// Name resolution off the event loop: getaddrinfo blocks, the probes must not.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clock.h"
#include "monitor_target.h"
#include "target.h"

namespace echo_probe::monitor {

/// What one resolution of one target gave: its addresses (sorted, at most the cap) or an
/// error (then `addresses` is empty).
struct Resolution {
  std::size_t target_index = 0;
  std::vector<Address> addresses;
  std::size_t found = 0;  // before the --max-addresses cap
  std::string error;
};

/// A thread that resolves every target at once and then every `interval`, handing each
/// result to `deliver` (which must be cheap and thread-safe: it posts to the loop).
/// stop() (or the destructor) wakes and joins it.
class Resolver {
 public:
  using Deliver = std::function<void(Resolution)>;
  Resolver(std::vector<MonitorTarget> targets, Nanos interval, int max_addresses,
           Deliver deliver);
  ~Resolver();
  void stop();

 private:
  void run();

  const std::vector<MonitorTarget> targets_;
  const Nanos interval_;
  const int max_addresses_;
  const Deliver deliver_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

/// Resolves one target now (blocking): every A/AAAA record, sorted by text so that the
/// `--max-addresses` cap keeps a stable set.
Resolution resolve_target(const MonitorTarget& target, std::size_t index, int max_addresses);

}  // namespace echo_probe::monitor
