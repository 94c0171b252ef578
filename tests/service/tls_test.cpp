// The TLS echo listener against a real echod (issue 12): openssl s_client and Python's ssl
// module as clients, mTLS, handshake timeouts, certificate reload by an atomic symlink swap,
// bad config, close_notify order, backpressure in plaintext bytes, fault rules, drain.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "echod_process.h"
#include "net_helpers.h"
#include "tls_support.h"

namespace echod::test {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMiB = 1 << 20;

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { files_ = TlsFiles::standard().release(); }
  static void TearDownTestSuite() {
    delete files_;
    files_ = nullptr;
  }

  static std::unique_ptr<EchodProcess> start(std::vector<std::string> extra = {},
                                             const std::string& leaf = "server") {
    std::vector<std::string> args = files_->listener_args(leaf);
    if (std::find(extra.begin(), extra.end(), "--workers") == extra.end()) {
      args.insert(args.end(), {"--workers", "2"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto echod = std::make_unique<EchodProcess>(args);
    EXPECT_NE(echod->tls_port(), 0);
    return echod;
  }
  static TlsClientOptions trusting(int version = 0) {
    TlsClientOptions o;
    o.ca_file = files_->cert("ca");
    o.version = version;
    return o;
  }
  static double count(const EchodProcess& echod, const std::string& series) {
    return metric(const_cast<EchodProcess&>(echod).admin_port(), series);
  }

  static TlsFiles* files_;
};
TlsFiles* Tls::files_ = nullptr;

class TlsVersions : public Tls, public ::testing::WithParamInterface<std::string> {};

// Python sends 1 MiB and close_notify right behind it: every byte comes back in order, then
// echod's close_notify, then TCP EOF (the script checks all three and exits 0).
TEST_P(TlsVersions, PythonClientGetsEveryByteThenCloseNotify) {
  auto echod = start();
  for (const char* mode : {"--close-first", "--close-after"}) {
    const RunResult r =
        run_to_exit("python3", {ECHOD_TLS_CLIENT_PY, std::to_string(echod->tls_port()),
                                files_->cert("ca"), GetParam(), std::to_string(kMiB), mode});
    EXPECT_EQ(r.exit_code, 0) << mode << ": " << r.out << r.err;
    EXPECT_NE(r.out.find("\"version\": \"TLSv" + GetParam() + "\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"echoed\": " + std::to_string(kMiB)), std::string::npos) << r.out;
  }
  EXPECT_EQ(count(*echod, R"(echod_tls_handshakes_total{result="success"})"), 2);
  EXPECT_EQ(count(*echod, R"(echod_received_bytes_total{protocol="tls"})"), 2.0 * kMiB);
  EXPECT_EQ(count(*echod, R"(echod_sent_bytes_total{protocol="tls"})"), 2.0 * kMiB);
  EXPECT_EQ(count(*echod, R"(echod_received_bytes_total{protocol="tcp"})"), 0);
  EXPECT_EQ(count(*echod, "echod_tls_handshake_duration_seconds_count"), 2);
}

// openssl s_client keeps reading after its stdin ends (-ign_eof); echod ends the connection at
// max-connection-bytes = 1 MiB with close_notify, and s_client writes what it got.
TEST_P(TlsVersions, OpensslSClientEchoesOneMebibyteByteExact) {
  auto echod = start({"--max-connection-bytes", std::to_string(kMiB)});
  const std::string in = files_->dir() + "/in-" + GetParam() + ".bin";
  const std::string out = files_->dir() + "/out-" + GetParam() + ".bin";
  const std::string payload = random_bytes(kMiB, 12);
  std::ofstream(in, std::ios::binary) << payload;
  const std::string flag = GetParam() == "1.2" ? "-tls1_2" : "-tls1_3";
  const RunResult r = run_to_exit(
      "/bin/sh",
      {"-c", "openssl s_client -connect 127.0.0.1:" + std::to_string(echod->tls_port()) + " " +
                 flag + " -quiet -ign_eof -verify_return_error -CAfile " + files_->cert("ca") +
                 " -verify_hostname localhost < " + in + " > " + out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string got = read_file(out);
  EXPECT_EQ(got.size(), kMiB);
  EXPECT_TRUE(got == payload) << "echo differs from what s_client sent";
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_connections_closed_total{reason="byte_limit"})") == 1; },
      milliseconds(5000)));
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsVersions, ::testing::Values("1.2", "1.3"),
                         [](const auto& p) { return p.param == "1.2" ? "Tls12" : "Tls13"; });

TEST_F(Tls, FinWithoutCloseNotifyStillGetsEveryByteThenCloseNotify) {
  auto echod = start();
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected()) << c.error();
  const std::string sent = random_bytes(300'000, 5);
  ASSERT_TRUE(c.send_all(sent));
  ::shutdown(c.fd(), SHUT_WR);  // a bare FIN, no close_notify
  const TlsClient::Ending end = c.read_to_end();
  EXPECT_EQ(end.bytes.size(), sent.size());
  EXPECT_TRUE(end.bytes == sent);
  EXPECT_TRUE(end.close_notify);
  EXPECT_TRUE(end.eof_after);
}

TEST_F(Tls, PlainListenerKeepsEchoingBesideTheTlsOne) {
  auto echod = start();
  Fd plain = connect_tcp(echod->echo_port());
  ASSERT_TRUE(plain);
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected()) << c.error();
  EXPECT_TRUE(c.echoes("over tls"));
  ASSERT_TRUE(send_all(plain.get(), "in the clear"));
  EXPECT_EQ(recv_exact(plain.get(), 12), "in the clear");
  EXPECT_EQ(count(*echod, R"(echod_received_bytes_total{protocol="tls"})"), 8);
  EXPECT_EQ(count(*echod, R"(echod_received_bytes_total{protocol="tcp"})"), 12);
  Fd admin = connect_tcp(echod->admin_port());
  ASSERT_TRUE(send_all(admin.get(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string landing = recv_until_eof(admin.get());
  EXPECT_NE(landing.find("\"tls_address\":\"127.0.0.1:" + std::to_string(echod->tls_port()) + "\""),
            std::string::npos)
      << landing;
}

TEST_F(Tls, PlainBytesOnTheTlsPortFailTheHandshake) {
  auto echod = start();
  Fd fd = connect_tcp(echod->tls_port());
  ASSERT_TRUE(send_all(fd.get(), "GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(wait_for_eof(fd.get()));
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_tls_handshakes_total{result="failure"})") == 1; },
      milliseconds(5000)));
  EXPECT_EQ(count(*echod, R"(echod_tls_handshakes_total{result="success"})"), 0);
}

TEST_F(Tls, MinVersionThirteenRefusesTwelve) {
  auto echod = start({"--tls-min-version", "1.3"});
  TlsClient old(echod->tls_port(), trusting(12));
  EXPECT_FALSE(old.connected());
  TlsClient current(echod->tls_port(), trusting(13));
  ASSERT_TRUE(current.connected()) << current.error();
  EXPECT_TRUE(current.echoes("thirteen"));
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_tls_handshakes_total{result="failure"})") == 1; },
      milliseconds(5000)));
}

