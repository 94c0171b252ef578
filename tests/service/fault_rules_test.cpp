// Fault rules without sockets: the grammar, its errors, matching, and each fault kind.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cmath>
#include <string>

#include "config.h"
#include "fault.h"
#include "fault_bandwidth.h"
#include "fault_corrupt.h"
#include "fault_delay.h"
#include "fault_rules.h"
#include "udp_held.h"

namespace echod {
namespace {

FaultRules parse_ok(const std::string& body) {
  FaultRules r;
  auto err = parse_fault_rules_body(body, r);
  EXPECT_FALSE(err) << (err ? err->setting + ": " + err->reason : "");
  return r;
}

std::string bad_setting(const std::string& body) {
  FaultRules r;
  r.rules.push_back({});  // must stay as it was
  auto err = parse_fault_rules_body(body, r);
  EXPECT_TRUE(err) << body;
  EXPECT_EQ(r.rules.size(), 1u) << "a rejected list changed the rules";
  return err ? err->setting : "";
}

sockaddr_storage v4(const char* ip) {
  sockaddr_storage ss{};
  auto& a = reinterpret_cast<sockaddr_in&>(ss);
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  return ss;
}

sockaddr_storage v6(const char* ip) {
  sockaddr_storage ss{};
  auto& a = reinterpret_cast<sockaddr_in6&>(ss);
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return ss;
}

TEST(FaultRules, ParsesEveryActionAndRoundTrips) {
  const FaultRules r = parse_ok(R"({"rules":[
    {"name":"slow","action":"delay","delay":"200ms","jitter":"10ms","probability":0.5},
    {"action":"bandwidth","bytes_per_second":1000,"listener":"tcp"},
    {"action":"close","after_bytes":10000},
    {"action":"close","after":"5s"},
    {"action":"reset","after":"0"},
    {"action":"reset"},
    {"action":"stall","after_bytes":0,"source":"10.0.0.0/8"},
    {"action":"refuse","listener":"tls"},
    {"action":"corrupt","every_bytes":1000,"source":"::1"},
    {"action":"drop","listener":"udp","probability":0.1}]})");
  ASSERT_EQ(r.rules.size(), 10u);
  EXPECT_EQ(r.rules[0].name, "slow");
  EXPECT_EQ(r.rules[0].delay, std::chrono::milliseconds(200));
  EXPECT_EQ(r.rules[1].name, "rule1");  // unnamed rules get their position
  EXPECT_EQ(*r.rules[2].after_bytes, 10000u);
  EXPECT_EQ(r.rules[7].listener, FaultListener::kTls);
  FaultRules back;
  ASSERT_FALSE(parse_fault_rule_list(fault_rules_to_json(r), "rules", back));
  EXPECT_EQ(back, r);
}

TEST(FaultRules, BadRulesNameTheFieldAndChangeNothing) {
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"delay","delay":"1s"},{"action":"reset"},
                        {"action":"refuse","probability":1.5}]})"),
            "rules[2].probability");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"explode"}]})"), "rules[0].action");
  EXPECT_EQ(bad_setting(R"({"rules":[{}]})"), "rules[0].action");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"delay"}]})"), "rules[0].delay");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"delay","delay":"5x"}]})"), "rules[0].delay");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"delay","delay":"2h"}]})"), "rules[0].delay");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"bandwidth","bytes_per_second":0}]})"),
            "rules[0].bytes_per_second");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"corrupt"}]})"), "rules[0].every_bytes");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"close"}]})"), "rules[0].after_bytes");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"close","after":"1s","after_bytes":1}]})"),
            "rules[0].after");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"refuse","source":"10.0.0.0/33"}]})"),
            "rules[0].source");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"refuse","source":"bogus"}]})"), "rules[0].source");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"refuse","listener":"sctp"}]})"),
            "rules[0].listener");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"drop","listener":"tcp"}]})"), "rules[0].listener");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"bandwidth","bytes_per_second":9,"listener":"udp"}]})"),
            "rules[0].listener");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"refuse","every_bytes":3}]})"),
            "rules[0].every_bytes");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"refuse","name":7}]})"), "rules[0].name");
  EXPECT_EQ(bad_setting(R"({"rules":[3]})"), "rules[0]");
  EXPECT_EQ(bad_setting(R"({"rules":{}})"), "rules");
  EXPECT_EQ(bad_setting(R"({"rules":[], "extra":1})"), "extra");
  EXPECT_EQ(bad_setting(R"({})"), "rules");
  EXPECT_EQ(bad_setting(R"([])"), "");
  EXPECT_EQ(bad_setting("{not json"), "");
}

