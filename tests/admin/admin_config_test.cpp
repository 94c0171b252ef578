// GET/PUT /config and SIGHUP reloads against a real echod: auth, all-or-nothing validation,
// and runtime changes reaching connections that are already open.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "admin_client.h"
#include "echod_process.h"
#include "net_helpers.h"
#include "temp_config.h"

namespace echod::test {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kToken = "t0k3n-that-must-never-leak-9f8e7d";

HeaderList bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

json get_config(std::uint16_t port) {
  const HttpReply r = http_get(port, "/config");
  EXPECT_EQ(r.status, 200);
  return json::parse(r.body);
}

TEST(AdminConfig, GetConfigShowsEffectiveSettingsAndNeverTheToken) {
  EchodProcess echod({"--max-connections", "123"}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  const HttpReply r = http_get(echod.admin_port(), "/config");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body.find(kToken), std::string::npos);
  const json j = json::parse(r.body);
  EXPECT_EQ(j["max_connections"], 123);
  EXPECT_EQ(j["admin_token"], "<redacted>");

  // Neither a successful nor a refused change writes the token anywhere.
  EXPECT_EQ(
      http_request(echod.admin_port(), "PUT", "/config", R"({"max_connections":7})", bearer(kToken))
          .status,
      200);
  EXPECT_EQ(http_request(echod.admin_port(), "PUT", "/config", "{}", bearer("nope")).status, 401);
  echod.signal(SIGTERM);
  ASSERT_TRUE(echod.wait_exit(milliseconds(10'000)));
  echod.process().join_output();
  EXPECT_EQ(echod.process().output().find(kToken), std::string::npos);
}

TEST(AdminConfig, GetConfigWithoutATokenHasNoTokenKey) {
  EchodProcess echod;
  EXPECT_FALSE(get_config(echod.admin_port()).contains("admin_token"));
}

TEST(AdminConfig, PutConfigIs403WhenNoTokenIsConfigured) {
  EchodProcess echod;
  const json before = get_config(echod.admin_port());
  for (const auto& auth : {HeaderList{}, bearer("anything")}) {
    const HttpReply r =
        http_request(echod.admin_port(), "PUT", "/config", R"({"max_connections":5})", auth);
    EXPECT_EQ(r.status, 403);
    EXPECT_TRUE(json::parse(r.body).contains("error"));
  }
  EXPECT_EQ(get_config(echod.admin_port()), before);
}

TEST(AdminConfig, PutConfigIs401WithAMissingOrWrongToken) {
  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  const json before = get_config(echod.admin_port());
  const std::string body = R"({"max_connections":5})";
  for (const auto& auth :
       {HeaderList{}, bearer("wrong"), bearer(std::string(kToken) + "x"),
        bearer(std::string(kToken).substr(1)), HeaderList{{"Authorization", kToken}},
        HeaderList{{"Authorization", std::string("Basic ") + kToken}}}) {
    const HttpReply r = http_request(echod.admin_port(), "PUT", "/config", body, auth);
    EXPECT_EQ(r.status, 401) << (auth.empty() ? "(none)" : auth[0].second);
    EXPECT_EQ(r.header("www-authenticate").rfind("Bearer", 0), 0u);
    EXPECT_TRUE(json::parse(r.body).contains("error"));
  }
  EXPECT_EQ(get_config(echod.admin_port()), before);
}

TEST(AdminConfig, PutConfigRejectsBadInputWith400AndChangesNothing) {
  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  const json before = get_config(echod.admin_port());
  struct Case {
    std::string body;
    std::string setting;  // "" when the error is not about one setting
  };
  const Case cases[] = {
      {"{", ""},                                             // not JSON
      {"[1,2]", ""},                                         // not an object
      {R"({"no_such_setting":1})", "no_such_setting"},       // unknown key
      {R"({"workers":3})", "workers"},                       // not runtime-changeable
      {R"({"listen":":9999"})", "listen"},                   // not runtime-changeable
      {R"({"max_connections":"many"})", "max_connections"},  // wrong type
      {R"({"max_connections":-1})", "max_connections"},      // out of range
      {R"({"idle_timeout":"soon"})", "idle_timeout"},        // bad duration
      {R"({"log_level":"loud"})", "log_level"},              // bad enum
      {R"({"max_connections":5,"workers":2})", "workers"},   // all or nothing
      {R"({"max_connections":5,"drain_timeout":"x"})", "drain_timeout"},
  };
  for (const Case& c : cases) {
    const HttpReply r = http_request(echod.admin_port(), "PUT", "/config", c.body, bearer(kToken));
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.header("content-type"), "application/json") << c.body;
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_TRUE(j.contains("error") && j["error"].is_string() &&
                !j["error"].get<std::string>().empty())
        << r.body;
    ASSERT_TRUE(j.contains("setting")) << r.body;
    if (!c.setting.empty()) {
      EXPECT_EQ(j["setting"], c.setting) << c.body;
    }
    EXPECT_EQ(get_config(echod.admin_port()), before) << "after " << c.body;
  }
}

TEST(AdminConfig, PutConfigAppliesRuntimeSettingsAndAnswersWithTheNewConfig) {
  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  const HttpReply r = http_request(echod.admin_port(), "PUT", "/config",
                                   R"({"max_connections":42,"idle_timeout":"90s",
                                       "log_level":"debug"})",
                                   bearer(kToken));
  ASSERT_EQ(r.status, 200) << r.body;
  const json answered = json::parse(r.body);
  EXPECT_EQ(answered["max_connections"], 42);
  EXPECT_EQ(answered["idle_timeout"], "90s");
  EXPECT_EQ(answered["log_level"], "debug");
  EXPECT_EQ(get_config(echod.admin_port()), answered);
  // The change is logged with its origin and old -> new values.
  const auto logged = echod.process().wait_for_line(
      [](const std::string& l) {
        return l.find("PUT /config") != std::string::npos &&
               l.find("max_connections 10000 -> 42") != std::string::npos;
      },
      milliseconds(2000));
  EXPECT_TRUE(logged.has_value()) << echod.process().output();
  // An empty object is a valid no-op.
  const HttpReply noop = http_request(echod.admin_port(), "PUT", "/config", "{}", bearer(kToken));
  EXPECT_EQ(noop.status, 200);
  EXPECT_EQ(json::parse(noop.body), answered);
}

TEST(AdminConfig, PutConfigHonoursExpect100Continue) {
  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  Fd fd = connect_tcp(echod.admin_port());
  const std::string body = R"({"max_connections": 77})";
  ASSERT_TRUE(send_all(fd.get(), "PUT /config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                     std::string(kToken) +
                                     "\r\nExpect: 100-continue\r\nConnection: close\r\n"
                                     "Content-Length: " +
                                     std::to_string(body.size()) + "\r\n\r\n"));
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  ASSERT_EQ(recv_exact(fd.get(), interim.size(), milliseconds(3000)), interim);
  ASSERT_TRUE(send_all(fd.get(), body));
  const std::string rest = recv_until_eof(fd.get());
  EXPECT_EQ(rest.rfind("HTTP/1.1 200", 0), 0u) << rest;  // no second 100 Continue
  EXPECT_EQ(get_config(echod.admin_port())["max_connections"], 77);
}

TEST(AdminConfig, LoweredByteLimitClosesAConnectionThatIsAlreadyOpen) {
  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  Fd conn = connect_tcp(echod.echo_port());
  ASSERT_TRUE(conn);
  const std::string first = random_bytes(500, 3);
  ASSERT_TRUE(send_all(conn.get(), first));
  ASSERT_EQ(recv_exact(conn.get(), first.size()), first);
  const double closed_before =
      metric(scrape(echod.admin_port()), R"(echod_connections_closed_total{reason="byte_limit"})");

  ASSERT_EQ(http_request(echod.admin_port(), "PUT", "/config", R"({"max_connection_bytes":2000})",
                         bearer(kToken))
                .status,
            200);
  // The same connection now gets closed once it has echoed 2000 bytes in all.
  const std::string more = random_bytes(8000, 4);
  send_all(conn.get(), more);  // may fail part-way once echod closes
  const std::string echoed = recv_until_eof(conn.get(), milliseconds(5000));
  EXPECT_GE(echoed.size(), 2000u - first.size());
  EXPECT_LT(echoed.size(), more.size());
  EXPECT_EQ(echoed, more.substr(0, echoed.size()));
  EXPECT_TRUE(wait_until(
      [&] {
        return metric(scrape(echod.admin_port()),
                      R"(echod_connections_closed_total{reason="byte_limit"})") ==
               closed_before + 1;
      },
      milliseconds(3000)));
}

TEST(AdminConfig, LoweredIdleTimeoutClosesAnIdleConnectionThatIsAlreadyOpen) {
  EchodProcess echod({"--idle-timeout", "300s"}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  Fd conn = connect_tcp(echod.echo_port());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(send_all(conn.get(), "hello"));
  ASSERT_EQ(recv_exact(conn.get(), 5), "hello");
  ASSERT_EQ(http_request(echod.admin_port(), "PUT", "/config", R"({"idle_timeout":"300ms"})",
                         bearer(kToken))
                .status,
            200);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_for_eof(conn.get(), milliseconds(5000)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(3000));
  EXPECT_TRUE(wait_until(
      [&] {
        return metric(scrape(echod.admin_port()),
                      R"(echod_connections_closed_total{reason="idle_timeout"})") == 1;
      },
      milliseconds(3000)));
}

TEST(AdminConfig, SighupAppliesAValidFileAndRejectsAnInvalidOneWhole) {
  TempConfig file;
  file.write(R"({"max_connections": 100, "idle_timeout": "60s"})");
  EchodProcess echod({"--config", file.path()});
  const std::uint16_t admin = echod.admin_port();
  ASSERT_EQ(get_config(admin)["max_connections"], 100);
  std::string m = scrape(admin);
  const double ok0 = metric(m, R"(echod_config_reloads_total{result="success"})");
  const double bad0 = metric(m, R"(echod_config_reloads_total{result="failure"})");
  const double ts0 = metric(m, "echod_config_last_reload_success_timestamp_seconds");
  ASSERT_FALSE(std::isnan(ok0));
  ASSERT_FALSE(std::isnan(bad0));

  // A valid change is applied.
  std::this_thread::sleep_for(milliseconds(20));  // so the success timestamp must move
  file.write(R"({"max_connections": 50, "idle_timeout": "30s"})");
  echod.signal(SIGHUP);
  // The config and the reload metrics move one after the other: wait for both.
  ASSERT_TRUE(wait_until(
      [&] {
        return get_config(admin)["max_connections"] == 50 &&
               metric(scrape(admin), R"(echod_config_reloads_total{result="success"})") == ok0 + 1;
      },
      milliseconds(3000)));
  EXPECT_EQ(get_config(admin)["idle_timeout"], "30s");
  m = scrape(admin);
  EXPECT_EQ(metric(m, R"(echod_config_reloads_total{result="success"})"), ok0 + 1);
  EXPECT_EQ(metric(m, R"(echod_config_reloads_total{result="failure"})"), bad0);
  EXPECT_EQ(metric(m, "echod_config_last_reload_successful"), 1);
  EXPECT_GT(metric(m, "echod_config_last_reload_success_timestamp_seconds"), ts0);
  const double ts1 = metric(m, "echod_config_last_reload_success_timestamp_seconds");

  // A file with one good and one bad value is rejected whole.
  file.write(R"({"max_connections": 10, "idle_timeout": "never"})");
  echod.signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] {
        return metric(scrape(admin), R"(echod_config_reloads_total{result="failure"})") == bad0 + 1;
      },
      milliseconds(3000)));
  m = scrape(admin);
  EXPECT_EQ(metric(m, "echod_config_last_reload_successful"), 0);
  EXPECT_EQ(metric(m, "echod_config_last_reload_success_timestamp_seconds"), ts1);
  EXPECT_EQ(get_config(admin)["max_connections"], 50);
  EXPECT_EQ(get_config(admin)["idle_timeout"], "30s");

  // Malformed JSON too; the process keeps serving.
  file.write(R"({"max_connections": )");
  echod.signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] {
        return metric(scrape(admin), R"(echod_config_reloads_total{result="failure"})") == bad0 + 2;
      },
      milliseconds(3000)));
  EXPECT_EQ(get_config(admin)["max_connections"], 50);
  EXPECT_EQ(http_get(admin, "/livez").status, 200);
}

}  // namespace
}  // namespace echod::test
