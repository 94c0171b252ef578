#pragma once
// HDR-style log-linear latency histogram.
#include <cstdint>
#include <vector>

namespace echo_probe {

/// Records non-negative integer values (nanoseconds here) in log-linear buckets: values
/// below 2^kSubBits are exact; above, each power of two is split into 2^kSubBits linear
/// buckets, so a reported value is within 1/2^(kSubBits+1) (~0.4%) of a recorded one.
/// Constant memory (about 60 KiB), O(1) record, no allocation after construction, mergeable.
/// min, max and mean are exact. Not thread-safe: one per thread, merge() at the end.
class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr std::uint64_t kSubCount = 1u << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * static_cast<int>(kSubCount);

  Histogram();

  void record(std::uint64_t value) {
    ++counts_[index_of(value)];
    ++count_;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  void merge(const Histogram& other);

  std::uint64_t count() const { return count_; }
  /// 0 when empty.
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const;
  /// Nearest-rank percentile (p in [0, 100]): the value at rank ceil(p/100 * count),
  /// reported as the midpoint of its bucket and clamped to [min, max]. 0 when empty.
  std::uint64_t percentile(double p) const;

  /// Sum of every recorded value (exact).
  std::uint64_t sum() const { return sum_; }
  /// For each of `bounds` (ascending), how many values landed at or below it: cumulative
  /// counts for a fixed-bucket export such as a Prometheus histogram. A value in the same
  /// log-linear bucket as a bound counts as below it (within the ~0.4% resolution).
  std::vector<std::uint64_t> cumulative_counts(const std::vector<std::uint64_t>& bounds) const;

  static int index_of(std::uint64_t value) {
    if (value < kSubCount) return static_cast<int>(value);
    const int msb = 63 - __builtin_clzll(value);
    const int shift = msb - kSubBits;
    const auto sub = static_cast<int>((value >> shift) - kSubCount);
    return (shift + 1) * static_cast<int>(kSubCount) + sub;
  }
  /// Smallest and largest value that land in bucket `index`.
  static std::uint64_t bucket_low(int index);
  static std::uint64_t bucket_high(int index);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace echo_probe
