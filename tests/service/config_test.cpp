#include "config.h"

#include <gtest/gtest.h>

namespace echod {
namespace {

TEST(ParseEndpoint, AcceptsHostPortForms) {
  EXPECT_EQ(parse_endpoint(":7007"), (Endpoint{"", 7007}));
  EXPECT_EQ(parse_endpoint("127.0.0.1:0"), (Endpoint{"127.0.0.1", 0}));
  EXPECT_EQ(parse_endpoint("[::1]:8080"), (Endpoint{"::1", 8080}));
  EXPECT_EQ(parse_endpoint("localhost:1"), (Endpoint{"localhost", 1}));
}

TEST(ParseEndpoint, RejectsMalformedAddresses) {
  for (const char* bad : {"", "7007", ":", ":65536", ":-1", "::1:80", "[::1:80", "[zz]:80",
                          "host:port", "a b:80", ":80x"}) {
    EXPECT_EQ(parse_endpoint(bad), std::nullopt) << bad;
  }
}

TEST(EndpointToString, BracketsIpv6) {
  EXPECT_EQ((Endpoint{"::1", 80}).to_string(), "[::1]:80");
  EXPECT_EQ((Endpoint{"", 7007}).to_string(), ":7007");
}

TEST(ApplyJson, SetsEveryFileKey) {
  Config c;
  auto err = apply_json(c, R"({"listen": "127.0.0.1:9", "admin_listen": ":0", "udp": true,
      "workers": 3, "max_connections": 5, "idle_timeout": "250ms", "max_pending_bytes": 4096,
      "max_connection_bytes": 100, "max_connection_lifetime": "1h", "shutdown_delay": "2s",
      "drain_timeout": "3s", "log_level": "debug", "log_format": "text"})",
                        JsonScope::kFile, "test");
  ASSERT_FALSE(err) << err->message();
  EXPECT_EQ(c.listen, (Endpoint{"127.0.0.1", 9}));
  EXPECT_TRUE(c.udp);
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.runtime.max_connections, 5u);
  EXPECT_EQ(c.runtime.idle_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c.runtime.max_pending_bytes, 4096u);
  EXPECT_EQ(c.runtime.max_connection_bytes, 100u);
  EXPECT_EQ(c.runtime.max_connection_lifetime, std::chrono::hours(1));
  EXPECT_EQ(c.runtime.shutdown_delay, std::chrono::seconds(2));
  EXPECT_EQ(c.runtime.drain_timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.runtime.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.log_format, LogFormat::kText);
}

struct BadJsonCase {
  const char* json;
  const char* setting;
  const char* reason_fragment;
};

class ApplyJsonRejects : public ::testing::TestWithParam<BadJsonCase> {};

