// What an operator sees at start: bad input exits 2 with one line naming the setting;
// --check-config, --version and --help; the bound addresses in the startup line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

std::string write_temp(const std::string& content) {
  char path[] = "/tmp/echod-startup-XXXXXX";
  const int fd = mkstemp(path);
  std::ofstream(path) << content;
  ::close(fd);
  return path;
}

struct BadStart {
  std::vector<std::string> args;
  Env env;
  std::string must_mention;
};

class BadConfiguration : public ::testing::TestWithParam<BadStart> {};

TEST_P(BadConfiguration, ExitsTwoWithOneLineNamingTheSetting) {
  const RunResult r = run_echod(GetParam().args, GetParam().env);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_NE(r.err.find(GetParam().must_mention), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    EverySource, BadConfiguration,
    ::testing::Values(
        BadStart{{"--no-such-flag"}, {}, "--no-such-flag"},
        BadStart{{"--max-connections", "-5"}, {}, "max_connections"},
        BadStart{{"--idle-timeout", "soon"}, {}, "idle_timeout"},
        BadStart{{"--listen", "1.2.3.4"}, {}, "listen"},
        BadStart{{"--log-level", "verbose"}, {}, "log_level"},
        BadStart{{}, {{"ECHOD_WORKERS", "lots"}}, "ECHOD_WORKERS"},
        BadStart{{}, {{"ECHOD_DRAIN_TIMEOUT", "-1s"}}, "drain_timeout"},
        BadStart{{"--config", "/nonexistent.json"}, {}, "/nonexistent.json"},
        BadStart{{"--config", write_temp("{not json")}, {}, "malformed JSON"},
        BadStart{{"--config", write_temp(R"({"max_conns": 1})")}, {}, "max_conns"},
        BadStart{{"--config", write_temp(R"({"udp": "on"})")}, {}, "udp"},
        BadStart{{"--admin-token-file", "/nonexistent-token"}, {}, "admin_token_file"}));

TEST(Startup, BadConfigurationIsRejectedByCheckConfigToo) {
  const RunResult r = run_echod({"--check-config", "--max-pending-bytes", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("max_pending_bytes"), std::string::npos);
}

TEST(Startup, CheckConfigPrintsOnlyTheEffectiveConfigAsJson) {
  const std::string file = write_temp(R"({"max_connections": 5, "idle_timeout": "1m"})");
  const RunResult r = run_echod({"--check-config", "--config", file, "--udp"},
                                {{"ECHOD_MAX_CONNECTIONS", "6"}, {"ECHOD_ADMIN_TOKEN", "sekrit"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["max_connections"], 6);
  EXPECT_EQ(j["idle_timeout"], "1m");
  EXPECT_EQ(j["udp"], true);
  EXPECT_EQ(j["listen"], ":7007");
  EXPECT_EQ(r.out.find("sekrit"), std::string::npos);
}

TEST(Startup, VersionAndHelp) {
  const RunResult version = run_echod({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("echod ", 0), 0u);
  const RunResult help = run_echod({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag : {"--listen", "--admin-listen", "--udp", "--workers", "--max-connections",
                           "--idle-timeout", "--max-pending-bytes", "--max-connection-bytes",
                           "--max-connection-lifetime", "--shutdown-delay", "--drain-timeout",
                           "--log-level", "--log-format", "--admin-token-file", "--config",
                           "--check-config", "--version"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
}

TEST(Startup, LogsTheAddressesActuallyBound) {
  EchodProcess echod;
  EXPECT_NE(echod.echo_port(), 0);
  EXPECT_NE(echod.admin_port(), 0);
  const auto line = echod.process().wait_for_line(
      [](const std::string& l) { return l.find("echod started") != std::string::npos; },
      milliseconds(100));
  ASSERT_TRUE(line);
  const auto j = nlohmann::json::parse(*line);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["echo_address"], "127.0.0.1:" + std::to_string(echod.echo_port()));
  Fd fd = connect_tcp(echod.echo_port());
  EXPECT_TRUE(fd);
}

TEST(Startup, TextLogFormat) {
  EchodProcess echod({"--log-format", "text"});
  EXPECT_NE(echod.echo_port(), 0);
  const auto lines = echod.process().stdout_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.front().find(" info echod started "), std::string::npos) << lines.front();
}

TEST(Startup, PerConnectionLinesOnlyAtDebugLevel) {
  auto closed_line = [](const std::string& l) {
    return l.find("connection closed") != std::string::npos;
  };
  EchodProcess debug({"--log-level", "debug"});
  {
    Fd fd = connect_tcp(debug.echo_port());
    ASSERT_TRUE(send_all(fd.get(), "x"));
    ASSERT_EQ(recv_exact(fd.get(), 1), "x");
  }
  const auto line = debug.process().wait_for_line(closed_line, milliseconds(3000));
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("\"reason\":\"client\""), std::string::npos) << *line;

  EchodProcess info;
  {
    Fd fd = connect_tcp(info.echo_port());
    ASSERT_TRUE(send_all(fd.get(), "x"));
    ASSERT_EQ(recv_exact(fd.get(), 1), "x");
  }
  // The debug instance above shows the line comes within milliseconds; none at info.
  EXPECT_FALSE(info.process().wait_for_line(closed_line, milliseconds(300)));
}

TEST(Startup, RefusesAnEchoPortAnotherProcessHolds) {
  EchodProcess first;
  const RunResult second = run_echod(
      {"--listen", "127.0.0.1:" + std::to_string(first.echo_port()), "--admin-listen", "127.0.0.1:0"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.out.find("cannot bind echo port"), std::string::npos) << second.out;
}

}  // namespace
}  // namespace echod::test
