#include "options.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "duration.h"
#include "target.h"

namespace echo_probe {
namespace {

using namespace std::chrono_literals;

Options parse_ok(const std::vector<std::string>& args) {
  const auto r = parse_options(args);
  EXPECT_TRUE(r.options) << r.text;
  return r.options.value_or(Options{});
}

std::string usage_error(const std::vector<std::string>& args) {
  const auto r = parse_options(args);
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.text.find('\n'), std::string::npos) << r.text;
  return r.text;
}

TEST(Options, DefaultsFollowTheSpec) {
  const Options o = parse_ok({"tcp", "echo.example:7007"});
  EXPECT_EQ(o.protocol, Protocol::kTcp);
  EXPECT_EQ(o.endpoint.host, "echo.example");
  EXPECT_EQ(o.endpoint.port, 7007);
  EXPECT_EQ(o.connections, 1);
  EXPECT_EQ(o.count, 1u);
  EXPECT_FALSE(o.duration);
  EXPECT_EQ(o.threads, 1);  // capped at --connections
  EXPECT_EQ(o.size, 64u);
  EXPECT_EQ(o.rate, 0.0);
  EXPECT_EQ(o.timeout, 5s);
  EXPECT_FALSE(o.new_connection || o.all_addresses || o.json || o.quiet);
}

TEST(Options, EveryOptionIsParsed) {
  const Options o = parse_ok({"tcp",
                              "-c",
                              "8",
                              "-n",
                              "100",
                              "-d",
                              "2m",
                              "-t",
                              "2",
                              "-s",
                              "1024",
                              "-r",
                              "5000",
                              "--timeout",
                              "250ms",
                              "--new-connection",
                              "--all-addresses",
                              "--json",
                              "-q",
                              "[::1]:9"});
  EXPECT_EQ(o.connections, 8);
  EXPECT_EQ(o.count, 100u);
  EXPECT_EQ(o.duration, std::chrono::nanoseconds(2min));
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.size, 1024u);
  EXPECT_EQ(o.rate, 5000.0);
  EXPECT_EQ(o.timeout, 250ms);
  EXPECT_TRUE(o.new_connection && o.all_addresses && o.json && o.quiet);
  EXPECT_EQ(o.endpoint.host, "::1");
  EXPECT_EQ(o.endpoint.port, 9);
  const Options l =
      parse_ok({"udp", "--connections", "3", "--count", "4", "--duration", "5s", "--threads", "3",
                "--size", "9", "--rate", "10", "--quiet", "127.0.0.1:7"});
  EXPECT_EQ(l.protocol, Protocol::kUdp);
  EXPECT_EQ(l.connections, 3);
  EXPECT_EQ(l.count, 4u);
  EXPECT_EQ(l.threads, 3);
  EXPECT_TRUE(l.quiet);
}

TEST(Options, DurationMakesTheCountUnlimitedUnlessGiven) {
  EXPECT_EQ(parse_ok({"tcp", "h:1", "-d", "10s"}).count, 0u);
  EXPECT_EQ(parse_ok({"tcp", "h:1", "-d", "10s", "-n", "7"}).count, 7u);
  EXPECT_EQ(parse_ok({"tcp", "h:1", "-n", "0"}).count, 0u);
}

TEST(Options, ThreadsDefaultToAvailableCpusCappedByConnections) {
  const int cpus = available_cpus();
  EXPECT_GE(cpus, 1);
  EXPECT_EQ(parse_ok({"tcp", "h:1", "-c", "1000"}).threads, cpus);
  EXPECT_EQ(parse_ok({"tcp", "h:1", "-c", "1000", "-t", "3"}).threads, 3);
}

TEST(Options, HttpTakesAUrl) {
  const Options o = parse_ok({"http", "http://10.0.0.1:8080", "--timeout", "2s", "--json"});
  EXPECT_EQ(o.protocol, Protocol::kHttp);
  EXPECT_EQ(o.endpoint.host, "10.0.0.1");
  EXPECT_EQ(o.endpoint.port, 8080);
  EXPECT_EQ(o.timeout, 2s);
  EXPECT_EQ(parse_ok({"http", "http://admin.svc/"}).endpoint.port, 80);
}

TEST(Options, UsageErrorsNameTheArgument) {
  EXPECT_NE(usage_error({}).find("MODE"), std::string::npos);
  EXPECT_NE(usage_error({"ping", "h:1"}).find("ping"), std::string::npos);
  EXPECT_NE(usage_error({"tcp"}).find("TARGET"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "nohost"}).find("TARGET"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:70000"}).find("TARGET"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-c", "0"}).find("--connections"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-n", "x"}).find("--count"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-n", "-3"}).find("--count"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-d", "10"}).find("--duration"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-d", "0s"}).find("--duration"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-t", "0"}).find("--threads"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-s", "0"}).find("--size"), std::string::npos);
  EXPECT_NE(usage_error({"udp", "h:1", "-s", "65508"}).find("--size"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "-r", "-1"}).find("--rate"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "--timeout", "x"}).find("--timeout"), std::string::npos);
  EXPECT_NE(usage_error({"tcp", "h:1", "--nope"}).find("--nope"), std::string::npos);
  EXPECT_NE(usage_error({"udp", "h:1", "--new-connection"}).find("--new-connection"),
            std::string::npos);
  EXPECT_NE(usage_error({"http", "ftp://h:1"}).find("TARGET"), std::string::npos);
}