TEST(FaultRules, TlsListenerTakesEveryConnectionAction) {
  const FaultRules r = parse_ok(R"({"rules":[{"action":"refuse","listener":"tls"},
    {"action":"reset","listener":"tls"},{"action":"reset","after":"1s","listener":"tls"},
    {"action":"reset","after_bytes":5,"listener":"tls"},
    {"action":"delay","delay":"1s","jitter":"10ms","listener":"tls"},
    {"action":"bandwidth","bytes_per_second":1000,"listener":"tls"},
    {"action":"close","after_bytes":5,"listener":"tls"},{"action":"close","after":"2s","listener":"tls"},
    {"action":"stall","after_bytes":0,"listener":"tls"},{"action":"stall","after":"1s","listener":"tls"},
    {"action":"corrupt","every_bytes":1000,"listener":"tls"}]})");
  ASSERT_EQ(r.rules.size(), 11u);
  for (const FaultRule& rule : r.rules) EXPECT_EQ(rule.listener, FaultListener::kTls);
  // drop stays UDP's alone, and a close still needs its point.
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"drop","listener":"tls"}]})"), "rules[0].listener");
  EXPECT_EQ(bad_setting(R"({"rules":[{"action":"close","listener":"tls"}]})"), "rules[0].after_bytes");
}

TEST(FaultRules, UdpListenerTakesDropDelayAndCorruptOnly) {
  const FaultRules r = parse_ok(R"({"rules":[{"action":"drop","listener":"udp"},
    {"action":"delay","delay":"200ms","jitter":"5ms","listener":"udp"},
    {"action":"corrupt","every_bytes":16,"listener":"udp"}]})");
  ASSERT_EQ(r.rules.size(), 3u);
  for (const FaultRule& rule : r.rules) EXPECT_EQ(rule.listener, FaultListener::kUdp);
  for (const char* rule : {R"({"action":"bandwidth","bytes_per_second":9,"listener":"udp"})",
                           R"({"action":"close","after_bytes":5,"listener":"udp"})",
                           R"({"action":"reset","listener":"udp"})",
                           R"({"action":"stall","after":"1s","listener":"udp"})",
                           R"({"action":"refuse","listener":"udp"})"}) {
    FaultRules out;
    const auto err = parse_fault_rules_body(std::string(R"({"rules":[)") + rule + "]}", out);
    ASSERT_TRUE(err) << rule;
    EXPECT_EQ(err->setting, "rules[0].listener") << rule;
    EXPECT_EQ(err->reason, "only the drop, delay and corrupt actions apply to udp") << rule;
  }
}

TEST(FaultRules, DatagramsMatchDropDelayAndCorruptRulesOnly) {
  const FaultRules r = parse_ok(R"({"rules":[
    {"name":"tcp-delay","action":"delay","delay":"1s","listener":"tcp"},
    {"name":"any-reset","action":"reset"},
    {"name":"any-bandwidth","action":"bandwidth","bytes_per_second":5},
    {"name":"any-delay","action":"delay","delay":"1s"},
    {"name":"udp-corrupt","action":"corrupt","every_bytes":3,"listener":"udp"}]})");
  FaultRng rng(5);
  // A connection-only rule of listener any does not shadow a later one for datagrams.
  EXPECT_EQ(choose_fault_rule(r, FaultListener::kUdp, nullptr, rng)->name, "any-delay");
  EXPECT_EQ(choose_fault_rule(r, FaultListener::kTcp, nullptr, rng)->name, "tcp-delay");
  EXPECT_EQ(choose_fault_rule(r, FaultListener::kTls, nullptr, rng)->name, "any-reset");
  const FaultRules only_udp = parse_ok(
      R"({"rules":[{"name":"c","action":"corrupt","every_bytes":3,"listener":"udp"}]})");
  EXPECT_EQ(choose_fault_rule(only_udp, FaultListener::kUdp, nullptr, rng)->name, "c");
  EXPECT_EQ(choose_fault_rule(only_udp, FaultListener::kTcp, nullptr, rng), nullptr);
  EXPECT_EQ(choose_fault_rule(only_udp, FaultListener::kTls, nullptr, rng), nullptr);
}

