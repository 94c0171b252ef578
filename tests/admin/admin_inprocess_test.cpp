// AdminServer in the test process over a real EchoServer whose loops the test controls:
// the states a running echod passes through too briefly (or never) to test from outside.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "admin_client.h"
#include "admin_server.h"
#include "config_store.h"
#include "echo_server.h"
#include "lifecycle.h"
#include "logger.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using std::chrono::milliseconds;

/// echod's parts wired as run_daemon() wires them, on loopback ephemeral ports, with the
/// echo loops bound but not started (so they never turn).
struct Parts {
  Config config;
  Logger logger{LogFormat::kJson, LogLevel::kError, 2};
  std::unique_ptr<ConfigStore> store;
  Lifecycle lifecycle;
  std::unique_ptr<EchoServer> echo;
  std::unique_ptr<AdminServer> admin;

  Parts() {
    config.listen = {"127.0.0.1", 0};
    config.admin_listen = {"127.0.0.1", 0};
    config.workers = 2;
    store = std::make_unique<ConfigStore>(config);
    echo = std::make_unique<EchoServer>(config, *store, logger);
    if (auto err = echo->bind()) throw std::runtime_error(*err);
    admin = std::make_unique<AdminServer>(*store, *echo, lifecycle, logger);
    if (auto err = admin->bind(config.admin_listen)) throw std::runtime_error(*err);
    admin->start();
  }
  ~Parts() { admin->stop(); }
};

TEST(AdminInProcess, ReadyzFollowsTheLifecycleWithItsReason) {
  Parts p;
  HttpReply r = http_get(p.admin->port(), "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "listeners not bound yet\n");
  p.lifecycle.mark_listeners_bound();
  EXPECT_EQ(http_get(p.admin->port(), "/readyz").status, 200);
  p.lifecycle.begin_shutdown();
  r = http_get(p.admin->port(), "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "shutting down\n");
}

TEST(AdminInProcess, LivezTurns503NamingTheLoopThatStoppedTurning) {
  Parts p;  // the echo loops never run: their last heartbeat is their construction
  EXPECT_EQ(http_get(p.admin->port(), "/livez").status, 200);
  HttpReply r;
  ASSERT_TRUE(wait_until(
      [&] {
        r = http_get(p.admin->port(), "/healthz");
        return r.status == 503;
      },
      milliseconds(8000), milliseconds(100)));
  EXPECT_NE(r.body.find("worker 0"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("has not turned for"), std::string::npos) << r.body;
  EXPECT_EQ(http_get(p.admin->port(), "/livez").status, 503);
}

TEST(AdminInProcess, BoundAddressAndPortAgreeAndStopClosesThePort) {
  Parts p;
  const std::string addr = p.admin->bound_address();
  EXPECT_EQ(addr, "127.0.0.1:" + std::to_string(p.admin->port()));
  const nlohmann::json landing = nlohmann::json::parse(http_get(p.admin->port(), "/").body);
  EXPECT_EQ(landing["admin_address"], addr);
  EXPECT_EQ(landing["echo_address"], p.echo->bound_address());
  const std::uint16_t port = p.admin->port();
  p.admin->stop();
  p.admin->stop();  // idempotent
  EXPECT_FALSE(connect_tcp(port));
}

TEST(AdminInProcess, BindingABusyPortIsAnErrorText) {
  Parts p;
  AdminServer second(*p.store, *p.echo, p.lifecycle, p.logger);
  const auto err = second.bind({"127.0.0.1", p.admin->port()});
  ASSERT_TRUE(err.has_value());
  EXPECT_FALSE(err->empty());
}

}  // namespace
}  // namespace echod::test
