#pragma once
#include <algorithm>
#include <cmath>

#include "fault.h"

namespace echod {

/// bandwidth: a token bucket of `bytes_per_second`, holding at most one second's worth
/// (the largest burst) and starting empty. Sends in slices of about 20 ms worth.
class BandwidthFault final : public Fault {
 public:
  BandwidthFault(std::uint64_t bytes_per_second, std::int64_t now_ns)
      : Fault(FaultAction::kBandwidth),
        rate_(static_cast<double>(bytes_per_second)),
        slice_(std::max<double>(1.0, rate_ / 50.0)),
        last_ns_(now_ns) {}

  std::size_t send_budget(std::size_t want, std::int64_t now_ns, std::int64_t* retry_ns) override {
    tokens_ = std::min(rate_, tokens_ + static_cast<double>(now_ns - last_ns_) * rate_ / 1e9);
    last_ns_ = now_ns;
    const double need = std::min(static_cast<double>(want), slice_);
    if (tokens_ >= need) return std::min(want, static_cast<std::size_t>(tokens_));
    *retry_ns = now_ns + static_cast<std::int64_t>(std::ceil((need - tokens_) * 1e9 / rate_));
    return 0;
  }
  void on_sent(std::size_t n) override { tokens_ -= static_cast<double>(n); }

 private:
  double rate_;
  double slice_;
  double tokens_ = 0;
  std::int64_t last_ns_;
};

}  // namespace echod
