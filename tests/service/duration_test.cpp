#include "duration.h"

#include <gtest/gtest.h>

namespace echod {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), seconds(5));
  EXPECT_EQ(parse_duration("2m"), minutes(2));
  EXPECT_EQ(parse_duration("1h"), hours(1));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

// The grammar is echo-probe's too (common/duration.h): fractions are fine for echod while
// they come to whole milliseconds, its resolution.
TEST(ParseDuration, AcceptsFractionsOfWholeMilliseconds) {
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("0.25m"), milliseconds(15'000));
  EXPECT_EQ(parse_duration("2000us"), milliseconds(2));
  for (const char* bad : {"500us", "1.0005s", "0.5ms"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(ParseDurationNs, KeepsNanosecondResolution) {
  EXPECT_EQ(parse_duration_ns("500us"), std::chrono::microseconds(500));
  EXPECT_EQ(parse_duration_ns("1.000000001s"), std::chrono::nanoseconds(1'000'000'001));
  EXPECT_EQ(parse_duration_ns("0.0000000001s"), std::nullopt);  // a tenth of a nanosecond
  EXPECT_EQ(parse_duration_ns("293y"), std::nullopt);
  EXPECT_EQ(parse_duration_ns("2562048h"), std::nullopt);  // past 2^63 ns
}

TEST(ParseDuration, RejectsEverythingElse) {
  for (const char* bad : {"", "5", "s", "-5s", "+5s", "1.s", ".5s", "1.2.3s", "5 s", " 5s", "5s ", "5S", "5sec",
                          "1d", "ms", "5ms5", "99999999999999999999s", "9223372036854775807h"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(seconds(20)), "20s");
  EXPECT_EQ(format_duration(seconds(300)), "5m");
  EXPECT_EQ(format_duration(hours(2)), "2h");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (auto ms : {1, 999, 1000, 61'000, 3'600'000, 7'200'001}) {
    const auto d = milliseconds(ms);
    EXPECT_EQ(parse_duration(format_duration(d)), d) << ms;
  }
}

}  // namespace
}  // namespace echod