TEST(Options, TlsAndProxyProtocolAreParsedForTcp) {
  const Options o = parse_ok({"tcp", "h:1", "--tls", "--tls-insecure", "--proxy-protocol", "v2"});
  ASSERT_TRUE(o.tls);
  EXPECT_TRUE(o.tls->insecure());
  EXPECT_EQ(o.proxy, ProxyVersion::kV2);
  const Options plain = parse_ok({"tcp", "h:1"});
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.proxy, ProxyVersion::kOff);
}

TEST(Options, BadTlsAndProxySettingsAreUsageErrorsNamingTheSetting) {
  const auto names = [](const std::vector<std::string>& args, const std::string& setting) {
    const std::string text = usage_error(args);
    EXPECT_NE(text.find(setting), std::string::npos) << text;
  };
  names({"tcp", "h:1", "--tls-ca", "ca.pem"}, "--tls-ca: needs --tls");
  names({"tcp", "h:1", "--tls-insecure"}, "--tls-insecure: needs --tls");
  names({"tcp", "h:1", "--tls-server-name", "x"}, "--tls-server-name: needs --tls");
  names({"tcp", "h:1", "--tls", "--tls-cert", "c.pem"}, "--tls-cert: needs --tls-key");
  names({"tcp", "h:1", "--tls", "--tls-key", "k.pem"}, "--tls-key: needs --tls-cert");
  names({"tcp", "h:1", "--tls", "--tls-ca", "/nonexistent/ca.pem"}, "--tls-ca: cannot read");
  names({"tcp", "h:1", "--tls", "--tls-insecure", "--tls-ca", "ca.pem"},
        "--tls-insecure: conflicts with --tls-ca");
  names({"tcp", "h:1", "--proxy-protocol", "v3"}, "--proxy-protocol: 'v3' is not v1 or v2");
  names({"udp", "h:1", "--tls"}, "--tls");
  names({"udp", "h:1", "--proxy-protocol", "v1"}, "--proxy-protocol");
  const std::string junk = ::testing::TempDir() + "/echo_probe_not_pem.txt";
  {
    std::FILE* f = std::fopen(junk.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a certificate\n", f);
    std::fclose(f);
  }
  names({"tcp", "h:1", "--tls", "--tls-ca", junk}, "--tls-ca: '" + junk + "' holds no PEM");
  names({"tcp", "h:1", "--tls", "--tls-cert", junk, "--tls-key", junk},
        "--tls-cert: '" + junk + "' is not a PEM certificate chain");
  std::remove(junk.c_str());
}

TEST(Options, HelpIsNotAnError) {
  const auto r = parse_options(std::vector<std::string>{"--help"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.text.find("tcp"), std::string::npos);
}

TEST(Duration, ParsesTheProjectUnits) {
  EXPECT_EQ(echod::parse_duration_ns("250ms"), std::chrono::nanoseconds(250ms));
  EXPECT_EQ(echod::parse_duration_ns("5s"), std::chrono::nanoseconds(5s));
  EXPECT_EQ(echod::parse_duration_ns("2m"), std::chrono::nanoseconds(2min));
  EXPECT_EQ(echod::parse_duration_ns("1h"), std::chrono::nanoseconds(1h));
  EXPECT_EQ(echod::parse_duration_ns("1.5s"), std::chrono::nanoseconds(1500ms));
  EXPECT_EQ(echod::parse_duration_ns("500us"), std::chrono::nanoseconds(500us));
  for (const char* bad : {"", "5", "s", "5 s", "-1s", "5x", "1.2.3s", "ms"}) {
    EXPECT_FALSE(echod::parse_duration_ns(bad)) << bad;
  }
}

TEST(Target, ParsesHostPortForms) {
  EXPECT_EQ(parse_host_port("a.b:7")->host, "a.b");
  EXPECT_EQ(parse_host_port("[::1]:7007")->host, "::1");
  EXPECT_EQ(parse_host_port("[::1]:7007")->port, 7007);
  for (const char* bad : {"a.b", ":7", "a.b:", "a.b:0", "a.b:65536", "::1:7", "[::1]7", "a:b"}) {
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  }
  EXPECT_EQ(parse_http_url("http://[::1]:8080/")->host, "::1");
  EXPECT_EQ(parse_http_url("http://[::1]")->port, 80);
  EXPECT_FALSE(parse_http_url("https://h:1"));
  EXPECT_FALSE(parse_http_url("http://h:1/metrics"));
}

TEST(Target, ResolvesNumericAddressesWithoutLookup) {
  std::string error;
  const auto v4 = resolve({"127.0.0.1", 7007}, SOCK_STREAM, &error);
  ASSERT_EQ(v4.size(), 1u) << error;
  EXPECT_EQ(v4[0].text, "127.0.0.1:7007");
  const auto v6 = resolve({"::1", 9}, SOCK_STREAM, &error);
  ASSERT_EQ(v6.size(), 1u) << error;
  EXPECT_EQ(v6[0].text, "[::1]:9");
  EXPECT_TRUE(resolve({"no-such-host.invalid", 9}, SOCK_STREAM, &error).empty());
  EXPECT_NE(error.find("no-such-host.invalid"), std::string::npos);
}

}  // namespace
}  // namespace echo_probe
