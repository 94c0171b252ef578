#include "logger.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace echod {
namespace {

TEST(Logger, JsonLinesCarryTsLevelMsgAndFields) {
  Logger log(LogFormat::kJson, LogLevel::kInfo);
  const std::string line = log.format_line(
      LogLevel::kWarn, "hello \"world\"\n",
      {{"port", std::uint64_t{7007}}, {"who", std::string("a\\b")}, {"ok", true}});
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "hello \"world\"\n");
  EXPECT_EQ(j["port"], 7007);
  EXPECT_EQ(j["who"], "a\\b");
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["ts"].get<std::string>().size(), 24u);  // 2026-11-25T03:04:05.678Z
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(Logger, TextLinesAreKeyValue) {
  Logger log(LogFormat::kText, LogLevel::kInfo);
  const std::string line = log.format_line(LogLevel::kInfo, "started", {{"port", std::int64_t{1}}});
  EXPECT_NE(line.find(" info started port=1"), std::string::npos) << line;
}

TEST(Logger, LevelFiltersAndMovesAtRuntime) {
  Logger log(LogFormat::kJson, LogLevel::kWarn);
  EXPECT_FALSE(log.enabled(LogLevel::kInfo));
  EXPECT_TRUE(log.enabled(LogLevel::kError));
  log.set_level(LogLevel::kDebug);
  EXPECT_TRUE(log.enabled(LogLevel::kDebug));
}

}  // namespace
}  // namespace echod
