// Fault tier, the admin port under abuse: slowloris, garbage, oversized heads and bodies,
// thousands of distinct paths and methods at once; then config abuse (random and truncated
// JSON in PUT /config and in the file before SIGHUP) and the admin token's secrecy.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "admin_client.h"
#include "config.h"
#include "fault_support.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// Sends raw bytes on a fresh admin connection and reads the answer until EOF.
std::string raw_exchange(std::uint16_t port, const std::string& bytes, milliseconds timeout) {
  Fd fd = connect_tcp(port);
  if (!fd) return {};
  send_all(fd.get(), bytes);
  ::shutdown(fd.get(), SHUT_WR);
  return recv_until_eof(fd.get(), timeout);
}

/// Sample lines of an exposition, minus the values: the set of series.
std::vector<std::string> series_names(const std::string& exposition) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < exposition.size()) {
    const std::size_t end = std::min(exposition.find('\n', pos), exposition.size());
    const std::string line = exposition.substr(pos, end - pos);
    if (!line.empty() && line[0] != '#') out.push_back(line.substr(0, line.rfind(' ')));
    pos = end + 1;
  }
  return out;
}

TEST(HostileAdminClients, ProbesStayFastAndMetricsDoNotGrowUnderEveryKindOfAbuse) {
  EchodProcess echod({"--workers", "1"});
  const std::uint16_t port = echod.admin_port();
  const auto series_before = series_names(scrape(port));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> attacks{0};
  std::vector<std::thread> attackers;

  // Slowloris: 150 connections each trickling a header byte a second, reconnecting when cut.
  attackers.emplace_back([&] {
    slowloris(port, 150, "GET /livez HTTP/1.1\r\nX-Slow: ", milliseconds(1000), stop,
              [&] { ++attacks; });
  });
  // Garbage bytes, oversized heads and bodies, lying Content-Lengths.
  attackers.emplace_back([&] {
    std::mt19937_64 rng(7);
    for (std::uint64_t i = 0; !stop; ++i) {
      std::string req;
      switch (i % 5) {
        case 0: req = random_bytes(1 + rng() % 4096, rng()); break;
        case 1: req = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(64 * 1024, 'x') + "\r\n\r\n"; break;
        case 2: req = "PUT /config HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n" + std::string(200'000, '{'); break;
        case 3: req = "GET /livez HTTP/1.1\r\nContent-Length: 10\r\n\r\nab"; break;  // short body
        case 4: req = "GET " + std::string(20'000, '/') + " HTTP/1.1\r\n\r\n"; break;
      }
      raw_exchange(port, req, milliseconds(5000));
      ++attacks;
    }
  });
  // Thousands of distinct paths and methods.
  attackers.emplace_back([&] {
    const char* methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW", "X"};
    for (std::uint64_t i = 0; !stop; ++i) {
      const std::string method = std::string(methods[i % 9]) + (i % 4 == 0 ? std::to_string(i) : "");
      const std::string req = method + " /p" + std::to_string(i) + "/" + std::to_string(i * 31) +
                              "?q=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      const std::string answer = raw_exchange(port, req, milliseconds(5000));
      if (answer.rfind("HTTP/1.1 4", 0) != 0 && answer.rfind("HTTP/1.1 503", 0) != 0) {
        ADD_FAILURE() << "unexpected answer to " << method << ": " << answer.substr(0, 80);
        break;
      }
      ++attacks;
    }
  });

  // Meanwhile, the kubelet's view: a fresh client per probe.
  std::vector<double> probe_ms;
  int failures = 0;
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < milliseconds(10'000)) {
    const auto p0 = Clock::now();
    if (http_get(port, probe_ms.size() % 2 ? "/readyz" : "/livez").status != 200) ++failures;
    probe_ms.push_back(ms_since(p0));
    std::this_thread::sleep_for(milliseconds(50));
  }
  stop = true;
  for (auto& t : attackers) t.join();
  std::sort(probe_ms.begin(), probe_ms.end());
  const double p99 = probe_ms[probe_ms.size() * 99 / 100];
  figure("attacks", static_cast<double>(attacks.load()));
  figure("probe_p50_ms", probe_ms[probe_ms.size() / 2]);
  figure("probe_p99_ms", p99);
  figure("probe_max_ms", probe_ms.back());
  EXPECT_EQ(failures, 0) << "of " << probe_ms.size() << " probes";
  EXPECT_LT(p99, 250) << "/livez and /readyz slowed down under admin abuse";
  EXPECT_GT(attacks.load(), 1000u);

  EXPECT_EQ(echod.wait_exit(milliseconds(0)), std::nullopt) << "echod died";
  const auto series_after = series_names(scrape(port));
  figure("series_before", static_cast<double>(series_before.size()));
  figure("series_after", static_cast<double>(series_after.size()));
  EXPECT_EQ(series_after, series_before) << "request data leaked into metric series";
  Fd echo = connect_tcp(echod.echo_port());
  EXPECT_TRUE(echoes(echo.get(), random_bytes(50'000, 1)));
}

// ---- config abuse ----

constexpr const char* kToken = "s3cr3t-T0KEN-9f8e7d6c5b4a";

const std::string kValidBody =
    R"({"max_connections": 777, "idle_timeout": "45s", "max_pending_bytes": 32768,)"
    R"( "max_connection_bytes": 1048576, "max_connection_lifetime": "10m",)"
    R"( "shutdown_delay": "2s", "drain_timeout": "9s", "log_level": "warn"})";

/// Bodies that must all be rejected: strict prefixes, byte flips, random bytes, random
/// JSON that mixes valid settings with one bad one. `keep` filters out any mutation that
/// happens to be a valid change (checked with echod's own parser).
std::vector<std::string> hostile_bodies(std::size_t n, std::uint64_t seed, JsonScope scope) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  const std::vector<std::string> bad_values = {
      R"("max_connections": 0)", R"("max_connections": -1)", R"("max_connections": 1.5)",
      R"("max_connections": "10")", R"("idle_timeout": "5")", R"("idle_timeout": "-5s")",
      R"("idle_timeout": 5)", R"("max_pending_bytes": 1)", R"("max_pending_bytes": 18446744073709551616)",
      R"("log_level": "loud")", R"("nope": 1)", R"("listen": ":1")", R"("drain_timeout": "2h")",
      R"("log_level": null)", R"("max_connection_bytes": true)", R"("shutdown_delay": [])"};
  const std::vector<std::string> good_values = {R"("max_connections": 5)", R"("idle_timeout": "1s")",
                                                R"("log_level": "debug")", R"("drain_timeout": "1s")"};
  while (out.size() < n) {
    std::string body;
    switch (rng() % 5) {
      case 0: body = kValidBody.substr(0, rng() % kValidBody.size()); break;
      case 1: {
        body = kValidBody;
        for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
          body[rng() % body.size()] = static_cast<char>(rng() & 0xff);
        }
        break;
      }
      case 2: body = random_bytes(rng() % 300, rng()); break;
      case 3: {
        std::vector<std::string> parts;
        for (int k = 0; k < static_cast<int>(rng() % 3); ++k) parts.push_back(good_values[rng() % good_values.size()]);
        parts.insert(parts.begin() + static_cast<long>(rng() % (parts.size() + 1)), bad_values[rng() % bad_values.size()]);
        body = "{";
        for (std::size_t k = 0; k < parts.size(); ++k) body += (k ? ", " : "") + parts[k];
        body += "}";
        break;
      }
      case 4: {
        const char* shapes[] = {"[]", "null", "1", "\"s\"", "{", "}", "{\"a\":", "{\"max_connections\":5,}",
                                "{\"max_connections\":5}{", "\xef\xbb\xbf{}x", "{\"log_level\":\"\xff\"}"};
        body = shapes[rng() % 11];
        break;
      }
    }
    Config probe;
    if (apply_json(probe, body, scope, "probe")) out.push_back(body);  // rejected: keep it
  }
  return out;
}

class ConfigAbuse : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("echod-fault-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    file_ = (dir_ / "echod.json").string();
    write_file(R"({"max_connections": 321, "idle_timeout": "33s", "log_level": "info"})");
    echod_ = std::make_unique<EchodProcess>(std::vector<std::string>{"--config", file_},
                                            Env{{"ECHOD_ADMIN_TOKEN", kToken}});
    config_before_ = http_get(echod_->admin_port(), "/config").body;
    ASSERT_NE(config_before_.find("321"), std::string::npos) << config_before_;
  }
  void TearDown() override {
    // The token appears nowhere echod wrote.
    echod_->signal(SIGTERM);
    echod_->wait_exit(milliseconds(10'000));
    echod_->process().join_output();
    const std::string output = echod_->process().output();
    EXPECT_EQ(output.find(kToken), std::string::npos) << "the admin token leaked into the log";
    // Every log line is still one valid JSON object (hostile bytes must not break the format).
    int bad_lines = 0;
    for (const auto& line : echod_->process().stdout_lines()) {
      if (!nlohmann::json::accept(line) && ++bad_lines <= 3) {
        ADD_FAILURE() << "log line is not valid JSON: " << line.substr(0, 200);
      }
    }
    EXPECT_EQ(bad_lines, 0);
    figure("log_bytes_checked", static_cast<double>(output.size()));
    std::filesystem::remove_all(dir_);
  }
  void write_file(const std::string& text) {
    std::ofstream(file_, std::ios::trunc) << text;
  }
  void expect_unchanged(const std::string& context) {
    const HttpReply now = http_get(echod_->admin_port(), "/config");
    EXPECT_EQ(now.status, 200);
    EXPECT_EQ(now.body, config_before_) << "running config changed after " << context;
  }

  std::filesystem::path dir_;
  std::string file_;
  std::unique_ptr<EchodProcess> echod_;
  std::string config_before_;
};

TEST_F(ConfigAbuse, HostilePutBodiesAreRejectedWholeAndTheTokenNeverLeaks) {
  const auto bodies = hostile_bodies(600, 11, JsonScope::kRuntime);
  std::map<int, int> statuses;
  int bad_answers = 0;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const HttpReply r = http_request(echod_->admin_port(), "PUT", "/config", bodies[i],
                                     {{"Authorization", std::string("Bearer ") + kToken},
                                      {"Content-Type", "application/json"}});
    ++statuses[r.status];
    const std::string all = r.body + [&] {
      std::string h;
      for (const auto& [k, v] : r.headers) h += k + ": " + v + "\n";
      return h;
    }();
    EXPECT_EQ(all.find(kToken), std::string::npos) << "token in an answer";
    if (r.status != 400) {
      if (++bad_answers <= 5) {
        ADD_FAILURE() << "PUT /config with body " << nlohmann::json(std::string(bodies[i])).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace)
                      << " answered " << r.status << ": " << r.body;
      }
      continue;
    }
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error") && j.contains("setting")) << r.body;
  }
  // Wrong tokens, including the right one with a byte changed, and the right one as a body.
  for (int i = 0; i < 50; ++i) {
    std::string wrong = kToken;
    wrong[static_cast<std::size_t>(i) % wrong.size()] ^= 1;
    const HttpReply r = http_request(echod_->admin_port(), "PUT", "/config", kValidBody,
                                     {{"Authorization", "Bearer " + wrong}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body.find(kToken), std::string::npos);
  }
  for (const auto& [status, count] : statuses) figure("put_status_" + std::to_string(status), count);
  figure("put_bodies", static_cast<double>(bodies.size()));
  expect_unchanged("hostile PUT bodies");
  const std::string m = scrape(echod_->admin_port());
  EXPECT_EQ(m.find(kToken), std::string::npos);
  EXPECT_EQ(http_get(echod_->admin_port(), "/").body.find(kToken), std::string::npos);
}

TEST_F(ConfigAbuse, HostileFilesBeforeSighupAreRejectedWholeAndTheTokenNeverLeaks) {
  const auto bodies = hostile_bodies(150, 12, JsonScope::kFile);
  const std::string failure = "echod_config_reloads_total{result=\"failure\"}";
  double failures = metric(scrape(echod_->admin_port()), failure);
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    write_file(bodies[i]);
    echod_->signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return metric(scrape(echod_->admin_port()), failure) == failures + 1; },
                           milliseconds(5000)))
        << "reload of hostile file " << i << " was not counted as a failure";
    failures += 1;
  }
  figure("hostile_files_rejected", failures);
  const std::string m = scrape(echod_->admin_port());
  EXPECT_EQ(metric(m, "echod_config_last_reload_successful"), 0);
  expect_unchanged("hostile config files");
  // A good file is still taken afterwards.
  write_file(R"({"max_connections": 654})");
  echod_->signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] {
    return http_get(echod_->admin_port(), "/config").body.find("654") != std::string::npos;
  }, milliseconds(5000)));
}

