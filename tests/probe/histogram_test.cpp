#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace echo_probe {
namespace {

// The nearest-rank percentile of a sorted sample list: the reference the histogram
// must match (exactly below 128, within its bucket's relative error above).
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(90), 90u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(99.9), 100u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.percentile(0), 1u);
}

TEST(Histogram, KnownSkewedSampleGivesTheExactPercentiles) {
  // 90 fast samples and 10 slow ones: p50 and p90 are fast, p99 slow.
  Histogram h;
  for (int i = 0; i < 90; ++i) h.record(20);
  for (int i = 0; i < 10; ++i) h.record(100);
  EXPECT_EQ(h.percentile(50), 20u);
  EXPECT_EQ(h.percentile(90), 20u);
  EXPECT_EQ(h.percentile(90.5), 100u);
  EXPECT_EQ(h.percentile(99), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 28.0);
}

TEST(Histogram, LargeValuesStayWithinOnePercentOfTheExactPercentile) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(50'000.0), 1.0);  // ~50 us in ns
  std::vector<std::uint64_t> samples;
  Histogram h;
  for (int i = 0; i < 100'000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency(rng)) + 1;
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const double want = static_cast<double>(exact_percentile(samples, p));
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_NEAR(got, want, want * 0.01) << "p" << p;
  }
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.percentile(100), samples.back());
}

TEST(Histogram, EveryValueLandsInABucketThatContainsIt) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200'000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const int idx = Histogram::index_of(v);
    ASSERT_GE(idx, 0);
    ASSERT_LT(idx, Histogram::kBuckets);
    ASSERT_LE(Histogram::bucket_low(idx), v);
    ASSERT_GE(Histogram::bucket_high(idx), v);
    const double width =
        static_cast<double>(Histogram::bucket_high(idx) - Histogram::bucket_low(idx));
    ASSERT_LE(width, static_cast<double>(Histogram::bucket_low(idx)) / 128.0) << v;
  }
  EXPECT_EQ(Histogram::index_of(UINT64_MAX), Histogram::kBuckets - 1);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram a, b, all;
  for (std::uint64_t v = 1; v < 5000; v += 7) {
    ((v % 2) ? a : b).record(v * 1000);
    all.record(v * 1000);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), all.percentile(p));
}

TEST(Histogram, EmptyHistogramReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 0.0);
}

}  // namespace
}  // namespace echo_probe
