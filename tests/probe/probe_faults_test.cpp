// echo-probe against a real echod under each fault rule: every fault shows up as the
// failure class a user would expect (issue 13).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "echod_process.h"
#include "run_command.h"
#include "tls_support.h"

namespace echo_probe::test {
namespace {

using json = nlohmann::json;
using echod::test::EchodProcess;

// echo-probe's --json report (an empty object, and a failure, when it printed none).
json report(const CommandResult& r) {
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << "not JSON: " << r.out << r.err;
    return json::object();
  }
}

// `mode` is echo-probe's (tcp or udp; udp wants "--udp" in `echod_args`).
json probe_under(const std::string& rules, const std::vector<std::string>& args,
                 std::vector<std::string> echod_args = {}, const std::string& mode = "tcp") {
  echod_args.insert(echod_args.end(), {"--workers", "1", "--faults", rules});
  EchodProcess echod(echod_args);
  std::vector<std::string> full{mode, loopback(echod.echo_port()), "--json", "-q"};
  full.insert(full.end(), args.begin(), args.end());
  return report(run_probe(full));
}

int cls(const json& j, const char* name) { return j["error_classes"].value(name, -1); }

TEST(ProbeUnderFaults, ResetIsClassedReset) {
  const json j = probe_under(R"([{"action":"reset"}])", {"-n", "3"});
  EXPECT_EQ(cls(j, "reset"), 1) << j.dump();
  EXPECT_EQ(j["errors"], 1);
}

TEST(ProbeUnderFaults, StallIsClassedTimeout) {
  const json j = probe_under(R"([{"action":"stall","after_bytes":128}])",
                             {"-n", "5", "-s", "64", "--timeout", "500ms"});
  EXPECT_EQ(cls(j, "timeout"), 1) << j.dump();
  EXPECT_EQ(j["received"], 2);  // 128 bytes were echoed before the stall
}

TEST(ProbeUnderFaults, CloseIsClassedClosed) {
  const json j = probe_under(R"([{"action":"close","after_bytes":100}])", {"-n", "5", "-s", "64"});
  EXPECT_EQ(cls(j, "closed"), 1) << j.dump();
  EXPECT_EQ(j["received"], 1);
  EXPECT_EQ(cls(j, "reset"), 0);
}

TEST(ProbeUnderFaults, CorruptIsClassedMismatch) {
  const json j = probe_under(R"([{"action":"corrupt","every_bytes":100}])", {"-n", "5", "-s", "64"});
  EXPECT_EQ(cls(j, "mismatch"), 1) << j.dump();
  EXPECT_EQ(j["received"], 1);  // the flipped byte is the 100th: in the second message
}

TEST(ProbeUnderFaults, RefuseIsClassedClosedOrReset) {
  const json j = probe_under(R"([{"action":"refuse"}])", {"-n", "1"});
  EXPECT_EQ(cls(j, "closed") + cls(j, "reset"), 1) << j.dump();
}

TEST(ProbeUnderFaults, DelayShowsAsLatency) {
  const json j = probe_under(R"([{"action":"delay","delay":"200ms"}])", {"-n", "3"});
  EXPECT_EQ(j["errors"], 0) << j.dump();
  EXPECT_EQ(j["received"], 3);
  EXPECT_GE(j["latency_us"]["min"].get<double>(), 200000.0);
}

TEST(ProbeUnderFaults, BandwidthShowsAsThroughput) {
  // 20 messages of 1000 bytes at 10 kB/s: about 2 s, and every byte verified.
  const json j = probe_under(R"([{"action":"bandwidth","bytes_per_second":10000}])",
                             {"-n", "20", "-s", "1000"});
  EXPECT_EQ(j["errors"], 0) << j.dump();
  EXPECT_EQ(j["verified_bytes"], 20000);
  EXPECT_GE(j["duration_s"].get<double>(), 1.5);
  EXPECT_LE(j["duration_s"].get<double>(), 5.0);
}

TEST(ProbeUnderFaults, UdpDropIsClassedTimeout) {
  EchodProcess echod({"--udp", "--faults", R"([{"action":"drop"}])"});
  const CommandResult r = run_probe(
      {"udp", loopback(echod.echo_port()), "-n", "3", "--timeout", "300ms", "--json", "-q"});
  const json j = json::parse(r.out);
  EXPECT_EQ(j["received"], 0) << r.out;
  EXPECT_EQ(cls(j, "timeout"), 3) << r.out;
}

TEST(ProbeUnderFaults, UdpCorruptIsClassedMismatch) {
  // 64-byte datagrams, every_bytes 1000: each datagram has its last byte flipped.
  const json j = probe_under(R"([{"action":"corrupt","every_bytes":1000,"listener":"udp"}])",
                             {"-n", "3", "-s", "64"}, {"--udp"}, "udp");
  EXPECT_EQ(cls(j, "mismatch"), 3) << j.dump();
  EXPECT_EQ(j["received"], 0);
}

TEST(ProbeUnderFaults, UdpDelayShowsAsLatency) {
  const json j = probe_under(R"([{"action":"delay","delay":"200ms","listener":"udp"}])",
                             {"-n", "3", "--timeout", "2s"}, {"--udp"}, "udp");
  EXPECT_EQ(j["errors"], 0) << j.dump();
  EXPECT_EQ(j["received"], 3);
  EXPECT_GE(j["latency_us"]["min"].get<double>(), 200000.0);
}

// The same faults on echod's TLS listener act on the plaintext: echo-probe --tls sees the
// same classes as on plain TCP (a reset as `reset`, a close_notify and FIN as `closed`).
json probe_tls_under(const std::string& rules, const std::vector<std::string>& args) {
  auto files = echod::test::TlsFiles::standard();
  std::vector<std::string> echod_args = files->listener_args();
  echod_args.insert(echod_args.end(), {"--workers", "1", "--faults", rules});
  EchodProcess echod(echod_args);
  std::vector<std::string> full{"tcp", loopback(echod.tls_port()), "--tls", "--tls-ca",
                                files->cert("ca"), "--tls-server-name", "localhost",
                                "--json", "-q"};
  full.insert(full.end(), args.begin(), args.end());
  return report(run_probe(full));
}

TEST(ProbeUnderTlsFaults, ResetAfterBytesIsClassedReset) {
  const json j = probe_tls_under(R"([{"action":"reset","after_bytes":100,"listener":"tls"}])",
                                 {"-n", "5", "-s", "64"});
  EXPECT_EQ(cls(j, "reset"), 1) << j.dump();
  EXPECT_EQ(j["received"], 1);  // 64 bytes echoed, the second message met the RST
}

TEST(ProbeUnderTlsFaults, CloseIsClassedClosed) {
  const json j = probe_tls_under(R"([{"action":"close","after_bytes":100,"listener":"tls"}])",
                                 {"-n", "5", "-s", "64"});
  EXPECT_EQ(cls(j, "closed"), 1) << j.dump();
  EXPECT_EQ(j["received"], 1);
  EXPECT_EQ(cls(j, "reset"), 0);
}

}  // namespace
}  // namespace echo_probe::test
