#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace echo_probe {

Histogram::Histogram() : counts_(kBuckets, 0) {}

void Histogram::merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double Histogram::mean() const {
  return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0;
}

std::uint64_t Histogram::bucket_low(int index) {
  const auto sub_count = static_cast<int>(kSubCount);
  if (index < sub_count) return static_cast<std::uint64_t>(index);
  const int shift = index / sub_count - 1;
  const auto sub = static_cast<std::uint64_t>(index % sub_count);
  return (kSubCount + sub) << shift;
}

std::uint64_t Histogram::bucket_high(int index) {
  const auto sub_count = static_cast<int>(kSubCount);
  if (index < sub_count) return static_cast<std::uint64_t>(index);
  const int shift = index / sub_count - 1;
  return bucket_low(index) + ((std::uint64_t{1} << shift) - 1);
}

std::vector<std::uint64_t> Histogram::cumulative_counts(
    const std::vector<std::uint64_t>& bounds) const {
  std::vector<std::uint64_t> out(bounds.size(), 0);
  std::uint64_t seen = 0;
  int bucket = 0;
  for (std::size_t b = 0; b < bounds.size(); ++b) {
    const int last = index_of(bounds[b]);
    for (; bucket <= last && bucket < kBuckets; ++bucket) seen += counts_[bucket];
    out[b] = seen;
  }
  return out;
}

std::uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  if (rank == 1) return min_;  // both ends are known exactly
  if (rank == count_) return max_;
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t low = bucket_low(i);
      const std::uint64_t mid = low + (bucket_high(i) - low) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace echo_probe
