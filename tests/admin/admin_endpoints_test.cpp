// Health, readiness, the landing page and the error answers of the admin port, against a
// real echod.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "admin_client.h"
#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

std::uint16_t port_of(const std::string& address) {
  return static_cast<std::uint16_t>(std::stoul(address.substr(address.rfind(':') + 1)));
}

TEST(AdminEndpoints, LivezAndHealthzAnswerOkWhileEveryLoopTurns) {
  EchodProcess echod({"--workers", "3"});
  for (const char* path : {"/livez", "/healthz"}) {
    const HttpReply r = http_get(echod.admin_port(), path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "ok\n") << path;
  }
  // Loops turn at least once a second even when idle: still live well after start.
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(http_get(echod.admin_port(), "/livez").status, 200);
}

TEST(AdminEndpoints, ReadyzIsOkOnceServing) {
  EchodProcess echod;
  const HttpReply r = http_get(echod.admin_port(), "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST(AdminEndpoints, ReadyzTurns503AtSigtermWhileEchoKeepsWorkingDuringShutdownDelay) {
  EchodProcess echod({"--shutdown-delay", "3s"});
  Fd open_before = connect_tcp(echod.echo_port());
  ASSERT_TRUE(open_before);
  ASSERT_EQ(http_get(echod.admin_port(), "/readyz").status, 200);

  echod.signal(SIGTERM);
  HttpReply ready;
  ASSERT_TRUE(wait_until(
      [&] {
        ready = http_get(echod.admin_port(), "/readyz");
        return ready.status == 503;
      },
      milliseconds(2000)));
  EXPECT_EQ(ready.body, "shutting down\n");
  // Liveness is not readiness: the process is healthy, only leaving.
  EXPECT_EQ(http_get(echod.admin_port(), "/livez").status, 200);
  EXPECT_EQ(metric(scrape(echod.admin_port()), "echod_shutting_down"), 1);

  // Both the connection opened before and one opened now still echo.
  const std::string a = random_bytes(4096, 1);
  ASSERT_TRUE(send_all(open_before.get(), a));
  EXPECT_EQ(recv_exact(open_before.get(), a.size()), a);
  Fd opened_after = connect_tcp(echod.echo_port());
  ASSERT_TRUE(opened_after);
  const std::string b = random_bytes(1000, 2);
  ASSERT_TRUE(send_all(opened_after.get(), b));
  EXPECT_EQ(recv_exact(opened_after.get(), b.size()), b);

  open_before.reset();
  opened_after.reset();
  EXPECT_EQ(echod.wait_exit(milliseconds(10'000)), 0) << echod.process().output();
}

TEST(AdminEndpoints, LandingPageNamesTheBoundAddressesAndEveryEndpoint) {
  EchodProcess echod;
  const HttpReply r = http_get(echod.admin_port(), "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json j = json::parse(r.body);
  EXPECT_EQ(j["name"], "echod");
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  EXPECT_EQ(port_of(j["echo_address"]), echod.echo_port());
  EXPECT_EQ(port_of(j["admin_address"]), echod.admin_port());
  std::vector<std::string> eps = j["endpoints"];
  for (const char* e : {"GET /livez", "GET /healthz", "GET /readyz", "GET /metrics", "GET /config",
                        "PUT /config", "GET /"}) {
    EXPECT_NE(std::find(eps.begin(), eps.end(), e), eps.end()) << e;
  }
}

// The chart passes the downward API in; the echoed bytes never carry it.
TEST(AdminEndpoints, InstanceIdentityComesFromTheEnvironmentOnly) {
  EchodProcess echod({}, {{"POD_NAME", "echod-7d9f-x2"},
                          {"POD_NAMESPACE", "echo"},
                          {"NODE_NAME", "node-3"}});
  const json j = json::parse(http_get(echod.admin_port(), "/").body);
  EXPECT_EQ(j["instance"], json({{"pod", "echod-7d9f-x2"}, {"namespace", "echo"}, {"node", "node-3"}}));
  const std::string m = scrape(echod.admin_port());
  EXPECT_EQ(metric(m, R"(echod_instance_info{pod="echod-7d9f-x2",namespace="echo",node="node-3"})"), 1);
}

TEST(AdminEndpoints, InstanceIdentityIsEmptyOutsideKubernetes) {
  EchodProcess echod;
  const json j = json::parse(http_get(echod.admin_port(), "/").body);
  EXPECT_EQ(j["instance"], json({{"pod", ""}, {"namespace", ""}, {"node", ""}}));
  EXPECT_EQ(metric(scrape(echod.admin_port()), R"(echod_instance_info{pod="",namespace="",node=""})"), 1);
}

TEST(AdminEndpoints, UnknownPathIs404WithAJsonError) {
  EchodProcess echod;
  for (const char* path : {"/nope", "/metrics/extra", "/livez/", "/../etc/passwd"}) {
    const HttpReply r = http_get(echod.admin_port(), path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.header("content-type"), "application/json") << path;
    EXPECT_TRUE(json::parse(r.body).contains("error")) << path;
  }
}

TEST(AdminEndpoints, WrongMethodIs405WithAllowAndAJsonError) {
  EchodProcess echod;
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c : {Case{"POST", "/livez", "GET"}, Case{"DELETE", "/config", "GET, PUT"},
                        Case{"PUT", "/metrics", "GET"}, Case{"PATCH", "/", "GET"}}) {
    const HttpReply r = http_request(echod.admin_port(), c.method, c.path, "{}");
    EXPECT_EQ(r.status, 405) << c.method << " " << c.path;
    EXPECT_EQ(r.header("allow"), c.allow) << c.method << " " << c.path;
    EXPECT_TRUE(json::parse(r.body).contains("error")) << r.body;
  }
}

TEST(AdminEndpoints, MalformedRequestsGetJsonErrorsFromTheFront) {
  EchodProcess echod;
  // Head too large: 431.
  HttpReply r =
      http_request(echod.admin_port(), "GET", "/livez", "", {{"X-Big", std::string(10'000, 'a')}});
  EXPECT_EQ(r.status, 431);
  // Body over the 64 KiB limit: 413, before the body is read.
  r = http_request(echod.admin_port(), "PUT", "/config", std::string(70'000, ' '));
  EXPECT_EQ(r.status, 413);
  // Chunked bodies are refused: 411.
  r = http_request(echod.admin_port(), "PUT", "/config", "", {{"Transfer-Encoding", "chunked"}});
  EXPECT_EQ(r.status, 411);
  // Garbage request line: 400.
  Fd fd = connect_tcp(echod.admin_port());
  ASSERT_TRUE(send_all(fd.get(), "HELLO\r\n\r\n"));
  EXPECT_EQ(parse_reply(recv_until_eof(fd.get())).status, 400);
  // Every one of them left the admin port answering.
  EXPECT_EQ(http_get(echod.admin_port(), "/livez").status, 200);
}

TEST(AdminEndpoints, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  EchodProcess echod;
  Fd fd = connect_tcp(echod.admin_port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_all(fd.get(),
                       "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string raw = recv_until_eof(fd.get());
  const auto first = raw.find("HTTP/1.1 200");
  const auto second = raw.find("HTTP/1.1 404");
  const auto third = raw.find("HTTP/1.1 200", first + 1);
  EXPECT_NE(first, std::string::npos) << raw;
  EXPECT_NE(second, std::string::npos) << raw;
  EXPECT_NE(third, std::string::npos) << raw;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

}  // namespace
}  // namespace echod::test
