#include "config_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace echod {
namespace {

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/echod-test-XXXXXX";
    const int fd = mkstemp(tmpl);
    path_ = tmpl;
    std::ofstream(path_) << content;
    ::close(fd);
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(LoadConfig, DefaultsMatchTheSpec) {
  LoadResult r = load_config({}, {});
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.action, LoadResult::Action::kRun);
  EXPECT_EQ(r.config.listen, (Endpoint{"", 7007}));
  EXPECT_EQ(r.config.admin_listen, (Endpoint{"", 8080}));
  EXPECT_FALSE(r.config.udp);
  EXPECT_EQ(r.config.workers, 0u);
  EXPECT_EQ(r.config.runtime.max_connections, 10000u);
  EXPECT_EQ(r.config.runtime.idle_timeout, std::chrono::seconds(300));
  EXPECT_EQ(r.config.runtime.max_pending_bytes, 65536u);
  EXPECT_EQ(r.config.runtime.max_connection_bytes, 0u);
  EXPECT_EQ(r.config.runtime.max_connection_lifetime, Duration{0});
  EXPECT_EQ(r.config.runtime.shutdown_delay, Duration{0});
  EXPECT_EQ(r.config.runtime.drain_timeout, std::chrono::seconds(20));
  EXPECT_EQ(r.config.runtime.log_level, LogLevel::kInfo);
  EXPECT_EQ(r.config.log_format, LogFormat::kJson);
}

TEST(LoadConfig, LaterSourcesWin) {
  TempFile file(R"({"max_connections": 1, "idle_timeout": "1s", "workers": 1, "udp": true})");
  LoadResult r = load_config({"--config", file.path(), "--max-connections", "3"},
                             {{"ECHOD_MAX_CONNECTIONS", "2"}, {"ECHOD_IDLE_TIMEOUT", "2s"}});
  ASSERT_FALSE(r.error) << r.error->message();
  EXPECT_EQ(r.config.runtime.max_connections, 3u);                       // flag
  EXPECT_EQ(r.config.runtime.idle_timeout, std::chrono::seconds(2));     // env
  EXPECT_EQ(r.config.workers, 1u);                                       // file
  EXPECT_TRUE(r.config.udp);                                             // file
  EXPECT_EQ(r.config.runtime.drain_timeout, std::chrono::seconds(20));  // default
  EXPECT_EQ(r.config.config_file, file.path());
}

TEST(LoadConfig, ConfigFileMayComeFromTheEnvironment) {
  TempFile file(R"({"max_connections": 9})");
  LoadResult r = load_config({}, {{"ECHOD_CONFIG", file.path()}});
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.config.runtime.max_connections, 9u);
}

TEST(LoadConfig, IgnoresUnknownEchodEnvironmentVariables) {
  // Kubernetes injects these for a Service named "echod"; they must not stop the pod.
  LoadResult r = load_config({}, {{"ECHOD_PORT", "tcp://10.0.0.1:7007"},
                                  {"ECHOD_SERVICE_HOST", "10.0.0.1"}});
  EXPECT_FALSE(r.error);
}

TEST(LoadConfig, AdminTokenFromEnvironmentOrFile) {
  LoadResult from_env = load_config({}, {{"ECHOD_ADMIN_TOKEN", "t0k"}});
  ASSERT_FALSE(from_env.error);
  EXPECT_EQ(from_env.config.admin_token, "t0k");

  TempFile token("file-token\n");
  LoadResult from_file = load_config({"--admin-token-file", token.path()}, {});
  ASSERT_FALSE(from_file.error);
  EXPECT_EQ(from_file.config.admin_token, "file-token");
}

struct BadSourceCase {
  std::vector<std::string> args;
  Environment env;
  std::string source;
  std::string setting;
};

class LoadConfigRejects : public ::testing::TestWithParam<BadSourceCase> {};

TEST_P(LoadConfigRejects, NamingSourceAndSetting) {
  LoadResult r = load_config(GetParam().args, GetParam().env);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->source.rfind(GetParam().source, 0), 0u) << r.error->message();
  EXPECT_EQ(r.error->setting, GetParam().setting) << r.error->message();
  EXPECT_EQ(r.error->message().find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, LoadConfigRejects,
    ::testing::Values(
        BadSourceCase{{"--bogus"}, {}, "command line", ""},
        BadSourceCase{{"positional"}, {}, "command line", ""},
        BadSourceCase{{"--workers", "many"}, {}, "flag --workers", "workers"},
        BadSourceCase{{"--max-connections", "0"}, {}, "flag --max-connections", "max_connections"},
        BadSourceCase{{"--idle-timeout", "10"}, {}, "flag --idle-timeout", "idle_timeout"},
        BadSourceCase{{"--listen", "nowhere"}, {}, "flag --listen", "listen"},
        BadSourceCase{{"--log-format", "xml"}, {}, "flag --log-format", "log_format"},
        BadSourceCase{{}, {{"ECHOD_MAX_PENDING_BYTES", "1"}}, "env ECHOD_MAX_PENDING_BYTES",
                      "max_pending_bytes"},
        BadSourceCase{{}, {{"ECHOD_UDP", "maybe"}}, "env ECHOD_UDP", "udp"},
        BadSourceCase{{"--config", "/nonexistent/echod.json"}, {}, "config file", ""},
        BadSourceCase{{"--admin-token-file", "/nonexistent/token"}, {}, "flag --admin-token-file",
                      "admin_token_file"},
        BadSourceCase{{}, {{"ECHOD_ADMIN_TOKEN", ""}}, "env ECHOD_ADMIN_TOKEN", "admin_token"}));

TEST(LoadConfig, BadFileKeyNamesTheFile) {
  TempFile file(R"({"max_conections": 5})");
  LoadResult r = load_config({"--config", file.path()}, {});
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->source, "config file " + file.path());
  EXPECT_EQ(r.error->setting, "max_conections");
}

TEST(LoadConfig, CheckConfigHelpAndVersionAreActions) {
  EXPECT_EQ(load_config({"--check-config"}, {}).action, LoadResult::Action::kCheckConfig);
  LoadResult help = load_config({"--help"}, {});
  EXPECT_EQ(help.action, LoadResult::Action::kPrintAndExit);
  for (const SettingInfo& s : all_settings()) {
    EXPECT_NE(help.output.find(std::string(s.flag)), std::string::npos) << s.flag;
  }
  LoadResult version = load_config({"--version"}, {});
  EXPECT_EQ(version.action, LoadResult::Action::kPrintAndExit);
  EXPECT_EQ(version.output.rfind("echod ", 0), 0u);
}

TEST(ReloadConfig, RereadsTheFileAndKeepsFlagsOnTop) {
  TempFile file(R"({"max_connections": 1})");
  const std::vector<std::string> args{"--config", file.path(), "--idle-timeout", "7s"};
  ASSERT_FALSE(load_config(args, {}).error);
  std::ofstream(file.path()) << R"({"max_connections": 2, "idle_timeout": "1s"})";
  ReloadResult r = reload_config(args, {});
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.config.runtime.max_connections, 2u);
  EXPECT_EQ(r.config.runtime.idle_timeout, std::chrono::seconds(7));
  std::ofstream(file.path()) << R"({"max_connections": "two"})";
  EXPECT_TRUE(reload_config(args, {}).error);
}

}  // namespace
}  // namespace echod