TEST_F(Tls, MutualTlsEchoesForAClientOfTheCaAndRefusesTheRest) {
  auto echod = start({"--tls-client-ca", files_->cert("ca")});
  for (int version : {12, 13}) {
    TlsClientOptions good = trusting(version);
    good.cert_file = files_->cert("client");
    good.key_file = files_->key("client");
    TlsClient c(echod->tls_port(), good);
    ASSERT_TRUE(c.connected()) << c.error();
    EXPECT_TRUE(c.echoes("mutual " + std::to_string(version)));

    // TLS 1.3 clients finish before the server checked them: the refusal shows on read.
    TlsClient anonymous(echod->tls_port(), trusting(version));
    EXPECT_FALSE(anonymous.connected() && anonymous.echoes("let me in"));
    TlsClientOptions wrong = trusting(version);
    wrong.cert_file = files_->cert("stranger");
    wrong.key_file = files_->key("stranger");
    TlsClient stranger(echod->tls_port(), wrong);
    EXPECT_FALSE(stranger.connected() && stranger.echoes("let me in"));
  }
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_tls_handshakes_total{result="failure"})") == 4; },
      milliseconds(5000)));
  EXPECT_EQ(count(*echod, R"(echod_tls_handshakes_total{result="success"})"), 2);
}

