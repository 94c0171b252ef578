#include "report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace echo_probe {
namespace {

using json = nlohmann::ordered_json;

LoadResult sample_result(std::size_t addresses) {
  LoadResult r;
  r.threads = 2;
  r.duration_s = 2.0;
  for (std::size_t a = 0; a < addresses; ++a) {
    Stats s;
    s.sent = 100;
    s.received = 99;
    s.verified_bytes = 99 * 64 + 10;
    s.errors.add(ErrorClass::kTimeout);
    for (std::uint64_t v = 1; v <= 99; ++v) s.rtt_ns.record(v * 1000);  // 1..99 us
    s.connect_ns.record(50'000);
    r.per_address.push_back(s);
    r.addresses.push_back("127.0.0." + std::to_string(a + 1) + ":7007");
    r.connections_per_address.push_back(2);
    r.total.merge(s);
  }
  return r;
}

std::vector<std::string> keys_of(const json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  return keys;
}

TEST(JsonReport, HasTheSpecKeysInOrderWithTheRunsNumbers) {
  Options o;
  o.target = "127.0.0.1:7007";
  o.connections = 2;
  const json j = json::parse(format_json(o, sample_result(1)));
  EXPECT_EQ(keys_of(j),
            (std::vector<std::string>{"target", "protocol", "connections", "sent", "received",
                                      "verified_bytes", "errors", "error_classes", "timeouts",
                                      "mismatches", "duration_s", "msgs_per_sec", "bytes_per_sec",
                                      "latency_us", "connect_us"}));
  EXPECT_EQ(j["target"], "127.0.0.1:7007");
  EXPECT_EQ(j["protocol"], "tcp");
  EXPECT_EQ(j["connections"], 2);
  EXPECT_EQ(j["sent"], 100);
  EXPECT_EQ(j["received"], 99);
  EXPECT_EQ(j["verified_bytes"], 99 * 64 + 10);
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["timeouts"], 1);
  EXPECT_EQ(j["mismatches"], 0);
  EXPECT_EQ(keys_of(j["error_classes"]),
            (std::vector<std::string>{"dns", "refused", "timeout", "reset", "closed", "mismatch", "tls"}));
  EXPECT_EQ(j["error_classes"]["timeout"], 1);
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["msgs_per_sec"].get<double>(), 49.5);
  EXPECT_DOUBLE_EQ(j["bytes_per_sec"].get<double>(), (99 * 64 + 10) / 2.0);
  EXPECT_EQ(keys_of(j["latency_us"]),
            (std::vector<std::string>{"min", "p50", "p90", "p99", "p999", "max", "mean"}));
  EXPECT_DOUBLE_EQ(j["latency_us"]["min"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["latency_us"]["max"].get<double>(), 99.0);
  EXPECT_NEAR(j["latency_us"]["p50"].get<double>(), 50.0, 0.5);
  EXPECT_NEAR(j["latency_us"]["p90"].get<double>(), 90.0, 0.9);
  EXPECT_DOUBLE_EQ(j["latency_us"]["mean"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(j["connect_us"]["p50"].get<double>(), 50.0);
  EXPECT_FALSE(j.contains("per_address"));
}

TEST(JsonReport, PerAddressOnlyWithAllAddresses) {
  Options o;
  o.target = "echo:7007";
  o.all_addresses = true;
  const json j = json::parse(format_json(o, sample_result(2)));
  ASSERT_TRUE(j.contains("per_address"));
  ASSERT_EQ(j["per_address"].size(), 2u);
  EXPECT_EQ(j["per_address"][1]["address"], "127.0.0.2:7007");
  EXPECT_EQ(j["per_address"][1]["connections"], 2);
  EXPECT_EQ(j["per_address"][1]["received"], 99);
  EXPECT_EQ(j["per_address"][1]["error_classes"]["timeout"], 1);
  EXPECT_EQ(j["sent"], 200);
}

TEST(JsonReport, TlsRunsAddHandshakeLatencyWithTheConnectKeysAndSayWhenInsecure) {
  Options o;
  o.target = "localhost:7443";
  TlsSettings settings;
  settings.insecure = true;
  o.tls = TlsClientContext::create(settings);
  o.proxy = ProxyVersion::kV1;
  LoadResult r = sample_result(1);
  r.total.tls_handshake_ns.record(400'000);
  r.total.errors.add(ErrorClass::kTls);
  r.total.note_tls_error("certificate verify failed: unable to get local issuer certificate");
  const json j = json::parse(format_json(o, r));
  EXPECT_EQ(keys_of(j["tls_handshake_us"]), keys_of(j["connect_us"]));
  EXPECT_DOUBLE_EQ(j["tls_handshake_us"]["max"].get<double>(), 400.0);
  EXPECT_EQ(j["tls"], true);
  EXPECT_EQ(j["tls_insecure"], true);
  EXPECT_EQ(j["tls_error"], "certificate verify failed: unable to get local issuer certificate");
  EXPECT_EQ(j["error_classes"]["tls"], 1);
  EXPECT_EQ(j["proxy_protocol"], "v1");

  const std::string table = format_summary(o, r);
  EXPECT_NE(table.find("--tls-insecure: TLS certificates are NOT verified"), std::string::npos)
      << table;
  EXPECT_NE(table.find("  tls handshake "), std::string::npos) << table;
  EXPECT_NE(table.find("tls 1"), std::string::npos) << table;
  EXPECT_NE(table.find("unable to get local issuer certificate"), std::string::npos) << table;
  EXPECT_NE(table.find(", TLS, PROXY protocol v1"), std::string::npos) << table;
}

TEST(JsonReport, PlainRunsCarryNoTlsKeys) {
  Options o;
  const json j = json::parse(format_json(o, sample_result(1)));
  EXPECT_FALSE(j.contains("tls_handshake_us"));
  EXPECT_FALSE(j.contains("tls_insecure"));
  EXPECT_FALSE(j.contains("proxy_protocol"));
  EXPECT_EQ(j["error_classes"]["tls"], 0);
}

TEST(JsonReport, IsOneLine) {
  Options o;
  const std::string text = format_json(o, sample_result(1));
  EXPECT_EQ(text.find('\n'), text.size() - 1);
}

TEST(Verdict, SucceedsOnlyWhenEverythingSentWasVerified) {
  LoadResult r;
  EXPECT_FALSE(load_succeeded(r));  // nothing sent is not a success
  r.total.sent = 10;
  r.total.received = 10;
  EXPECT_TRUE(load_succeeded(r));
  r.total.received = 9;
  EXPECT_FALSE(load_succeeded(r));
  r.total.received = 10;
  r.total.errors.add(ErrorClass::kClosed);
  EXPECT_FALSE(load_succeeded(r));
}

TEST(HumanReport, ShowsCountsErrorsAndPercentiles) {
  Options o;
  o.target = "127.0.0.1:7007";
  const std::string text = format_summary(o, sample_result(1));
  for (const char* want : {"sent        100", "received    99", "timeout 1", "p99.9", "FAIL"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

TEST(HttpReport, JsonNamesEachEndpointStatus) {
  Options o;
  o.protocol = Protocol::kHttp;
  o.target = "http://127.0.0.1:8080";
  HttpResult r;
  r.checks.push_back({"/livez", 200, 120.0, std::nullopt, "ok"});
  r.checks.push_back({"/readyz", 503, 90.0, std::nullopt, "shutting down"});
  EXPECT_FALSE(r.ok());
  const json j = json::parse(format_http_json(o, r));
  EXPECT_EQ(j["protocol"], "http");
  EXPECT_EQ(j["checks"]["/livez"]["status"], 200);
  EXPECT_EQ(j["checks"]["/readyz"]["status"], 503);
  EXPECT_EQ(j["ok"], false);
  r.checks[1].status = 200;
  EXPECT_TRUE(r.ok());
}

}  // namespace
}  // namespace echo_probe
