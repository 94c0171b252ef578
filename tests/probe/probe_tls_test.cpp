// echo-probe's TLS client and PROXY protocol header against servers written for the tests:
// a TLS echo on Python's ssl module (a TLS stack that is not ours) and a PROXY-header
// capture server. Certificates are made fresh by the openssl CLI into a temp dir. Every
// check is on bytes and counts; every wait is on a condition.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "echod_process.h"
#include "fake_servers.h"
#include "monitor_process.h"
#include "net_helpers.h"
#include "run_command.h"

namespace echo_probe::test {
namespace {

using echod::test::ChildProcess;
using echod::test::wait_until;
using json = nlohmann::ordered_json;
using std::chrono::milliseconds;

constexpr milliseconds kWait{15'000};

// ---- fixtures -------------------------------------------------------------------------

/// The test certificates (tests/probe/make_test_certs.sh), made once per test program.
class Certs {
 public:
  static const Certs& get() {
    static const Certs certs;
    return certs;
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  ~Certs() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

 private:
  Certs() {
    std::string templ = ::testing::TempDir() + "/echo-probe-tls-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    const auto r = run_command("/bin/sh", {PROBE_TEST_CERTS_SCRIPT, dir_});
    if (r.exit_code != 0) throw std::runtime_error("make_test_certs.sh: " + r.out + r.err);
  }
  std::string dir_;
};

/// tests/probe/tls_echo_server.py with the test server certificate, on 127.0.0.1:0.
class TlsEchoServer {
 public:
  explicit TlsEchoServer(std::vector<std::string> extra = {}) {
    const Certs& c = Certs::get();
    std::vector<std::string> args{PROBE_TLS_ECHO_SERVER, "--cert", c.path("server.pem"), "--key",
                                  c.path("server.key")};
    args.insert(args.end(), extra.begin(), extra.end());
    child_ = std::make_unique<ChildProcess>("python3", args);
    const auto line = child_->wait_for_line(
        [](const std::string& l) { return l.rfind("listening ", 0) == 0; }, kWait);
    if (!line) throw std::runtime_error("tls_echo_server.py did not start:\n" + child_->output());
    port_ = static_cast<std::uint16_t>(std::stoul(line->substr(10)));
  }
  std::uint16_t port() const { return port_; }
  std::string target(const std::string& host = "127.0.0.1") const {
    return host + ":" + std::to_string(port_);
  }
  /// Waits for the server's "handshake failed" line (the refusal was the server's).
  bool saw_handshake_failure() const {
    return child_
        ->wait_for_line([](const std::string& l) { return l.rfind("handshake failed", 0) == 0; },
                        kWait)
        .has_value();
  }
  std::string output() const { return child_->output(); }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::uint16_t port_ = 0;
};

json parse_json(const CommandResult& r) {
  try {
    return json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stdout is not JSON: " << e.what() << "\n" << r.out << r.err;
    return json::object();
  }
}

std::vector<std::string> keys_of(const json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  return keys;
}

// Every class but `name` stays at zero and `name` has exactly `count`.
void expect_only_class(const json& j, const char* name, std::uint64_t count) {
  for (const char* c : {"dns", "refused", "timeout", "reset", "closed", "mismatch", "tls"}) {
    EXPECT_EQ(j.at("error_classes").at(c).get<std::uint64_t>(), std::string(c) == name ? count : 0)
        << c << " in " << j.dump();
  }
}

bool ipv6_loopback_works() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::vector<std::string> tls_args(std::vector<std::string> args) {
  args.insert(args.begin(), "tcp");
  args.push_back("--tls");
  return args;
}

// ---- echo-probe tcp --tls --------------------------------------------------------------

class ProbeTlsVersions : public ::testing::TestWithParam<std::string> {};

TEST_P(ProbeTlsVersions, EchoesEveryByteAndReportsHandshakeLatencyBesideConnect) {
  TlsEchoServer server({"--tls-version", GetParam()});
  // 70000-byte messages span several TLS records and partial writes.
  const auto r = run_probe(tls_args({server.target(), "--tls-ca", Certs::get().path("ca.pem"), "-c",
                                     "3", "-n", "10", "-s", "70000", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << server.output();
  const json j = parse_json(r);
  EXPECT_EQ(j["sent"], 30);
  EXPECT_EQ(j["received"], 30);
  EXPECT_EQ(j["verified_bytes"], 30 * 70000);
  expect_only_class(j, "tls", 0);
  EXPECT_EQ(j["tls"], true);
  EXPECT_EQ(j["tls_insecure"], false);
  ASSERT_TRUE(j.contains("tls_handshake_us"));
  EXPECT_EQ(keys_of(j["tls_handshake_us"]), keys_of(j["connect_us"]));
  EXPECT_GT(j["tls_handshake_us"]["min"].get<double>(), 0.0);
  EXPECT_FALSE(j.contains("tls_error"));
  EXPECT_EQ(r.err.find("WARNING"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Tls, ProbeTlsVersions, ::testing::Values("1.2", "1.3"), [](const auto& p) {
  return std::string(p.param == "1.2" ? "Tls12" : "Tls13");
});

TEST(ProbeTls, ANewConnectionPerMessageHandshakesEveryTime) {
  TlsEchoServer server;
  const auto r =
      run_probe(tls_args({server.target("localhost"), "--tls-ca", Certs::get().path("ca.pem"), "-n",
                          "5", "--new-connection", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << server.output();
  const json j = parse_json(r);
  EXPECT_EQ(j["received"], 5);
  EXPECT_EQ(j["verified_bytes"], 5 * 64);
  expect_only_class(j, "tls", 0);
}

TEST(ProbeTls, OpenLoopPipelinesOverTlsAndVerifiesEverything) {
  TlsEchoServer server;
  const auto r = run_probe(tls_args({server.target(), "--tls-ca", Certs::get().path("ca.pem"), "-c",
                                     "2", "-r", "400", "-d", "1s", "-s", "3000", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << server.output();
  const json j = parse_json(r);
  EXPECT_GT(j["sent"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(j["received"], j["sent"]);
  EXPECT_EQ(j["verified_bytes"].get<std::uint64_t>(), j["sent"].get<std::uint64_t>() * 3000);
  expect_only_class(j, "tls", 0);
}

TEST(ProbeTls, AServerCertificateFromAnotherCaIsATlsError) {
  TlsEchoServer server;
  const auto r = run_probe(tls_args(
      {server.target(), "--tls-ca", Certs::get().path("other-ca.pem"), "-n", "3", "--json"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "tls", 1);
  EXPECT_EQ(j["received"], 0);
  EXPECT_NE(j.value("tls_error", "").find("certificate verify failed"), std::string::npos)
      << j.dump();
}

TEST(ProbeTls, TheSystemStoreDoesNotTrustTheTestCa) {
  TlsEchoServer server;
  const auto r = run_probe(tls_args({server.target("localhost"), "-n", "1", "--json"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  expect_only_class(parse_json(r), "tls", 1);
}

TEST(ProbeTls, AWrongServerNameIsATlsErrorAndTheRightOnePasses) {
  TlsEchoServer server;
  const std::string ca = Certs::get().path("ca.pem");
  const auto wrong = run_probe(
      tls_args({server.target(), "--tls-ca", ca, "--tls-server-name", "wrong.example", "--json"}));
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out << wrong.err;
  const json j = parse_json(wrong);
  expect_only_class(j, "tls", 1);
  EXPECT_NE(j.value("tls_error", "").find("hostname mismatch"), std::string::npos) << j.dump();
  // The default name is the target's host: "localhost" is in the certificate.
  const auto by_host = run_probe(tls_args({server.target("localhost"), "--tls-ca", ca}));
  EXPECT_EQ(by_host.exit_code, 0) << by_host.out << by_host.err;
  const auto by_flag =
      run_probe(tls_args({server.target(), "--tls-ca", ca, "--tls-server-name", "localhost"}));
  EXPECT_EQ(by_flag.exit_code, 0) << by_flag.out << by_flag.err;
}

TEST(ProbeTls, InsecureSkipsVerificationAndSaysSoEverywhere) {
  TlsEchoServer server;
  const auto table = run_probe(tls_args({server.target(), "--tls-insecure", "-n", "3"}));
  ASSERT_EQ(table.exit_code, 0) << table.out << table.err;
  const std::string warning = "WARNING: --tls-insecure: TLS certificates are NOT verified";
  EXPECT_NE(table.err.find("echo-probe: " + warning), std::string::npos) << table.err;
  EXPECT_NE(table.out.find("  " + warning), std::string::npos) << table.out;
  const auto js = run_probe(tls_args({server.target(), "--tls-insecure", "-n", "3", "--json"}));
  ASSERT_EQ(js.exit_code, 0) << js.out << js.err;
  EXPECT_NE(js.err.find(warning), std::string::npos) << js.err;
  const json j = parse_json(js);
  EXPECT_EQ(j["tls_insecure"], true);
  EXPECT_EQ(j["verified_bytes"], 3 * 64);
}

class ProbeMutualTls : public ::testing::TestWithParam<std::string> {};

TEST_P(ProbeMutualTls, AClientCertificateIsAcceptedAndItsAbsenceRefused) {
  const Certs& c = Certs::get();
  TlsEchoServer server({"--client-ca", c.path("ca.pem"), "--tls-version", GetParam()});
  const auto with_cert = run_probe(
      tls_args({server.target(), "--tls-ca", c.path("ca.pem"), "--tls-cert", c.path("client.pem"),
                "--tls-key", c.path("client.key"), "-n", "4", "--json"}));
  ASSERT_EQ(with_cert.exit_code, 0) << with_cert.out << with_cert.err << server.output();
  EXPECT_EQ(parse_json(with_cert)["verified_bytes"], 4 * 64);

  const auto without =
      run_probe(tls_args({server.target(), "--tls-ca", c.path("ca.pem"), "-n", "4", "--json"}));
  EXPECT_EQ(without.exit_code, 1) << without.out << without.err;
  const json j = parse_json(without);
  expect_only_class(j, "tls", 1);
  EXPECT_EQ(j["received"], 0);
  EXPECT_TRUE(server.saw_handshake_failure()) << server.output();
}

TEST_P(ProbeMutualTls, ARefusalClosedAtOnceIsStillTlsNotReset) {
  // The server closes with our first message unread: its alert comes with a reset, which
  // a write can meet before any read.
  const Certs& c = Certs::get();
  TlsEchoServer server({"--client-ca", c.path("ca.pem"), "--tls-version", GetParam(), "--abrupt"});
  const auto r = run_probe(
      tls_args({server.target(), "--tls-ca", c.path("ca.pem"), "-c", "4", "-n", "2", "--json"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "tls", 4);
  EXPECT_NE(j.value("tls_error", "").find("alert"), std::string::npos) << j.dump();
}

INSTANTIATE_TEST_SUITE_P(Tls, ProbeMutualTls, ::testing::Values("1.2", "1.3"), [](const auto& p) {
  return std::string(p.param == "1.2" ? "Tls12" : "Tls13");
});

TEST(ProbeTls, AHandshakeThatNeverFinishesIsATimeout) {
  FakeTcpServer stall(Behavior::kStall);  // reads the ClientHello, never answers
  const auto r = run_probe(
      {"tcp", loopback(stall.port()), "--tls", "--tls-insecure", "--timeout", "300ms", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json j = parse_json(r);
  expect_only_class(j, "timeout", 1);
  EXPECT_EQ(keys_of(j["tls_handshake_us"]), keys_of(j["connect_us"]));
  EXPECT_EQ(j["tls_handshake_us"]["max"], 0.0);  // no handshake finished
}

TEST(ProbeTls, AnIpv6TargetIsVerifiedAgainstItsAddress) {
  if (!ipv6_loopback_works()) GTEST_SKIP() << "no IPv6 loopback here";
  TlsEchoServer server({"--host", "::1"});
  const auto r = run_probe(tls_args({"[::1]:" + std::to_string(server.port()), "--tls-ca",
                                     Certs::get().path("ca.pem"), "-n", "3", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << server.output();
  EXPECT_EQ(parse_json(r)["verified_bytes"], 3 * 64);
}

TEST(ProbeTls, APlaintextEchoIsATlsErrorNotAMismatch) {
  FakeTcpServer plain(Behavior::kEcho);  // echoes the ClientHello back
  const auto r = run_probe({"tcp", loopback(plain.port()), "--tls", "--tls-insecure", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  expect_only_class(parse_json(r), "tls", 1);
}

TEST(ProbeTls, BadTlsFilesAreUsageErrors) {
  const Certs& c = Certs::get();
  const auto mismatched = run_probe(tls_args(
      {"127.0.0.1:1", "--tls-cert", c.path("client.pem"), "--tls-key", c.path("server.key")}));
  EXPECT_EQ(mismatched.exit_code, 2);
  EXPECT_NE(mismatched.err.find("--tls-key: '" + c.path("server.key") + "' does not match"),
            std::string::npos)
      << mismatched.err;
  EXPECT_EQ(std::count(mismatched.err.begin(), mismatched.err.end(), '\n'), 1) << mismatched.err;
  const auto unreadable = run_probe(tls_args({"127.0.0.1:1", "--tls-ca", c.path("missing.pem")}));
  EXPECT_EQ(unreadable.exit_code, 2);
  EXPECT_NE(unreadable.err.find("--tls-ca: cannot read"), std::string::npos) << unreadable.err;
}

// ---- --proxy-protocol ------------------------------------------------------------------

std::string ip_text(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, buf, sizeof buf);
  }
  return buf;
}

std::uint16_t port_of(const sockaddr_storage& a) {
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port
                                       : reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
}

std::string raw_address(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET6) {
    const auto* in6 = &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr;
    return std::string(reinterpret_cast<const char*>(in6), 16);
  }
  const auto* in4 = &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr;
  return std::string(reinterpret_cast<const char*>(in4), 4);
}

std::string big_endian16(std::uint16_t v) {
  return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// What the HAProxy spec says the client must send, written out independently of the
// probe's own builder: the source is the client (the server's peer), the destination the
// server's own address.
std::string expected_header(const std::string& version, const ProxyCaptureServer::Capture& c) {
  const bool v6 = c.peer.ss_family == AF_INET6;
  if (version == "v1") {
    return std::string("PROXY ") + (v6 ? "TCP6 " : "TCP4 ") + ip_text(c.peer) + " " +
           ip_text(c.local) + " " + std::to_string(port_of(c.peer)) + " " +
           std::to_string(port_of(c.local)) + "\r\n";
  }
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += '\x21';
  h += v6 ? '\x21' : '\x11';
  h += big_endian16(v6 ? 36 : 12);
  h += raw_address(c.peer) + raw_address(c.local);
  h += big_endian16(port_of(c.peer)) + big_endian16(port_of(c.local));
  return h;
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

struct ProxyCase {
  std::string version;
  std::string host;  // the server's (and so the header's) address family
};

class ProbeProxyProtocol : public ::testing::TestWithParam<ProxyCase> {};

TEST_P(ProbeProxyProtocol, SendsTheExactHeaderFirstAndVerifiesEveryEchoedByteAfterIt) {
  const ProxyCase& pc = GetParam();
  if (pc.host == "::1" && !ipv6_loopback_works()) GTEST_SKIP() << "no IPv6 loopback here";
  ProxyCaptureServer server(pc.host);
  const std::string target =
      (pc.host == "::1" ? "[::1]:" : "127.0.0.1:") + std::to_string(server.port());
  const auto r = run_probe({"tcp", target, "--proxy-protocol", pc.version, "-c", "2", "-n", "5",
                            "-s", "1000", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = parse_json(r);
  EXPECT_EQ(j["verified_bytes"], 2 * 5 * 1000);
  EXPECT_EQ(j["proxy_protocol"], pc.version);
  expect_only_class(j, "mismatch", 0);
  const auto captures = server.captures();
  ASSERT_EQ(captures.size(), 2u);
  for (const auto& c : captures) {
    EXPECT_EQ(hex(c.header), hex(expected_header(pc.version, c)));
  }
  EXPECT_EQ(server.echoed_bytes(), 2u * 5 * 1000);  // header bytes were not echoed
  EXPECT_EQ(server.rejected(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Versions, ProbeProxyProtocol,
                         ::testing::Values(ProxyCase{"v1", "127.0.0.1"},
                                           ProxyCase{"v2", "127.0.0.1"}, ProxyCase{"v1", "::1"},
                                           ProxyCase{"v2", "::1"}),
                         [](const auto& p) {
                           return p.param.version + (p.param.host == "::1" ? "Ipv6" : "Ipv4");
                         });

TEST(ProbeProxyProtocol, EveryNewConnectionStartsWithItsOwnHeader) {
  ProxyCaptureServer server;
  const auto r = run_probe({"tcp", loopback(server.port()), "--proxy-protocol", "v1", "-n", "4",
                            "--new-connection", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(parse_json(r)["verified_bytes"], 4 * 64);
  const auto captures = server.captures();
  ASSERT_EQ(captures.size(), 4u);
  for (const auto& c : captures) EXPECT_EQ(c.header, expected_header("v1", c));
}

TEST(ProbeProxyProtocol, WithTlsTheHeaderGoesBeforeTheClientHello) {
  const std::string log = Certs::get().path("proxy-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(log);
  TlsEchoServer server({"--proxy-log", log});
  const auto r = run_probe(tls_args({server.target(), "--tls-ca", Certs::get().path("ca.pem"),
                                     "--proxy-protocol", "v2", "-n", "3", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << server.output();
  EXPECT_EQ(parse_json(r)["verified_bytes"], 3 * 64);
  std::ifstream in(log);
  std::string header_hex;
  unsigned client_port = 0;
  ASSERT_TRUE(in >> header_hex >> client_port) << server.output();
  ProxyCaptureServer::Capture c{};
  auto* peer = reinterpret_cast<sockaddr_in*>(&c.peer);
  peer->sin_family = AF_INET;
  peer->sin_port = htons(static_cast<std::uint16_t>(client_port));
  inet_pton(AF_INET, "127.0.0.1", &peer->sin_addr);
  auto* local = reinterpret_cast<sockaddr_in*>(&c.local);
  local->sin_family = AF_INET;
  local->sin_port = htons(server.port());
  inet_pton(AF_INET, "127.0.0.1", &local->sin_addr);
  EXPECT_EQ(header_hex, hex(expected_header("v2", c)));
}

// ---- echo-probe monitor: tls:// and --proxy-protocol ----------------------------------------

TEST(MonitorTls, VerifiesEchoesOverTlsAndExportsTheHandshakeHistogram) {
  TlsEchoServer server;
  const std::string target = "tls://localhost:" + std::to_string(server.port());
  MonitorProcess m({"--tls-ca", Certs::get().path("ca.pem"), "--interval", "200ms", "--persistent",
                    "1", "--persistent-interval", "100ms", target});
  ASSERT_NE(m.port(), 0) << m.process().output();
  EXPECT_TRUE(wait_until(
      [&] {
        return m.metric("echo_probe_verified_total", {"mode=\"new\""}) >= 2 &&
               m.metric("echo_probe_verified_total", {"mode=\"persistent\""}) >= 3;
      },
      kWait, milliseconds(50)))
      << m.get("/metrics") << m.process().output();
  const std::string text = m.get("/metrics");
  EXPECT_NE(text.find("# TYPE echo_probe_tls_handshake_seconds histogram"), std::string::npos);
  // One handshake per fresh probe and one for the persistent connection.
  EXPECT_GE(
      metric_sum(text, "echo_probe_tls_handshake_seconds_count", {"target=\"" + target + "\""}), 3);
  EXPECT_EQ(metric_sum(text, "echo_probe_errors_total", {"class=\"tls\""}), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_errors_total"), 0);

  const std::string file = ::testing::TempDir() + "/monitor-tls-metrics.txt";
  {
    std::ofstream out(file);
    out << text;
  }
  const auto lint = run_command("/bin/sh", {"-c", "promtool check metrics < " + file});
  std::filesystem::remove(file);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_EQ(lint.out + lint.err, "");
}

TEST(MonitorTls, AnUntrustedCertificateCountsTlsErrorsNotBreaks) {
  TlsEchoServer server;
  MonitorProcess m({"--tls-ca", Certs::get().path("other-ca.pem"), "--interval", "200ms",
                    "--persistent", "1", "tls://127.0.0.1:" + std::to_string(server.port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  EXPECT_TRUE(wait_until(
      [&] {
        return m.metric("echo_probe_errors_total", {"mode=\"new\"", "class=\"tls\""}) >= 2 &&
               m.metric("echo_probe_errors_total", {"mode=\"persistent\"", "class=\"tls\""}) >= 1;
      },
      kWait, milliseconds(50)))
      << m.get("/metrics");
  const std::string text = m.get("/metrics");
  EXPECT_EQ(metric_sum(text, "echo_probe_verified_total"), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_breaks_total"), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_tls_handshake_seconds_count"), 0);
  // The reason is logged once per address, not once per attempt.
  EXPECT_TRUE(m.process()
                  .wait_for_line(
                      [](const std::string& l) {
                        return l.find("TLS failure") != std::string::npos &&
                               l.find("certificate verify failed") != std::string::npos;
                      },
                      kWait)
                  .has_value())
      << m.process().output();
}

TEST(MonitorTls, AHandshakeThatNeverFinishesIsATimeoutNotABreak) {
  FakeTcpServer stall(Behavior::kStall);
  MonitorProcess m({"--tls-insecure", "--timeout", "200ms", "--interval", "300ms", "--persistent",
                    "1", "tls://127.0.0.1:" + std::to_string(stall.port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  EXPECT_TRUE(wait_until(
      [&] {
        return m.metric("echo_probe_errors_total", {"mode=\"new\"", "class=\"timeout\""}) >= 1 &&
               m.metric("echo_probe_errors_total", {"mode=\"persistent\"", "class=\"timeout\""}) >=
                   1;
      },
      kWait, milliseconds(50)))
      << m.get("/metrics");
  const std::string text = m.get("/metrics");
  EXPECT_EQ(metric_sum(text, "echo_probe_breaks_total"), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_errors_total", {"class=\"tls\""}), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_persistent_connections"), 0);
}

TEST(MonitorTls, ARefusedClientCertificateIsATlsErrorNotABreakEvenWithTls13) {
  const Certs& c = Certs::get();
  TlsEchoServer server({"--client-ca", c.path("ca.pem"), "--tls-version", "1.3"});
  const std::string target = "tls://127.0.0.1:" + std::to_string(server.port());
  MonitorProcess refused(
      {"--tls-ca", c.path("ca.pem"), "--interval", "200ms", "--persistent", "1", target});
  ASSERT_NE(refused.port(), 0) << refused.process().output();
  EXPECT_TRUE(wait_until(
      [&] {
        return refused.metric("echo_probe_errors_total", {"mode=\"new\"", "class=\"tls\""}) >= 2 &&
               refused.metric("echo_probe_errors_total",
                              {"mode=\"persistent\"", "class=\"tls\""}) >= 2;
      },
      kWait, milliseconds(50)))
      << refused.get("/metrics");
  const std::string text = refused.get("/metrics");
  EXPECT_EQ(metric_sum(text, "echo_probe_breaks_total"), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_verified_total"), 0);
  EXPECT_EQ(metric_sum(text, "echo_probe_persistent_connections"), 0);

  MonitorProcess accepted({"--tls-ca", c.path("ca.pem"), "--tls-cert", c.path("client.pem"),
                           "--tls-key", c.path("client.key"), "--interval", "200ms", "--persistent",
                           "1", target});
  ASSERT_NE(accepted.port(), 0) << accepted.process().output();
  EXPECT_TRUE(wait_until(
      [&] {
        return accepted.metric("echo_probe_verified_total", {"mode=\"new\""}) >= 1 &&
               accepted.metric("echo_probe_verified_total", {"mode=\"persistent\""}) >= 1;
      },
      kWait, milliseconds(50)))
      << accepted.get("/metrics");
  EXPECT_EQ(accepted.metric("echo_probe_errors_total"), 0);
}

TEST(MonitorTls, InsecureIsLoggedAsAWarning) {
  TlsEchoServer server;
  MonitorProcess m({"--tls-insecure", "--persistent", "0", "--interval", "200ms",
                    "tls://127.0.0.1:" + std::to_string(server.port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  EXPECT_TRUE(wait_until([&] { return m.metric("echo_probe_verified_total") >= 1; }, kWait,
                         milliseconds(50)));
  EXPECT_NE(m.process().stderr_text().find("--tls-insecure: TLS certificates are NOT verified"),
            std::string::npos)
      << m.process().output();
}

TEST(MonitorProxyProtocol, EveryConnectionStartsWithTheExactHeader) {
  ProxyCaptureServer server;
  MonitorProcess m({"--proxy-protocol", "v2", "--interval", "200ms", "--persistent", "1",
                    "tcp://127.0.0.1:" + std::to_string(server.port())});
  ASSERT_NE(m.port(), 0) << m.process().output();
  EXPECT_TRUE(wait_until(
      [&] {
        return m.metric("echo_probe_verified_total", {"mode=\"new\""}) >= 2 &&
               m.metric("echo_probe_verified_total", {"mode=\"persistent\""}) >= 2;
      },
      kWait, milliseconds(50)))
      << m.get("/metrics");
  const auto captures = server.captures();
  ASSERT_GE(captures.size(), 3u);
  for (const auto& c : captures) EXPECT_EQ(hex(c.header), hex(expected_header("v2", c)));
  EXPECT_EQ(server.rejected(), 0u);
  const std::string text = m.get("/metrics");
  EXPECT_EQ(metric_sum(text, "echo_probe_errors_total"), 0);
  // tcp:// has no TLS handshake: the family is there, without series.
  EXPECT_NE(text.find("# TYPE echo_probe_tls_handshake_seconds histogram"), std::string::npos);
  EXPECT_EQ(text.find("echo_probe_tls_handshake_seconds_count"), std::string::npos) << text;
}

}  // namespace
}  // namespace echo_probe::test