// A client that connects and sends nothing, and one that stops halfway through its
// ClientHello, are both closed once the handshake timeout passes, and counted.
TEST_F(Tls, HandshakeNotDoneInTimeIsClosedAndCounted) {
  auto echod = start({"--tls-handshake-timeout", "300ms"});
  Fd silent = connect_tcp(echod->tls_port());
  Fd partial = connect_tcp(echod->tls_port());
  ASSERT_TRUE(silent && partial);
  // A handshake record header announcing 512 bytes, and 3 of them.
  ASSERT_TRUE(send_all(partial.get(), std::string("\x16\x03\x01\x02\x00\x01\x00\x01", 8)));
  EXPECT_TRUE(wait_for_eof(silent.get()));
  EXPECT_TRUE(wait_for_eof(partial.get()));
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_tls_handshakes_total{result="timeout"})") == 2; },
      milliseconds(5000)));
  EXPECT_EQ(count(*echod, "echod_connections_active"), 0);
  // A finished handshake is not subject to it.
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(
      wait_until([&] { return count(*echod, "echod_tls_handshake_duration_seconds_count") == 1; },
                 milliseconds(5000)));
  EXPECT_TRUE(c.echoes("still here"));
}

TEST_F(Tls, HalfAClientHelloThenFinIsAFailureAtOnce) {
  auto echod = start({"--tls-handshake-timeout", "10m"});
  Fd fd = connect_tcp(echod->tls_port());
  ASSERT_TRUE(send_all(fd.get(), client_hello().substr(0, 20)));
  ::shutdown(fd.get(), SHUT_WR);
  EXPECT_TRUE(wait_for_eof(fd.get()));
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_tls_handshakes_total{result="failure"})") == 1; },
      milliseconds(5000)));
  EXPECT_EQ(count(*echod, "echod_connections_active"), 0);
}

TEST_F(Tls, HandshakeTimeoutIsRuntimeChangeable) {
  const std::string token_file = files_->dir() + "/token";
  files_->write("token", "secret\n");
  auto echod = start({"--admin-token-file", token_file});
  Fd fd = connect_tcp(echod->admin_port());
  const std::string body = R"({"tls_handshake_timeout":"200ms"})";
  ASSERT_TRUE(send_all(fd.get(),
                       "PUT /config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n"
                       "Content-Type: application/json\r\nConnection: close\r\n"
                       "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
  const std::string reply = recv_until_eof(fd.get());
  ASSERT_NE(reply.find(" 200 "), std::string::npos) << reply;
  EXPECT_NE(reply.find("200ms"), std::string::npos) << reply;
  Fd silent = connect_tcp(echod->tls_port());
  EXPECT_TRUE(wait_for_eof(silent.get()));
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_tls_handshakes_total{result="timeout"})") == 1; },
      milliseconds(5000)));
}

// A Kubernetes Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<version>; an update
// writes a new version directory and renames a new ..data link over the old one.
class SecretVolume {
 public:
  explicit SecretVolume(const TlsFiles& files) : root_(files.dir() + "/secret") {
    fs::create_directories(root_);
    fs::create_symlink("..data/tls.crt", root_ + "/tls.crt");
    fs::create_symlink("..data/tls.key", root_ + "/tls.key");
  }
  void publish(const std::string& version, const std::string& cert, const std::string& key) {
    const std::string dir = root_ + "/.." + version;
    fs::create_directories(dir);
    fs::copy_file(cert, dir + "/tls.crt", fs::copy_options::overwrite_existing);
    fs::copy_file(key, dir + "/tls.key", fs::copy_options::overwrite_existing);
    fs::create_symlink(".." + version, root_ + "/..data_tmp");
    fs::rename(root_ + "/..data_tmp", root_ + "/..data");  // atomic swap
  }
  std::string cert() const { return root_ + "/tls.crt"; }
  std::string key() const { return root_ + "/tls.key"; }

 private:
  std::string root_;
};