TEST(FaultRules, AnyRulesOfEveryConnectionKindReachTls) {
  const FaultRules r = parse_ok(R"({"rules":[{"name":"d","action":"delay","delay":"1s"}]})");
  FaultRng rng(3);
  const FaultRule* tls = choose_fault_rule(r, FaultListener::kTls, nullptr, rng);
  ASSERT_NE(tls, nullptr);
  EXPECT_EQ(tls->name, "d");
  // delay acts on datagrams too: an any rule reaches UDP as well.
  EXPECT_EQ(choose_fault_rule(r, FaultListener::kUdp, nullptr, rng), &r.rules[0]);
}

TEST(FaultRules, TheConfigFileKeyIsValidatedWithTheRest) {
  Config c;
  auto err = apply_json(c, R"({"max_connections": 5, "faults": [{"action":"nope"}]})",
                        JsonScope::kFile, "config file x");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->setting, "faults");
  EXPECT_NE(err->reason.find("faults[0].action"), std::string::npos) << err->reason;
  EXPECT_EQ(c.runtime.max_connections, Config{}.runtime.max_connections);  // all or nothing
  ASSERT_FALSE(apply_json(c, R"({"faults": [{"action":"refuse"}]})", JsonScope::kFile, "f"));
  ASSERT_EQ(c.runtime.faults.rules.size(), 1u);
  EXPECT_NE(to_json(c).find("\"refuse\""), std::string::npos);
}

TEST(FaultRules, CidrsMatchV4V6AndMappedV4) {
  const Cidr net8 = *parse_cidr("10.0.0.0/8");
  const Cidr host = *parse_cidr("192.0.2.7");
  const Cidr six = *parse_cidr("2001:db8::/32");
  const Cidr zero = *parse_cidr("0.0.0.0/0");
  EXPECT_EQ(host.prefix, 32u);
  FaultRules rules;
  FaultRng rng(1);
  auto only = [&](const Cidr& c) {
    rules.rules = {FaultRule{}};
    rules.rules[0].action = FaultAction::kRefuse;
    rules.rules[0].source = c;
  };
  auto matches = [&](const sockaddr_storage& peer) {
    return choose_fault_rule(rules, FaultListener::kTcp, &peer, rng) != nullptr;
  };
  only(net8);
  EXPECT_TRUE(matches(v4("10.200.3.4")));
  EXPECT_FALSE(matches(v4("11.0.0.1")));
  EXPECT_TRUE(matches(v6("::ffff:10.1.2.3")));  // dual-stack listener
  EXPECT_FALSE(matches(v6("2001:db8::1")));
  only(host);
  EXPECT_TRUE(matches(v4("192.0.2.7")));
  EXPECT_FALSE(matches(v4("192.0.2.8")));
  only(six);
  EXPECT_TRUE(matches(v6("2001:db8:ffff::1")));
  EXPECT_FALSE(matches(v6("2001:db9::1")));
  EXPECT_FALSE(matches(v4("10.0.0.1")));
  only(zero);
  EXPECT_TRUE(matches(v4("203.0.113.9")));
  EXPECT_FALSE(parse_cidr("::1/129"));
  EXPECT_FALSE(parse_cidr("1.2.3.4/"));
}

TEST(FaultRules, FirstMatchingRuleWinsAndListenersSeparate) {
  const FaultRules r = parse_ok(R"({"rules":[
    {"name":"never","action":"refuse","probability":0},
    {"name":"udp","action":"drop"},
    {"name":"tls","action":"reset","listener":"tls"},
    {"name":"tcp","action":"corrupt","every_bytes":9,"listener":"tcp"},
    {"name":"later","action":"refuse"}]})");
  FaultRng rng(7);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(choose_fault_rule(r, FaultListener::kTcp, nullptr, rng)->name, "tcp");
    EXPECT_EQ(choose_fault_rule(r, FaultListener::kUdp, nullptr, rng)->name, "udp");
    EXPECT_EQ(choose_fault_rule(r, FaultListener::kTls, nullptr, rng)->name, "tls");
  }
}

TEST(FaultRules, ProbabilityStaysWithinBinomialBounds) {
  for (const double p : {0.01, 0.3, 0.5, 0.9}) {
    FaultRules r;
    r.rules = {FaultRule{}};
    r.rules[0].action = FaultAction::kRefuse;
    r.rules[0].probability = p;
    FaultRng rng(static_cast<std::uint64_t>(p * 1000) + 1);
    constexpr int kTrials = 20000;
    int hits = 0;
    for (int i = 0; i < kTrials; ++i) hits += choose_fault_rule(r, FaultListener::kTcp, nullptr, rng) != nullptr;
    const double sigma = std::sqrt(kTrials * p * (1 - p));
    EXPECT_NEAR(hits, kTrials * p, 5 * sigma) << "p=" << p;
  }
}