TEST_P(ApplyJsonRejects, NamingTheSettingAndLeavingConfigUnchanged) {
  Config c;
  c.runtime.max_connections = 77;
  const Config before = c;
  auto err = apply_json(c, GetParam().json, JsonScope::kFile, "config file x.json");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->setting, GetParam().setting);
  EXPECT_NE(err->reason.find(GetParam().reason_fragment), std::string::npos) << err->reason;
  EXPECT_EQ(err->source, "config file x.json");
  EXPECT_EQ(c, before);
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, ApplyJsonRejects,
    ::testing::Values(BadJsonCase{"{", "", "malformed JSON"},
                      BadJsonCase{"[1]", "", "JSON object"},
                      BadJsonCase{R"({"bogus": 1})", "bogus", "unknown setting"},
                      BadJsonCase{R"({"max_connections": "10"})", "max_connections", "integer"},
                      BadJsonCase{R"({"max_connections": -1})", "max_connections", "integer"},
                      BadJsonCase{R"({"max_connections": 1.5})", "max_connections", "integer"},
                      BadJsonCase{R"({"max_connections": 0})", "max_connections", "between"},
                      BadJsonCase{R"({"max_pending_bytes": 10})", "max_pending_bytes", "between"},
                      BadJsonCase{R"({"idle_timeout": 5})", "idle_timeout", "duration"},
                      BadJsonCase{R"({"idle_timeout": "5 s"})", "idle_timeout", "duration"},
                      BadJsonCase{R"({"drain_timeout": "2h"})", "drain_timeout", "at most"},
                      BadJsonCase{R"({"udp": "yes"})", "udp", "true or false"},
                      BadJsonCase{R"({"log_level": "loud"})", "log_level", "debug"},
                      BadJsonCase{R"({"listen": "nope"})", "listen", "HOST"},
                      BadJsonCase{R"({"workers": 5000})", "workers", "between"},
                      BadJsonCase{R"({"proxy_protocol": "v3"})", "proxy_protocol", "off, v1"},
                      BadJsonCase{R"({"proxy_protocol_trusted": "10.0.0.0/33"})",
                                  "proxy_protocol_trusted", "CIDR"},
                      BadJsonCase{R"({"proxy_protocol_trusted": ["10.0.0.0/8", 7]})",
                                  "proxy_protocol_trusted", "CIDR"},
                      BadJsonCase{R"({"proxy_protocol_timeout": "0ms"})",
                                  "proxy_protocol_timeout", "more than 0"},
                      // All or nothing: a good key before a bad one is not applied either.
                      BadJsonCase{R"({"max_connections": 5, "idle_timeout": "x"})",
                                  "idle_timeout", "duration"}));

TEST(ApplyJson, ProxyProtocolSettings) {
  Config c;
  ASSERT_FALSE(apply_json(c, R"({"proxy_protocol": "v2", "proxy_protocol_timeout": "750ms",
      "proxy_protocol_trusted": ["10.0.0.0/8", "2001:db8::/32"]})",
                          JsonScope::kFile, "test"));
  EXPECT_EQ(c.proxy_protocol, ProxyProtocolMode::kV2);
  EXPECT_EQ(c.runtime.proxy_protocol_timeout, std::chrono::milliseconds(750));
  ASSERT_EQ(c.runtime.proxy_protocol_trusted.size(), 2u);
  EXPECT_EQ(to_string(c.runtime.proxy_protocol_trusted[1]), "2001:db8::/32");
  // The flag's comma-separated form, and back out as the file writes it.
  ASSERT_FALSE(apply_json(c, R"({"proxy_protocol_trusted": "192.0.2.0/24,198.51.100.7"})",
                          JsonScope::kRuntime, "PUT /config"));
  EXPECT_EQ(setting_value_text(c, "proxy_protocol_trusted"), "192.0.2.0/24,198.51.100.7/32");
  // The mode is fixed for the process's life; who is trusted and the timeout are not.
  EXPECT_TRUE(apply_json(c, R"({"proxy_protocol": "off"})", JsonScope::kRuntime, "PUT /config"));
  ASSERT_FALSE(apply_json(c, R"({"proxy_protocol_trusted": ""})", JsonScope::kRuntime, "api"));
  EXPECT_TRUE(c.runtime.proxy_protocol_trusted.empty());
}

TEST(ApplyJson, RuntimeScopeRefusesStaticSettings) {
  Config c;
  const Config before = c;
  auto err = apply_json(c, R"({"max_connections": 5, "listen": ":1"})", JsonScope::kRuntime,
                        "PUT /config");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->setting, "listen");
  EXPECT_NE(err->reason.find("runtime"), std::string::npos);
  EXPECT_EQ(c, before);
}

TEST(ApplyJson, RuntimeScopeAcceptsRuntimeSettings) {
  Config c;
  ASSERT_FALSE(apply_json(c, R"({"max_connections": 5, "log_level": "warn"})",
                          JsonScope::kRuntime, "PUT /config"));
  EXPECT_EQ(c.runtime.max_connections, 5u);
  EXPECT_EQ(c.runtime.log_level, LogLevel::kWarn);
}