TEST_F(Tls, SecretUpdateReachesNewHandshakesWhileOpenConnectionsKeepEchoing) {
  SecretVolume secret(*files_);
  secret.publish("v1", files_->cert("server"), files_->key("server"));
  files_->make_leaf("server-next", "ca", 1002);
  EchodProcess echod({"--tls-listen", "127.0.0.1:0", "--tls-cert", secret.cert(), "--tls-key",
                      secret.key(), "--workers", "2"});
  TlsClient open(echod.tls_port(), trusting());
  ASSERT_TRUE(open.connected()) << open.error();
  EXPECT_EQ(open.peer_serial(), 1001);
  EXPECT_TRUE(open.echoes("before"));

  secret.publish("v2", files_->cert("server-next"), files_->key("server-next"));
  // Polled once a second: each attempt is a fresh handshake.
  EXPECT_TRUE(
      wait_until([&] { return TlsClient(echod.tls_port(), trusting()).peer_serial() == 1002; },
                 milliseconds(10'000), milliseconds(100)));
  EXPECT_TRUE(open.echoes("after the swap"));
  EXPECT_EQ(open.peer_serial(), 1001);
  EXPECT_EQ(count(echod, R"(echod_tls_reloads_total{result="success"})"), 1);
  EXPECT_EQ(count(echod, R"(echod_tls_reloads_total{result="failure"})"), 0);
  EXPECT_GT(count(echod, "echod_tls_certificate_expiry_timestamp_seconds"), 1.6e9);
}

TEST_F(Tls, BadNewFilesKeepTheServedCertificateAndCountAFailure) {
  TlsFiles own;
  own.make_ca("ca2");
  own.make_leaf("leaf", "ca2", 4001);
  own.make_leaf("other", "ca2", 4002);
  EchodProcess echod({"--tls-listen", "127.0.0.1:0", "--tls-cert", own.cert("leaf"), "--tls-key",
                      own.key("leaf"), "--workers", "1"});
  TlsClientOptions o;
  o.ca_file = own.cert("ca2");
  TlsClient open(echod.tls_port(), o);
  ASSERT_TRUE(open.connected()) << open.error();

  // The key of another certificate: the pair does not match.
  own.write("leaf.key", read_file(own.key("other")));
  echod.signal(SIGHUP);
  EXPECT_TRUE(
      wait_until([&] { return count(echod, R"(echod_tls_reloads_total{result="failure"})") >= 1; },
                 milliseconds(10'000)));
  EXPECT_EQ(count(echod, R"(echod_tls_reloads_total{result="success"})"), 0);
  EXPECT_EQ(TlsClient(echod.tls_port(), o).peer_serial(), 4001);
  EXPECT_TRUE(open.echoes("still served"));
  const auto lines = echod.process().stdout_lines();
  bool logged = false;
  for (const auto& l : lines) logged |= l.find("tls reload rejected") != std::string::npos;
  EXPECT_TRUE(logged);

  // Garbage in the certificate: also refused whole.
  own.write("leaf.pem", "not a certificate\n");
  echod.signal(SIGHUP);
  EXPECT_TRUE(
      wait_until([&] { return count(echod, R"(echod_tls_reloads_total{result="failure"})") >= 2; },
                 milliseconds(10'000)));
  EXPECT_EQ(TlsClient(echod.tls_port(), o).peer_serial(), 4001);
}

// A client that sends and never reads: echod holds at most max-pending-bytes of plaintext it
// has read but not sent, and stops reading (the kernel buffers and TLS records aside).
TEST_F(Tls, SlowReaderHoldsAtMostMaxPendingBytesOfPlaintext) {
  constexpr std::uint64_t kPending = 16384;
  auto echod = start({"--max-pending-bytes", std::to_string(kPending), "--workers", "1"});
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected());
  ::fcntl(c.fd(), F_SETFL, ::fcntl(c.fd(), F_GETFL) | O_NONBLOCK);
  // Write (never read) until echod says it paused: its echo filled the path back to us.
  std::string stream;  // every byte handed to SSL_write, the blocked chunk included
  std::string chunk;
  bool paused = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; !paused && std::chrono::steady_clock::now() < deadline;) {
    if (chunk.empty()) {
      chunk = random_bytes(16384, static_cast<std::uint64_t>(++i));
      stream += chunk;
    }
    bool blocked = false;
    if (c.try_send(chunk, &blocked)) {
      chunk.clear();
      continue;
    }
    ASSERT_TRUE(blocked) << c.error();
    paused = count(*echod, "echod_backpressure_pauses_total") >= 1;
    pollfd p{c.fd(), POLLOUT, 0};
    ::poll(&p, 1, 100);
  }
  ASSERT_TRUE(paused);
  const double received = count(*echod, R"(echod_received_bytes_total{protocol="tls"})");
  const double echoed = count(*echod, R"(echod_sent_bytes_total{protocol="tls"})");
  EXPECT_LE(received - echoed, static_cast<double>(kPending));
  EXPECT_LE(received, static_cast<double>(stream.size()));
  ::fcntl(c.fd(), F_SETFL, ::fcntl(c.fd(), F_GETFL) & ~O_NONBLOCK);
  // Reading now gets back what echod had read, in order.
  const std::string back = c.recv_exact(static_cast<std::size_t>(received));
  EXPECT_EQ(back.size(), static_cast<std::size_t>(received));
  EXPECT_TRUE(back == stream.substr(0, back.size()));
}

TEST_F(Tls, IdleTimeoutAppliesAfterTheHandshakeWithCloseNotify) {
  auto echod = start({"--idle-timeout", "300ms"});
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.echoes("then silence"));
  const TlsClient::Ending end = c.read_to_end();
  EXPECT_TRUE(end.close_notify);
  EXPECT_EQ(count(*echod, R"(echod_connections_closed_total{reason="idle_timeout"})"), 1);
}

TEST_F(Tls, LifetimeEndsABusyConnectionWithCloseNotify) {
  auto echod = start({"--max-connection-lifetime", "300ms"});
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.echoes("busy"));
  const TlsClient::Ending end = c.read_to_end();
  EXPECT_TRUE(end.close_notify);
  EXPECT_TRUE(end.eof_after);
  EXPECT_EQ(count(*echod, R"(echod_connections_closed_total{reason="lifetime"})"), 1);
}

TEST_F(Tls, MaxConnectionsCountsTlsAndPlainTogether) {
  auto echod = start({"--max-connections", "1"});
  TlsClient first(echod->tls_port(), trusting());
  ASSERT_TRUE(first.connected());
  Fd plain = connect_tcp(echod->echo_port());
  EXPECT_TRUE(wait_for_eof(plain.get()));
  TlsClient second(echod->tls_port(), trusting());
  EXPECT_FALSE(second.connected());
  EXPECT_TRUE(wait_until(
      [&] {
        return count(*echod, R"(echod_connections_rejected_total{reason="max_connections"})") == 2;
      },
      milliseconds(5000)));
  EXPECT_TRUE(first.echoes("the one"));
}

TEST_F(Tls, DrainSendsCloseNotifyToConnectionsStillOpen) {
  auto echod = start({"--drain-timeout", "200ms"});
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.echoes("until shutdown"));
  echod->signal(SIGTERM);
  const TlsClient::Ending end = c.read_to_end();
  EXPECT_TRUE(end.close_notify);
  EXPECT_EQ(echod->wait_exit(milliseconds(10'000)), 0);
}

TEST_F(Tls, FaultRulesForTcpLeaveTlsAloneAndTlsRulesApplyAtAccept) {
  auto echod = start({"--faults", R"([{"name":"plain","action":"reset","listener":"tcp"}])"});
  TlsClient c(echod->tls_port(), trusting());
  ASSERT_TRUE(c.connected()) << c.error();
  EXPECT_TRUE(c.echoes("untouched"));
  Fd plain = connect_tcp(echod->echo_port());
  send_all(plain.get(), "x");
  EXPECT_TRUE(wait_for_eof(plain.get()));  // reset (wait_for_eof takes ECONNRESET too)

  auto refusing = start({"--faults", R"([{"name":"sick","action":"refuse","listener":"tls"}])"});
  TlsClient refused(refusing->tls_port(), trusting());
  EXPECT_FALSE(refused.connected());
  EXPECT_TRUE(wait_until(
      [&] { return count(*refusing, R"(echod_faults_injected_total{action="refuse"})") == 1; },
      milliseconds(5000)));
  Fd still_plain = connect_tcp(refusing->echo_port());
  ASSERT_TRUE(send_all(still_plain.get(), "plain"));
  EXPECT_EQ(recv_exact(still_plain.get(), 5), "plain");

  auto resetting = start({"--faults", R"([{"name":"rst","action":"reset","listener":"any"}])"});
  TlsClient reset(resetting->tls_port(), trusting());
  EXPECT_FALSE(reset.connected());
  EXPECT_TRUE(wait_until(
      [&] { return count(*resetting, R"(echod_faults_injected_total{action="reset"})") == 1; },
      milliseconds(5000)));
}

TEST(TlsConfig, FaultRulesOnTlsTakeEveryConnectionActionButDrop) {
  const RunResult ok =
      run_echod({"--check-config", "--faults",
                 R"([{"name":"d","action":"delay","delay":"1s","listener":"tls"}])"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  const RunResult drop =
      run_echod({"--check-config", "--faults", R"([{"name":"x","action":"drop","listener":"tls"}])"});
  EXPECT_EQ(drop.exit_code, 2);
  EXPECT_NE(drop.err.find("listener"), std::string::npos) << drop.err;
}

struct BadTls {
  std::string name;
  std::vector<std::string> args;  // {CERT}, {KEY}, {OTHERKEY}, {CA}, {GARBAGE} replaced
  std::string must_mention;
};

class TlsBadConfiguration : public Tls, public ::testing::WithParamInterface<BadTls> {};

TEST_P(TlsBadConfiguration, ExitsTwoWithOneLineNamingTheSetting) {
  files_->write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n");
  std::vector<std::string> args{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"};
  for (std::string a : GetParam().args) {
    if (a == "{CERT}") a = files_->cert("server");
    if (a == "{KEY}") a = files_->key("server");
    if (a == "{OTHERKEY}") a = files_->key("client");
    if (a == "{CA}") a = files_->cert("ca");
    if (a == "{GARBAGE}") a = files_->dir() + "/garbage.pem";
    args.push_back(a);
  }
  const RunResult r = run_echod(args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_NE(r.err.find(GetParam().must_mention), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    EveryMistake, TlsBadConfiguration,
    ::testing::Values(
        BadTls{"NoCert", {"--tls-listen", "127.0.0.1:0", "--tls-key", "{KEY}"}, "tls_cert"},
        BadTls{"NoKey", {"--tls-listen", "127.0.0.1:0", "--tls-cert", "{CERT}"}, "tls_key"},
        BadTls{"MissingCert",
               {"--tls-listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem", "--tls-key",
                "{KEY}"},
               "tls_cert"},
        BadTls{"MissingKey",
               {"--tls-listen", "127.0.0.1:0", "--tls-cert", "{CERT}", "--tls-key",
                "/nonexistent/key.pem"},
               "tls_key"},
        BadTls{"KeyOfAnotherCert",
               {"--tls-listen", "127.0.0.1:0", "--tls-cert", "{CERT}", "--tls-key", "{OTHERKEY}"},
               "does not match"},
        BadTls{"GarbageCert",
               {"--tls-listen", "127.0.0.1:0", "--tls-cert", "{GARBAGE}", "--tls-key", "{KEY}"},
               "tls_cert"},
        BadTls{"GarbageClientCa",
               {"--tls-listen", "127.0.0.1:0", "--tls-cert", "{CERT}", "--tls-key", "{KEY}",
                "--tls-client-ca", "{GARBAGE}"},
               "tls_client_ca"},
        BadTls{"MissingClientCa",
               {"--tls-listen", "127.0.0.1:0", "--tls-cert", "{CERT}", "--tls-key", "{KEY}",
                "--tls-client-ca", "/nonexistent/ca.pem"},
               "tls_client_ca"},
        BadTls{"MinVersion",
               {"--tls-listen", "127.0.0.1:0", "--tls-cert", "{CERT}", "--tls-key", "{KEY}",
                "--tls-min-version", "1.1"},
               "tls_min_version"},
        BadTls{"ListenAddress",
               {"--tls-listen", "nowhere", "--tls-cert", "{CERT}", "--tls-key", "{KEY}"},
               "tls_listen"}),
    [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace echod::test
