#include "payload.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "error_class.h"
#include "load_plan.h"

namespace echo_probe {
namespace {

std::string bytes_of(std::uint64_t conn, std::uint64_t seq, std::size_t n) {
  std::string s(n, '\0');
  Payload(conn, seq).fill(0, s.data(), n);
  return s;
}

TEST(Payload, IsDeterministicAndNeverConstant) {
  EXPECT_EQ(bytes_of(1, 2, 64), bytes_of(1, 2, 64));
  EXPECT_NE(bytes_of(1, 2, 64), bytes_of(1, 3, 64));  // next message
  EXPECT_NE(bytes_of(1, 2, 64), bytes_of(2, 2, 64));  // other connection
  const std::string big = bytes_of(0, 0, 65536);
  const std::set<unsigned char> values(big.begin(), big.end());
  EXPECT_EQ(values.size(), 256u);
}

TEST(Payload, AnySliceMatchesTheWholeMessage) {
  const std::string whole = bytes_of(9, 77, 1000);
  for (std::size_t off : {0u, 1u, 7u, 8u, 13u, 999u}) {
    for (std::size_t len : {1u, 5u, 8u, 17u}) {
      if (off + len > whole.size()) continue;
      std::string part(len, '\0');
      Payload(9, 77).fill(off, part.data(), len);
      EXPECT_EQ(part, whole.substr(off, len)) << off << "+" << len;
    }
  }
}

TEST(Payload, VerificationFindsTheFirstWrongByte) {
  std::string echoed = bytes_of(3, 4, 256);
  std::string scratch(256, '\0');
  const Payload p(3, 4);
  EXPECT_EQ(p.first_mismatch(0, echoed.data(), echoed.size(), scratch.data()), 256u);
  echoed[200] = static_cast<char>(echoed[200] ^ 0x40);
  echoed[201] = static_cast<char>(echoed[201] ^ 0x01);
  EXPECT_EQ(p.first_mismatch(0, echoed.data(), echoed.size(), scratch.data()), 200u);
  // A slice starting mid-message is checked against the right offset.
  EXPECT_EQ(p.first_mismatch(150, echoed.data() + 150, 100, scratch.data()), 50u);
  EXPECT_EQ(p.first_mismatch(150, echoed.data() + 150, 50, scratch.data()), 50u);
  // The right bytes in the wrong message are a mismatch.
  const std::string other = bytes_of(3, 5, 256);
  EXPECT_LT(p.first_mismatch(0, other.data(), other.size(), scratch.data()), 8u);
}

TEST(ErrorClasses, HaveTheSpecNamesAndErrnoMapping) {
  EXPECT_EQ(error_class_name(ErrorClass::kDns), "dns");
  EXPECT_EQ(error_class_name(ErrorClass::kRefused), "refused");
  EXPECT_EQ(error_class_name(ErrorClass::kTimeout), "timeout");
  EXPECT_EQ(error_class_name(ErrorClass::kReset), "reset");
  EXPECT_EQ(error_class_name(ErrorClass::kClosed), "closed");
  EXPECT_EQ(error_class_name(ErrorClass::kMismatch), "mismatch");
  EXPECT_EQ(classify_errno(ECONNREFUSED), ErrorClass::kRefused);
  EXPECT_EQ(classify_errno(ETIMEDOUT), ErrorClass::kTimeout);
  EXPECT_EQ(classify_errno(ECONNRESET), ErrorClass::kReset);
  EXPECT_EQ(classify_errno(EPIPE), ErrorClass::kReset);
  ErrorCounts e;
  e.add(ErrorClass::kReset);
  e.add(ErrorClass::kReset);
  e.add(ErrorClass::kDns);
  EXPECT_EQ(e.total(), 3u);
  EXPECT_EQ(e[ErrorClass::kReset], 2u);
}

TEST(LoadPlan, OpenLoopSpreadsTheTotalRateEvenlyOverConnections) {
  LoadPlan plan;
  plan.connections = 4;
  plan.ns_per_msg = 1e9 / 1000.0;  // 1000 msg/s in total
  // Connection c sends at c ms, c+4 ms, c+8 ms, ...: one message per ms overall.
  EXPECT_EQ(plan.intended(0, 0, 0), 0);
  EXPECT_EQ(plan.intended(0, 1, 0), 1'000'000);
  EXPECT_EQ(plan.intended(0, 3, 0), 3'000'000);
  EXPECT_EQ(plan.intended(0, 0, 1), 4'000'000);
  EXPECT_EQ(plan.intended(100, 2, 250), 100 + 1'002'000'000);
}

}  // namespace
}  // namespace echo_probe
