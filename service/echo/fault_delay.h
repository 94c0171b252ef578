#pragma once
#include <algorithm>

#include "fault.h"

namespace echod {

/// delay: every echo held `delay` plus up to `jitter`, bytes and order intact.
class DelayFault final : public Fault {
 public:
  DelayFault(std::int64_t delay_ns, std::int64_t jitter_ns, FaultRng& rng)
      : Fault(FaultAction::kDelay), delay_ns_(delay_ns), jitter_ns_(jitter_ns), rng_(rng) {}

  std::int64_t on_read(char*, std::size_t, std::int64_t now_ns) override {
    std::int64_t at = now_ns + delay_ns_;
    if (jitter_ns_ > 0) at += static_cast<std::int64_t>(rng_.next() % static_cast<std::uint64_t>(jitter_ns_ + 1));
    last_ns_ = std::max(last_ns_, at);  // jitter never reorders
    return last_ns_;
  }

 private:
  std::int64_t delay_ns_;
  std::int64_t jitter_ns_;
  FaultRng& rng_;
  std::int64_t last_ns_ = 0;
};

}  // namespace echod