TEST(ToJson, RoundTripsAsAConfigFile) {
  Config c;
  c.runtime.idle_timeout = std::chrono::milliseconds(1500);
  c.udp = true;
  c.listen = {"::1", 9};
  Config back;
  ASSERT_FALSE(apply_json(back, to_json(c), JsonScope::kFile, "roundtrip"));
  EXPECT_EQ(back, c);
}

TEST(ToJson, NeverContainsTheToken) {
  Config c;
  c.admin_token = "s3cret-token";
  EXPECT_EQ(to_json(c).find("s3cret-token"), std::string::npos);
}

TEST(DescribeChanges, ListsOnlyWhatMoved) {
  RuntimeSettings a;
  RuntimeSettings b = a;
  EXPECT_EQ(describe_changes(a, b), "");
  b.max_connections = 3;
  b.idle_timeout = std::chrono::seconds(1);
  EXPECT_EQ(describe_changes(a, b), "max_connections 10000 -> 3, idle_timeout 5m -> 1s");
}

TEST(Settings, EveryEntryHasConsistentNames) {
  for (const SettingInfo& s : all_settings()) {
    std::string flag = "--" + std::string(s.key);
    std::replace(flag.begin(), flag.end(), '_', '-');
    EXPECT_EQ(s.flag, flag);
    std::string env = "ECHOD_" + std::string(s.key);
    std::transform(env.begin(), env.end(), env.begin(), ::toupper);
    EXPECT_EQ(s.env, env);
  }
}

TEST(TlsSettings, ParseRoundTripAndNeedCertAndKeyWithAListener) {
  Config c;
  auto err = apply_json(c, R"({"tls_listen": ":7443"})", JsonScope::kFile, "f");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->setting, "tls_cert");
  err = apply_json(c, R"({"tls_listen": ":7443", "tls_cert": "/dev/null"})", JsonScope::kFile, "f");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->setting, "tls_key");
  err = apply_json(c, R"({"tls_listen": ":7443", "tls_cert": "/nonexistent/c.pem", "tls_key": "/dev/null"})",
                   JsonScope::kFile, "f");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->setting, "tls_cert");
  EXPECT_NE(err->reason.find("/nonexistent/c.pem"), std::string::npos) << err->reason;
  EXPECT_FALSE(c.tls_listen) << "all or nothing";

  // Readable files are enough here; whether they hold a matching pair is TlsContext's check.
  ASSERT_FALSE(apply_json(c,
                          R"({"tls_listen": "127.0.0.1:7443", "tls_cert": "/dev/null",
                              "tls_key": "/dev/null", "tls_min_version": "1.3",
                              "tls_handshake_timeout": "2s"})",
                          JsonScope::kFile, "f"));
  ASSERT_TRUE(c.tls_listen);
  EXPECT_EQ(c.tls_listen->port, 7443);
  EXPECT_EQ(c.tls_min_version, 13);
  EXPECT_EQ(c.runtime.tls_handshake_timeout, std::chrono::seconds(2));
  Config back;
  ASSERT_FALSE(apply_json(back, to_json(c), JsonScope::kFile, "round trip"));
  EXPECT_EQ(back, c);
  EXPECT_TRUE(apply_json(c, R"({"tls_min_version": "1.0"})", JsonScope::kFile, "f"));
  EXPECT_TRUE(apply_json(c, R"({"tls_cert": "/x"})", JsonScope::kRuntime, "PUT /config"));
}

TEST(TlsSettings, HandshakeTimeoutIsTheOnlyRuntimeTlsSetting) {
  for (const SettingInfo& s : all_settings()) {
    if (s.key.starts_with("tls_")) {
      EXPECT_EQ(s.runtime_changeable, s.key == "tls_handshake_timeout") << s.key;
    }
  }
  Config c;
  ASSERT_FALSE(apply_json(c, R"({"tls_handshake_timeout": "250ms"})", JsonScope::kRuntime, "PUT"));
  EXPECT_EQ(c.runtime.tls_handshake_timeout, std::chrono::milliseconds(250));
}

}  // namespace
}  // namespace echod
