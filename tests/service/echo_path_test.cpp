// RFC 862 over real sockets: every byte in comes back out, in order, for every client.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

TEST(EchoPath, ManyConcurrentClientsGetTheirOwnRandomBytesBack) {
  EchodProcess echod({"--workers", "2"});
  constexpr int kClients = 64;
  constexpr int kRounds = 20;
  std::atomic<int> verified{0};
  std::vector<std::thread> clients;
  for (int id = 0; id < kClients; ++id) {
    clients.emplace_back([&, id] {
      Fd fd = connect_tcp(echod.echo_port());
      if (!fd) return;
      std::mt19937 sizes(static_cast<unsigned>(id));
      for (int round = 0; round < kRounds; ++round) {
        const std::string payload =
            random_bytes(1 + sizes() % 20000, static_cast<std::uint64_t>(id * 1000 + round));
        if (!send_all(fd.get(), payload)) return;
        if (recv_exact(fd.get(), payload.size()) != payload) return;
      }
      ++verified;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(verified.load(), kClients);
}

TEST(EchoPath, MultiMebibyteStreamComesBackByteForByte) {
  EchodProcess echod({"--workers", "1"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string payload = random_bytes(16 << 20, 42);
  // Write and read at once: an echo stream this size cannot fit in socket buffers.
  std::thread writer([&] { send_all(fd.get(), payload); });
  const std::string echoed = recv_exact(fd.get(), payload.size(), milliseconds(30'000));
  writer.join();
  ASSERT_EQ(echoed.size(), payload.size());
  EXPECT_TRUE(echoed == payload);
}

TEST(EchoPath, HalfCloseGetsEveryByteThenEof) {
  EchodProcess echod;
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string payload = random_bytes(1 << 20, 7);
  std::thread writer([&] {
    send_all(fd.get(), payload);
    ::shutdown(fd.get(), SHUT_WR);
  });
  const std::string echoed = recv_until_eof(fd.get(), milliseconds(10'000));
  writer.join();
  EXPECT_EQ(echoed.size(), payload.size());
  EXPECT_TRUE(echoed == payload);
}

TEST(EchoPath, EmptyConnectionClosesCleanly) {
  EchodProcess echod;
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  ::shutdown(fd.get(), SHUT_WR);
  EXPECT_TRUE(wait_for_eof(fd.get()));
}

TEST(EchoPath, ResetsDoNotHurtOtherClients) {
  EchodProcess echod({"--workers", "1"});
  Fd survivor = connect_tcp(echod.echo_port());
  ASSERT_TRUE(survivor);
  for (int i = 0; i < 200; ++i) {
    Fd fd = connect_tcp(echod.echo_port());
    ASSERT_TRUE(fd);
    send_all(fd.get(), random_bytes(100'000, static_cast<std::uint64_t>(i)));
    linger hard{1, 0};  // close() now sends RST, mid-stream
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }
  ASSERT_TRUE(send_all(survivor.get(), "still here"));
  EXPECT_EQ(recv_exact(survivor.get(), 10), "still here");
  EXPECT_FALSE(echod.wait_exit(milliseconds(0)).has_value());
}

TEST(EchoPath, ListensDualStackOnAllInterfaces) {
  EchodProcess echod({"--listen", ":0"});
  Fd v4 = connect_tcp(echod.echo_port(), "127.0.0.1");
  ASSERT_TRUE(v4);
  ASSERT_TRUE(send_all(v4.get(), "v4"));
  EXPECT_EQ(recv_exact(v4.get(), 2), "v4");
  Fd v6 = connect_tcp(echod.echo_port(), "::1");
  if (!v6) GTEST_SKIP() << "no IPv6 loopback on this machine";
  ASSERT_TRUE(send_all(v6.get(), "v6"));
  EXPECT_EQ(recv_exact(v6.get(), 2), "v6");
}

}  // namespace
}  // namespace echod::test
