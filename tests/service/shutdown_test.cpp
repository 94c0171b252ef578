// SIGTERM/SIGINT: readiness off -> shutdown-delay -> listeners closed -> drain -> exit 0,
// with no byte echod read left unechoed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

auto line_with(const std::string& text) {
  return [text](const std::string& l) { return l.find(text) != std::string::npos; };
}

TEST(Shutdown, SigtermDrainsOpenConnectionsWithoutLosingBytes) {
  EchodProcess echod({"--drain-timeout", "10s", "--workers", "2"});
  constexpr int kClients = 8;
  std::vector<Fd> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(connect_tcp(echod.echo_port()));
  // Every client has bytes in flight when the signal lands, and keeps sending after it.
  std::vector<std::string> payloads;
  for (int i = 0; i < kClients; ++i) {
    payloads.push_back(random_bytes(2 << 20, static_cast<std::uint64_t>(100 + i)));
  }
  std::atomic<int> intact{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      const int fd = clients[i].get();
      std::thread writer([&] {
        send_all(fd, payloads[i]);
        ::shutdown(fd, SHUT_WR);
      });
      const std::string echoed = recv_until_eof(fd, milliseconds(20'000));
      writer.join();
      if (echoed == payloads[i]) ++intact;
    });
  }
  echod.signal(SIGTERM);
  ASSERT_TRUE(echod.process().wait_for_line(line_with("listeners closed"), milliseconds(5000)));
  Fd late = connect_tcp(echod.echo_port());
  EXPECT_FALSE(late) << "the listener still accepts after the drain began";
  for (auto& t : threads) t.join();
  EXPECT_EQ(intact.load(), kClients);
  EXPECT_EQ(echod.wait_exit(milliseconds(10'000)), 0) << echod.process().output();
}

TEST(Shutdown, KeepsAcceptingDuringShutdownDelay) {
  EchodProcess echod({"--shutdown-delay", "2s", "--drain-timeout", "5s"});
  echod.signal(SIGTERM);
  ASSERT_TRUE(echod.process().wait_for_line(line_with("readiness off"), milliseconds(5000)));
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd) << "new connections must still be served during shutdown-delay";
  ASSERT_TRUE(send_all(fd.get(), "still serving"));
  EXPECT_EQ(recv_exact(fd.get(), 13), "still serving");
  ::shutdown(fd.get(), SHUT_WR);
  EXPECT_TRUE(wait_for_eof(fd.get()));
  EXPECT_EQ(echod.wait_exit(milliseconds(10'000)), 0);
}

TEST(Shutdown, DrainTimeoutClosesStragglersAndExitsZero) {
  EchodProcess echod({"--drain-timeout", "300ms"});
  Fd idle = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(idle.get(), "hi"));
  ASSERT_EQ(recv_exact(idle.get(), 2), "hi");
  echod.signal(SIGTERM);
  EXPECT_TRUE(wait_for_eof(idle.get(), milliseconds(5000)));
  EXPECT_EQ(echod.wait_exit(milliseconds(5000)), 0);
  EXPECT_TRUE(echod.process().wait_for_line(line_with("drain timeout"), milliseconds(1000)));
}

TEST(Shutdown, SigintBehavesLikeSigterm) {
  EchodProcess echod;
  echod.signal(SIGINT);
  EXPECT_EQ(echod.wait_exit(milliseconds(5000)), 0);
}

TEST(Shutdown, SecondSignalExitsAtOnce) {
  EchodProcess echod({"--drain-timeout", "60s"});
  Fd open = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(open.get(), "x"));
  ASSERT_EQ(recv_exact(open.get(), 1), "x");
  echod.signal(SIGTERM);
  ASSERT_TRUE(echod.process().wait_for_line(line_with("draining"), milliseconds(5000)));
  echod.signal(SIGTERM);
  const auto code = echod.wait_exit(milliseconds(3000));
  ASSERT_TRUE(code.has_value()) << "echod waited for the drain despite a second signal";
  EXPECT_EQ(*code, 1);
}

}  // namespace
}  // namespace echod::test
