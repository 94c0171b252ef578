// GET/PUT/DELETE /faults and the config key `faults` against a real echod (issue 13).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
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
using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "fault-token-3c2b1a";

HeaderList bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

json get_rules(std::uint16_t port) {
  const HttpReply r = http_get(port, "/faults");
  EXPECT_EQ(r.status, 200) << r.body;
  return json::parse(r.body)["rules"];
}

HttpReply put_rules(std::uint16_t port, const std::string& body, const std::string& token = kToken) {
  return http_request(port, "PUT", "/faults", body, bearer(token));
}

bool has_log(EchodProcess& echod, const std::string& text) {
  for (const auto& line : echod.process().stdout_lines()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(AdminFaults, ChangesNeedAConfiguredTokenAndTheRightOne) {
  EchodProcess open_echod;
  const std::string body = R"({"rules":[{"action":"refuse"}]})";
  EXPECT_EQ(put_rules(open_echod.admin_port(), body).status, 403);
  EXPECT_EQ(http_request(open_echod.admin_port(), "DELETE", "/faults").status, 403);

  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  const HttpReply wrong = put_rules(echod.admin_port(), body, "nope");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(http_request(echod.admin_port(), "PUT", "/faults", body).status, 401);
  EXPECT_EQ(http_request(echod.admin_port(), "DELETE", "/faults", "", bearer("x")).status, 401);
  EXPECT_TRUE(get_rules(echod.admin_port()).empty());
}

TEST(AdminFaults, PutReplacesGetShowsDeleteClears) {
  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  const HttpReply put = put_rules(echod.admin_port(), R"({"rules":[
      {"name":"slow","action":"delay","delay":"200ms"},
      {"action":"corrupt","every_bytes":1000,"source":"10.0.0.0/8","probability":0.25}]})");
  ASSERT_EQ(put.status, 200) << put.body;
  const json rules = get_rules(echod.admin_port());
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0]["name"], "slow");
  EXPECT_EQ(rules[0]["delay"], "200ms");
  EXPECT_EQ(rules[1]["source"], "10.0.0.0/8");
  EXPECT_EQ(rules[1]["probability"], 0.25);
  EXPECT_EQ(metric(scrape(echod.admin_port()), "echod_fault_rules"), 2);
  const json landing = json::parse(http_get(echod.admin_port(), "/").body);
  EXPECT_EQ(landing["fault_rules"].size(), 2u);
  EXPECT_NE(landing["endpoints"].dump().find("PUT /faults"), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return has_log(echod, "fault rules changed"); }, milliseconds(3000)));

  const HttpReply del = http_request(echod.admin_port(), "DELETE", "/faults", "", bearer(kToken));
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_TRUE(get_rules(echod.admin_port()).empty());
  EXPECT_EQ(metric(scrape(echod.admin_port()), "echod_fault_rules"), 0);
}

TEST(AdminFaults, BadRulesGet400NamingTheSettingAndChangeNothing) {
  EchodProcess echod({}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  ASSERT_EQ(put_rules(echod.admin_port(), R"({"rules":[{"name":"keep","action":"refuse"}]})").status, 200);
  struct Case {
    std::string body;
    std::string setting;
  };
  for (const Case& c : {Case{R"({"rules":[{"action":"refuse"},{"action":"reset"},
                                {"action":"stall","probability":2}]})", "rules[2].probability"},
                        Case{R"({"rules":[{"action":"delay"}]})", "rules[0].delay"},
                        Case{R"({"rules":[{"action":"teleport"}]})", "rules[0].action"},
                        Case{R"({"rules":[{"action":"refuse","source":"1.2.3.4/99"}]})", "rules[0].source"},
                        Case{R"({"rules":"all"})", "rules"},
                        Case{"{oops", ""}}) {
    const HttpReply r = put_rules(echod.admin_port(), c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["setting"], c.setting) << r.body;
    EXPECT_FALSE(j["error"].get<std::string>().empty());
    const json rules = get_rules(echod.admin_port());
    ASSERT_EQ(rules.size(), 1u);
    EXPECT_EQ(rules[0]["name"], "keep");
  }
}

TEST(AdminFaults, OpenConnectionsKeepTheRuleTheyWereGiven) {
  EchodProcess echod({"--workers", "1"}, {{"ECHOD_ADMIN_TOKEN", kToken}});
  Fd before = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(before.get(), "a"));
  ASSERT_EQ(recv_exact(before.get(), 1), "a");
  ASSERT_EQ(put_rules(echod.admin_port(), R"({"rules":[{"action":"delay","delay":"300ms"}]})").status, 200);
  Fd after = connect_tcp(echod.echo_port());
  auto rtt = [](int fd) {
    const auto start = Clock::now();
    send_all(fd, "ping");
    EXPECT_EQ(recv_exact(fd, 4), "ping");
    return Clock::now() - start;
  };
  EXPECT_LT(rtt(before.get()), milliseconds(250));  // no rule at its accept
  EXPECT_GE(rtt(after.get()), milliseconds(300));
  ASSERT_EQ(http_request(echod.admin_port(), "DELETE", "/faults", "", bearer(kToken)).status, 200);
  EXPECT_GE(rtt(after.get()), milliseconds(300));  // keeps the rule it was given
  Fd last = connect_tcp(echod.echo_port());
  EXPECT_LT(rtt(last.get()), milliseconds(250));
}

TEST(AdminFaults, ConfigFileFaultsApplyAtStartAndOnSighup) {
  TempConfig file;
  file.write(R"({"faults":[{"name":"boot","action":"reset"}]})");
  const RunResult check = run_echod({"--config", file.path(), "--check-config"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("\"boot\""), std::string::npos) << check.out;

  EchodProcess echod({"--config", file.path()});
  json rules = get_rules(echod.admin_port());
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0]["name"], "boot");

  file.write(R"({"faults":[{"name":"hup","action":"delay","delay":"10ms"}]})");
  echod.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return get_rules(echod.admin_port())[0]["name"] == "hup"; },
                         milliseconds(5000)));
  // A bad rule in the file is refused with everything else in it.
  file.write(R"({"max_connections": 7, "faults":[{"action":"delay","jitter":"1s"}]})");
  echod.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return has_log(echod, "config reload rejected"); }, milliseconds(5000)));
  EXPECT_EQ(get_rules(echod.admin_port())[0]["name"], "hup");
  EXPECT_NE(json::parse(http_get(echod.admin_port(), "/config").body)["max_connections"], 7);
}

TEST(AdminFaults, ABadFaultsKeyInTheFileStopsStartNamingIt) {
  TempConfig file;
  file.write(R"({"faults":[{"action":"reset"},{"action":"corrupt","every_bytes":0}]})");
  const RunResult r = run_echod({"--config", file.path(), "--check-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("faults[1].every_bytes"), std::string::npos) << r.err;
}

TEST(AdminFaults, EveryActionIsExportedFromTheStart) {
  EchodProcess echod;
  const std::string text = scrape(echod.admin_port());
  for (const char* a : {"delay", "bandwidth", "close", "reset", "stall", "refuse", "corrupt", "drop"}) {
    EXPECT_EQ(metric(text, std::string("echod_faults_injected_total{action=\"") + a + "\"}"), 0) << a;
  }
  EXPECT_EQ(metric(text, "echod_fault_rules"), 0);
}

}  // namespace
}  // namespace echod::test