TEST(FaultKinds, CorruptFlipsOneBytePerBlockAcrossChunks) {
  CorruptFault f(1000);
  std::string data(10000, 'x');
  std::size_t off = 0;
  for (std::size_t len : {1u, 998u, 2u, 3000u, 4999u, 1000u}) {
    f.on_read(data.data() + off, len, 0);
    off += len;
  }
  ASSERT_EQ(off, data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data[i] != 'x', i % 1000 == 999) << i;
  }
}

TEST(FaultKinds, CorruptDatagramFlipsEachBlockEndOrTheLastByte) {
  std::string d(250, 'x');
  EXPECT_TRUE(corrupt_datagram(d.data(), d.size(), 100));
  for (std::size_t i = 0; i < d.size(); ++i) EXPECT_EQ(d[i] != 'x', i == 99 || i == 199) << i;
  std::string shorter(7, 'x');
  EXPECT_TRUE(corrupt_datagram(shorter.data(), shorter.size(), 100));
  EXPECT_EQ(shorter, std::string(6, 'x') + static_cast<char>('x' ^ 0xFF));
  EXPECT_FALSE(corrupt_datagram(nullptr, 0, 100));
}

TEST(FaultKinds, UdpHeldReleasesEarliestFirstArrivalOrderOnTiesWithinItsCap) {
  UdpHeld held;
  const sockaddr_storage peer = v4("127.0.0.1");
  constexpr std::uint64_t kCap = 3 * (10 + UdpHeld::kOverheadBytes);
  EXPECT_TRUE(held.hold(300, "aaaaaaaaaa", 10, peer, sizeof(sockaddr_in), kCap));
  EXPECT_TRUE(held.hold(100, "bbbbbbbbbb", 10, peer, sizeof(sockaddr_in), kCap));
  EXPECT_TRUE(held.hold(100, "cccccccccc", 10, peer, sizeof(sockaddr_in), kCap));
  EXPECT_FALSE(held.hold(50, "d", 1, peer, sizeof(sockaddr_in), kCap));  // over the cap
  EXPECT_EQ(held.charged_bytes(), kCap);
  EXPECT_EQ(held.next_ns(), 100);
  std::string order;
  while (!held.empty()) {
    const UdpHeld::Datagram d = held.pop();
    order += std::string(d.bytes.get(), d.len).substr(0, 1);
  }
  EXPECT_EQ(order, "bca");
  EXPECT_EQ(held.charged_bytes(), 0u);
  EXPECT_TRUE(held.hold(0, "", 0, peer, sizeof(sockaddr_in), kCap));  // empty ones cost too
  EXPECT_EQ(held.charged_bytes(), UdpHeld::kOverheadBytes);
}

TEST(FaultKinds, DelayReleasesLaterChunksNoEarlierThanEarlierOnes) {
  FaultRng rng(3);
  DelayFault f(200'000'000, 100'000'000, rng);
  std::int64_t last = 0;
  for (std::int64_t now = 0; now < 1'000'000'000; now += 1'000'000) {
    const std::int64_t at = f.on_read(nullptr, 1, now);
    EXPECT_GE(at, now + 200'000'000);
    EXPECT_LE(at, now + 300'000'000);
    EXPECT_GE(at, last);
    last = at;
  }
}

TEST(FaultKinds, BandwidthStartsEmptyAndBurstsAtMostOneSecond) {
  BandwidthFault f(1000, 0);
  std::int64_t retry = kNever;
  EXPECT_EQ(f.send_budget(500, 0, &retry), 0u);
  EXPECT_GT(retry, 0);
  // After an idle minute the bucket holds one second's worth, no more.
  const std::size_t burst = f.send_budget(100000, 60'000'000'000, &retry);
  EXPECT_EQ(burst, 1000u);
  f.on_sent(burst);
  // Over ten further seconds about 10,000 bytes leave.
  std::size_t total = 0;
  for (std::int64_t t = 60'000'000'000; t <= 70'000'000'000; t += 10'000'000) {
    const std::size_t n = f.send_budget(100000, t, &retry);
    f.on_sent(n);
    total += n;
  }
  EXPECT_NEAR(static_cast<double>(total), 10000.0, 100.0);
}

}  // namespace
}  // namespace echod
