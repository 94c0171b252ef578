// Fault tier (issue 13): hostile fault-rule churn. PUT /faults every 10 ms for about 20 s
// while 64 echo-probe clients verify every byte: no crash, no leak (descriptors back to the
// baseline), no wrong byte (the only corrupt rule matches a source that never connects).
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "fault_support.h"

namespace echod::test {
namespace {

constexpr const char* kToken = "churn-token-77";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(FaultChurn, RuleChurnUnderVerifiedLoadLeaksNothingAndCorruptsNothing) {
  EchodProcess echod({"--workers", "2", "--idle-timeout", "2s"}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  const int baseline_fds = open_fd_count(echod.process().pid());
  const std::vector<std::string> bodies = {
      R"({"rules":[{"action":"delay","delay":"5ms","jitter":"5ms","probability":0.5}]})",
      R"({"rules":[{"action":"bandwidth","bytes_per_second":100000}]})",
      R"({"rules":[{"action":"close","after_bytes":32,"probability":0.3}]})",
      R"({"rules":[{"action":"reset","probability":0.3},{"action":"delay","delay":"1ms"}]})",
      R"({"rules":[{"action":"stall","after_bytes":64,"probability":0.05}]})",
      R"({"rules":[{"action":"refuse","probability":0.3}]})",
      R"({"rules":[{"action":"corrupt","every_bytes":1,"source":"10.0.0.0/8"}]})",
      R"({"rules":[{"action":"close","after":"20ms"},{"action":"reset"}]})",
      R"({"rules":[{"action":"delay"}]})",  // refused: 400, rules unchanged
  };
  std::atomic<bool> stop{false};
  std::atomic<int> puts{0}, refused{0}, failed{0};
  std::thread churn([&] {
    for (std::size_t i = 0; !stop.load(); ++i) {
      const bool remove = i % 10 == 9;
      const HttpReply r =
          remove ? http_request(echod.admin_port(), "DELETE", "/faults", "",
                                {{"Authorization", std::string("Bearer ") + kToken}})
                 : http_request(echod.admin_port(), "PUT", "/faults", bodies[i % bodies.size()],
                                {{"Authorization", std::string("Bearer ") + kToken}});
      if (r.status == 200) {
        ++puts;
      } else if (r.status == 400) {
        ++refused;
      } else {
        ++failed;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  });
  const RunResult probe = run_to_exit(
      ECHO_PROBE_BINARY,
      {"tcp", "127.0.0.1:" + std::to_string(echod.echo_port()), "-c", "64", "-t", "2",
       "--new-connection", "-d", "20s", "--timeout", "1s", "-s", "128", "--json", "-q"},
      {}, milliseconds(90'000));
  stop = true;
  churn.join();
  const ProbeResult p = parse_probe_output(probe.exit_code, lines_of(probe.out), probe.err);
  figure("rule_changes", puts.load());
  figure("probe_received", static_cast<double>(p.received));
  figure("probe_errors", static_cast<double>(p.errors));
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(puts.load(), 500);  // ~20 s at one change per ~10 ms plus request time
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(p.received, 1000u) << probe.out << probe.err;
  EXPECT_EQ(p.mismatches, 0u) << "wrong bytes without a corrupt rule that applies\n" << probe.out;
  // Every echoed message verified whole; messages cut short by close/reset verified so far.
  EXPECT_GE(p.verified_bytes, p.received * 128);

  ASSERT_EQ(http_request(echod.admin_port(), "DELETE", "/faults", "",
                         {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            200);
  EXPECT_FALSE(echod.process().wait_exit(milliseconds(0))) << "echod died";
  EXPECT_EQ(http_get(echod.admin_port(), "/livez").status, 200);
  // Stalled connections end at idle-timeout (2 s); then every descriptor is back.
  EXPECT_TRUE(wait_until([&] { return open_fd_count(echod.process().pid()) <= baseline_fds; },
                         milliseconds(15'000)))
      << "fds " << open_fd_count(echod.process().pid()) << " baseline " << baseline_fds;
  EXPECT_TRUE(echoes(connect_tcp(echod.echo_port()).get(), "after the churn"));
}

}  // namespace
}  // namespace echod::test