// Numbers no double holds make nlohmann throw out_of_range, not parse_error: that escaped
// apply_json and aborted echod at start-up and on SIGHUP (found by fuzz_config).
TEST(ConfigAbuseEdges, HugeNumbersAreRejectedNotFatal) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("echod-fault-bignum-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "echod.json").string();
  std::ofstream(file) << R"({"max_connections": 1e400})";
  const RunResult check = run_echod({"--check-config", "--config", file});
  EXPECT_EQ(check.exit_code, 2) << check.err;
  EXPECT_NE(check.err.find("malformed JSON"), std::string::npos) << check.err;

  std::ofstream(file, std::ios::trunc) << R"({"max_connections": 50})";
  EchodProcess echod({"--config", file}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  std::ofstream(file, std::ios::trunc) << R"({"max_connections": -1e999})";
  echod.signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] {
    return metric(scrape(echod.admin_port()), "echod_config_reloads_total{result=\"failure\"}") == 1;
  }, milliseconds(5000))) << echod.process().output();
  EXPECT_EQ(echod.wait_exit(milliseconds(0)), std::nullopt) << "SIGHUP with a huge number killed echod";
  const HttpReply put = http_request(echod.admin_port(), "PUT", "/config", R"({"idle_timeout": 1e400})",
                                     {{"Authorization", std::string("Bearer ") + kToken}});
  EXPECT_EQ(put.status, 400) << put.body;
  std::filesystem::remove_all(dir);
}

// A duration the parser accepts must mean what it says: idle-timeout of 584 years
// (18446744073710ms) used to wrap around to 0.45 ms once turned into nanoseconds, closing
// every connection within a sweep.
TEST(ConfigAbuseEdges, HugeDurationsDoNotWrapAround) {
  EchodProcess echod({"--idle-timeout", "18446744073710ms", "--max-connection-lifetime",
                      "18446744073711ms"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(echoes(fd.get(), "first"));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(echoes(fd.get(), "still open after 300 ms"));
  const std::string m = scrape(echod.admin_port());
  EXPECT_EQ(metric(m, "echod_connections_closed_total{reason=\"idle_timeout\"}"), 0);
  EXPECT_EQ(metric(m, "echod_connections_closed_total{reason=\"lifetime\"}"), 0);
}

}  // namespace
}  // namespace echod::test
